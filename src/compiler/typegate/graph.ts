/**
 * Which modules import which: enough to find the files a change can break
 * (the changed modules, their importers, and the importers of any module that
 * re-exports what changed).
 */
import ts from 'typescript';

const IDENTIFIER = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u;

/** Whether `name` can be a module name (SPEC S1.4: a JavaScript identifier). */
export function isModuleName(name: string): boolean {
  return IDENTIFIER.test(name);
}

/**
 * The module a relative specifier names — `'./name'`, `'./name.js'` or
 * `'./name.ts'` — or `undefined` for any other specifier.
 */
export function flatModuleName(specifier: string): string | undefined {
  const m = /^\.\/([^/\\]+?)(\.js|\.ts)?$/.exec(specifier);
  return m && isModuleName(m[1]!) ? m[1] : undefined;
}

/** One module's imports of other modules: module name → whether it re-exports from it. */
export type ModuleDeps = Map<string, boolean>;

/**
 * Reads a module's imports of other modules from its syntax tree. A module
 * re-exports from `x` when it has `export … from './x'`, `export import a =
 * require('./x')`, or exports (`export { a }`, `export default a`, `export =
 * a`) a name it imported from `x`. Dynamic `import('./x')` and type-level
 * `import('./x').T` count as imports.
 */
export function moduleDeps(sf: ts.SourceFile): ModuleDeps {
  const deps: ModuleDeps = new Map();
  const add = (spec: string, reexport: boolean): string | undefined => {
    const name = flatModuleName(spec);
    if (name !== undefined) deps.set(name, (deps.get(name) ?? false) || reexport);
    return name;
  };
  /** Local name → module it was imported from. */
  const imported = new Map<string, string>();
  const exportedLocals: string[] = [];

  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const name = add(st.moduleSpecifier.text, false);
      const clause = st.importClause;
      if (name === undefined || !clause) continue;
      if (clause.name) imported.set(clause.name.text, name);
      const nb = clause.namedBindings;
      if (nb && ts.isNamespaceImport(nb)) imported.set(nb.name.text, name);
      if (nb && ts.isNamedImports(nb))
        for (const el of nb.elements) imported.set(el.name.text, name);
    } else if (ts.isExportDeclaration(st)) {
      if (st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
        add(st.moduleSpecifier.text, true);
      } else if (st.exportClause && ts.isNamedExports(st.exportClause)) {
        for (const el of st.exportClause.elements) {
          exportedLocals.push((el.propertyName ?? el.name).text);
        }
      }
    } else if (
      ts.isImportEqualsDeclaration(st) &&
      ts.isExternalModuleReference(st.moduleReference) &&
      ts.isStringLiteral(st.moduleReference.expression)
    ) {
      const exported = st.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ?? false;
      const name = add(st.moduleReference.expression.text, exported);
      if (name !== undefined) imported.set(st.name.text, name);
    } else if (ts.isExportAssignment(st) && ts.isIdentifier(st.expression)) {
      exportedLocals.push(st.expression.text);
    }
  }
  for (const local of exportedLocals) {
    const name = imported.get(local);
    if (name !== undefined) deps.set(name, true);
  }
  if (sf.text.includes('import(')) {
    const visit = (node: ts.Node): void => {
      if (
        ts.isImportTypeNode(node) &&
        ts.isLiteralTypeNode(node.argument) &&
        ts.isStringLiteral(node.argument.literal)
      ) {
        add(node.argument.literal.text, false);
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] &&
        ts.isStringLiteralLike(node.arguments[0])
      ) {
        add(node.arguments[0].text, false);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return deps;
}

/**
 * The modules to check when `changed` change: the changed modules, every
 * module that imports one of them, and — through re-export chains — every
 * module that imports a module re-exporting from one of them.
 */
export function modulesToCheck(
  changed: Iterable<string>,
  depsOf: ReadonlyMap<string, ModuleDeps>,
): Set<string> {
  /** module → [importer, re-exports?] */
  const importers = new Map<string, [string, boolean][]>();
  for (const [importer, deps] of depsOf) {
    for (const [dep, reexport] of deps) {
      let list = importers.get(dep);
      if (!list) importers.set(dep, (list = []));
      list.push([importer, reexport]);
    }
  }
  const checked = new Set(changed);
  /** Modules whose exports may have changed: their importers are checked. */
  const queue = [...checked];
  const expanded = new Set(queue);
  while (queue.length > 0) {
    const m = queue.pop()!;
    for (const [importer, reexport] of importers.get(m) ?? []) {
      checked.add(importer);
      if (reexport && !expanded.has(importer)) {
        expanded.add(importer);
        queue.push(importer);
      }
    }
  }
  return checked;
}
