import { siblingModuleOf } from '../../vocabulary.js';
import type { Specifier } from './context.js';

/**
 * How an import specifier is understood (S1.4): `hotcode` is the node's
 * API; `./name` (any source extension) a sibling module; any other relative
 * or absolute path an error; anything else a package.
 */
export function classifySpecifier(spec: string): Specifier {
  if (spec === 'hotcode') return { kind: 'api' };
  if (spec.startsWith('.') || spec.startsWith('/') || /^[A-Za-z]:[\\/]/.test(spec)) {
    const name = siblingModuleOf(spec);
    if (name !== undefined) return { kind: 'module', name };
    return {
      kind: 'invalid',
      message:
        `'${spec}' is not a hotcode module: modules are files directly in a source directory, ` +
        `imported as './name' where name is an identifier. Move the file into a source directory ` +
        `(and rename it to an identifier), or publish it as a package and import it by package name.`,
    };
  }
  return { kind: 'package' };
}
