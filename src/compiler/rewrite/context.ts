/**
 * The one context the passes of rewrite() share: the text being edited, what
 * the object file will declare before the body (`head`) and return after it
 * (the exports object), and what the passes learn about the module's
 * bindings. Each field says which pass sets it and which pass reads it.
 */
import MagicString from 'magic-string';
import { isIdentifierName } from '../../vocabulary.js';
import type { AnyNode, Declaration } from '../scope.js';

export interface RewriteProblem {
  /** Offset in the rewritten (esbuild output) text. */
  pos: number;
  message: string;
}

/** How an import specifier is understood (S1.4). */
export type Specifier =
  | { kind: 'api' }
  | { kind: 'module'; name: string }
  | { kind: 'package' }
  | { kind: 'invalid'; message: string };

/** A local binding imported from a sibling module: `imported` is null for `import * as m`. */
export interface ModuleBinding {
  module: string;
  imported: string | null;
}

/** `export { local as exported }` without `from`: resolved after the body pass knows the top-level names. */
export interface LocalExport {
  local: string;
  exported: string;
  pos: number;
}

export class RewriteContext {
  readonly ms: MagicString;
  /** Statements placed before the body, in order: package requires, marks, then handles. */
  readonly head: string[] = ['"use strict";'];
  readonly problems: RewriteProblem[] = [];
  /** Sibling modules the body references (imports, re-exports, tail calls), in first-use order. */
  readonly usedModules = new Set<string>();
  /** Import specifier node → the sibling-module binding it declares (set by the imports pass). */
  readonly moduleBindings = new Map<AnyNode, ModuleBinding>();
  /** Entries of the exports object the body returns, in order. */
  readonly exportEntries: string[] = [];
  /** Export names, in first-seen order (the header's export list). */
  readonly exportNames = new Set<string>();
  /** From `export const vsn = <literal>` (S1.2). */
  vsn: string | undefined;
  /** Set by the exports pass, read by the local-exports pass. */
  readonly localExports: LocalExport[] = [];
  /** The module's top-level declarations (set by the body pass). */
  topNames = new Map<string, Declaration>();
  /** Functions with tail calls that the driver may call (set by the body pass, read by marking). */
  readonly tailCapable: AnyNode[] = [];
  /** The block each function declaration is hoisted in (set by the body pass, read by marking). */
  readonly blockOf = new Map<AnyNode, AnyNode>();
  #packages = 0;

  constructor(
    readonly js: string,
    readonly moduleName: string,
    readonly program: AnyNode,
  ) {
    this.ms = new MagicString(js);
  }

  problem(pos: number, message: string): void {
    this.problems.push({ pos, message });
  }

  /** The body references sibling module `m`: its handle and cell are declared in the head. */
  useModule(m: string): void {
    this.usedModules.add(m);
  }

  addExport(name: string, entry: string): void {
    this.exportNames.add(name);
    this.exportEntries.push(entry);
  }

  /**
   * The expression for the module object behind a package or `hotcode`
   * specifier — the one place a package import is lowered: Node's own
   * `require` from the source's directory, once per declaration.
   * `'namespace'` gives the package as an ES namespace (`__hc.ns`), as a
   * re-export reads it; `'raw'` gives what `require` returned, which an
   * import declaration then reads per specifier.
   */
  packageSource(spec: string, kind: 'api' | 'package', form: 'raw' | 'namespace'): string {
    if (kind === 'api') return '__hc.api';
    const v = `__hcP${this.#packages++}`;
    const req = `__hcV.req(${JSON.stringify(spec)})`;
    this.head.push(`const ${v} = ${form === 'raw' ? req : `__hc.ns(${req})`};`);
    return v;
  }

  /** The sibling-module binding a resolved identifier refers to, if any. */
  bindingOf(decl: Declaration | undefined): ModuleBinding | undefined {
    return decl && decl.kind === 'import' && decl.topLevel
      ? this.moduleBindings.get(decl.node)
      : undefined;
  }
}

/** The handle of sibling module `m` (S3.4: reads give stable trampolines). */
export const handleVar = (m: string): string => `__hcH_${m}`;
/** The cell of sibling module `m`: `.v` is its current version's exports (S3.1). */
export const cellVar = (m: string): string => `__hcC_${m}`;

/**
 * A property key for an export name in an object literal. `__proto__` is
 * computed: as a plain key it would set the object's prototype, not define
 * an export (S6.8).
 */
export const propKey = (name: string): string =>
  name === '__proto__' ? '["__proto__"]' : isIdentifierName(name) ? name : JSON.stringify(name);

/** Names that start with this are reserved for the code the compiler generates. */
export const RESERVED_PREFIX = '__hc';

/** `obj.name` when name is an identifier, else `obj["name"]`. */
export const member = (obj: string, name: string): string =>
  isIdentifierName(name) ? `${obj}.${name}` : `${obj}[${JSON.stringify(name)}]`;

/** The name of an Identifier or a string Literal (`export { x as "a-b" }`). */
export function nameOf(n: AnyNode): string {
  return n.type === 'Identifier' ? (n.name as string) : String(n.value);
}
