/**
 * The imports pass (S1.4): every import declaration is removed. A
 * sibling module's bindings are recorded, so the body pass can turn each use
 * into a qualified reference; `hotcode` and packages become constants in the
 * head.
 */
import type { AnyNode } from '../scope.js';
import { nameOf, type RewriteContext } from './context.js';
import { classifySpecifier } from './specifier.js';

export function importsPass(cx: RewriteContext): void {
  for (const stmt of cx.program.body as AnyNode[]) {
    if (stmt.type !== 'ImportDeclaration') continue;
    const source = stmt.source as AnyNode;
    const spec = source.value as string;
    const cls = classifySpecifier(spec);
    const specifiers = stmt.specifiers as AnyNode[];
    cx.ms.remove(stmt.start, stmt.end);
    if (cls.kind === 'invalid') {
      cx.problem(source.start, cls.message);
      continue;
    }
    if (cls.kind === 'module') {
      cx.useModule(cls.name);
      for (const sp of specifiers) {
        const imported =
          sp.type === 'ImportNamespaceSpecifier'
            ? null
            : sp.type === 'ImportDefaultSpecifier'
              ? 'default'
              : nameOf(sp.imported as AnyNode);
        cx.moduleBindings.set(sp, { module: cls.name, imported });
      }
      continue;
    }
    const from = cx.packageSource(spec, cls.kind, 'raw');
    // The node's API is already a namespace; a package may be CommonJS.
    const api = cls.kind === 'api';
    for (const sp of specifiers) {
      const local = (sp.local as AnyNode).name as string;
      if (sp.type === 'ImportNamespaceSpecifier')
        cx.head.push(`const ${local} = ${api ? from : `__hc.ns(${from})`};`);
      else if (sp.type === 'ImportDefaultSpecifier')
        cx.head.push(`const ${local} = ${api ? from : `__hc.def(${from})`};`);
      else
        cx.head.push(
          `const ${local} = ${from}[${JSON.stringify(nameOf(sp.imported as AnyNode))}];`,
        );
    }
  }
}
