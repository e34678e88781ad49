/**
 * The export passes (S1.5): export syntax is removed and each export
 * becomes an entry of the object the body returns — a plain property for a
 * binding that cannot change (`const`, function, class), a getter for one
 * that can (`let`, `var`, re-exports read through a handle).
 *
 * `exportsPass` runs before the body pass; `export { a as b }` without `from`
 * needs the module's top-level declarations, so `localExportsPass` runs after.
 */
import { type AnyNode, patternNames } from '../scope.js';
import { handleVar, nameOf, propKey, type RewriteContext } from './context.js';
import { classifySpecifier } from './specifier.js';

export function exportsPass(cx: RewriteContext): void {
  for (const stmt of cx.program.body as AnyNode[]) {
    if (stmt.type === 'ExportNamedDeclaration') {
      if (stmt.declaration) exportDeclaration(cx, stmt);
      else if (stmt.source) reexport(cx, stmt);
      else {
        cx.ms.remove(stmt.start, stmt.end);
        for (const sp of stmt.specifiers as AnyNode[])
          cx.localExports.push({
            local: nameOf(sp.local as AnyNode),
            exported: nameOf(sp.exported as AnyNode),
            pos: sp.start,
          });
      }
    } else if (stmt.type === 'ExportDefaultDeclaration') exportDefault(cx, stmt);
    else if (stmt.type === 'ExportAllDeclaration') exportAll(cx, stmt);
  }
}

/** `export function f`, `export class C`, `export const a = …`. */
function exportDeclaration(cx: RewriteContext, stmt: AnyNode): void {
  const decl = stmt.declaration as AnyNode;
  cx.ms.remove(stmt.start, decl.start);
  if (decl.type !== 'VariableDeclaration') {
    const name = (decl.id as AnyNode).name as string;
    cx.addExport(name, `${propKey(name)}: ${name}`);
    return;
  }
  for (const d of decl.declarations as AnyNode[]) {
    for (const id of patternNames(d.id as AnyNode)) {
      const name = id.name as string;
      cx.addExport(
        name,
        decl.kind === 'const'
          ? `${propKey(name)}: ${name}`
          : `get ${propKey(name)}() { return ${name}; }`,
      );
      if (name === 'vsn' && decl.kind === 'const') noteVsn(cx, d.init as AnyNode | null);
    }
  }
}

/** `export { a as b } from './m'` (through m's handle), `from 'hotcode'` or a package. */
function reexport(cx: RewriteContext, stmt: AnyNode): void {
  const source = stmt.source as AnyNode;
  const spec = source.value as string;
  const cls = classifySpecifier(spec);
  cx.ms.remove(stmt.start, stmt.end);
  if (cls.kind === 'invalid') {
    cx.problem(source.start, cls.message);
    return;
  }
  let from: string;
  if (cls.kind === 'module') {
    cx.useModule(cls.name);
    from = handleVar(cls.name);
  } else from = cx.packageSource(spec, cls.kind, 'namespace');
  for (const sp of stmt.specifiers as AnyNode[]) {
    const local = nameOf(sp.local as AnyNode);
    const exported = nameOf(sp.exported as AnyNode);
    cx.addExport(
      exported,
      `get ${propKey(exported)}() { return ${from}[${JSON.stringify(local)}]; }`,
    );
  }
}

function exportDefault(cx: RewriteContext, stmt: AnyNode): void {
  const decl = stmt.declaration as AnyNode;
  const named =
    (decl.type === 'FunctionDeclaration' || decl.type === 'ClassDeclaration') && decl.id
      ? ((decl.id as AnyNode).name as string)
      : undefined;
  if (named) {
    cx.ms.remove(stmt.start, decl.start);
    cx.addExport('default', `default: ${named}`);
  } else {
    cx.ms.update(stmt.start, decl.start, 'const __hc_default = ');
    if (!/[;}]\s*$/.test(cx.js.slice(stmt.start, stmt.end))) cx.ms.appendLeft(stmt.end, ';');
    cx.addExport('default', 'default: __hc_default');
  }
}

/** `export * as x from …`; `export * from 'pkg'`. Between modules, only the named form. */
function exportAll(cx: RewriteContext, stmt: AnyNode): void {
  const source = stmt.source as AnyNode;
  const spec = source.value as string;
  const cls = classifySpecifier(spec);
  cx.ms.remove(stmt.start, stmt.end);
  const exported = stmt.exported ? nameOf(stmt.exported as AnyNode) : undefined;
  if (cls.kind === 'invalid') {
    cx.problem(source.start, cls.message);
  } else if (cls.kind === 'module') {
    cx.useModule(cls.name);
    if (exported) cx.addExport(exported, `${propKey(exported)}: ${handleVar(cls.name)}`);
    else
      cx.problem(
        stmt.start,
        `'export * from '${spec}'' is not supported between hotcode modules (their exports change with each version); list the names: export { a, b } from '${spec}'`,
      );
  } else {
    const v = cx.packageSource(spec, cls.kind, 'namespace');
    if (exported) cx.addExport(exported, `${propKey(exported)}: ${v}`);
    else cx.exportEntries.push(`...__hc.star(${v})`);
  }
}

/** `export { a as b }` of the module's own bindings, or of an imported one (through its handle). */
export function localExportsPass(cx: RewriteContext): void {
  for (const e of cx.localExports) {
    const decl = cx.topNames.get(e.local);
    const b = cx.bindingOf(decl);
    if (b) {
      const acc =
        b.imported === null
          ? handleVar(b.module)
          : `${handleVar(b.module)}[${JSON.stringify(b.imported)}]`;
      cx.useModule(b.module);
      cx.addExport(e.exported, `get ${propKey(e.exported)}() { return ${acc}; }`);
    } else if (!decl) {
      cx.problem(e.pos, `'${e.local}' is exported but not declared in this module`);
    } else if (
      decl.kind === 'const' ||
      decl.kind === 'function' ||
      decl.kind === 'class' ||
      decl.kind === 'import'
    ) {
      cx.addExport(e.exported, `${propKey(e.exported)}: ${e.local}`);
      if (e.exported === 'vsn' && decl.kind === 'const')
        noteVsn(cx, decl.node.init as AnyNode | null);
    } else {
      cx.addExport(e.exported, `get ${propKey(e.exported)}() { return ${e.local}; }`);
    }
  }
}

/** `vsn` from a string or number literal (S1.2). */
function noteVsn(cx: RewriteContext, init: AnyNode | null): void {
  if (
    init?.type === 'Literal' &&
    (typeof init.value === 'string' || typeof init.value === 'number')
  )
    cx.vsn = String(init.value);
}
