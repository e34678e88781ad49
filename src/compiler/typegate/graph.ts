/**
 * Which modules import which: enough to find the files a change can break
 * (the changed modules, their importers, and the importers of any module that
 * re-exports what changed).
 */
import ts from 'typescript';
import { siblingModuleOf } from '../../vocabulary.js';

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
    const name = siblingModuleOf(spec);
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

/** module → the modules that import it, each with whether it re-exports from it. */
function importersOf(depsOf: ReadonlyMap<string, ModuleDeps>): Map<string, [string, boolean][]> {
  const importers = new Map<string, [string, boolean][]>();
  for (const [importer, deps] of depsOf) {
    for (const [dep, reexport] of deps) {
      let list = importers.get(dep);
      if (!list) importers.set(dep, (list = []));
      list.push([importer, reexport]);
    }
  }
  return importers;
}

/** What a change can break: see {@link affectedBy}. */
export interface Affected {
  /** The modules to check: the changed ones and every importer of an exporter below. */
  check: Set<string>;
  /**
   * The modules whose exports may differ after the change: the changed ones
   * and, through re-export chains, every module re-exporting from one of them.
   * Code that imports one of these can break.
   */
  exporters: Set<string>;
}

/**
 * The modules to check when `changed` change: the changed modules, every
 * module that imports one of them, and — through re-export chains — every
 * module that imports a module re-exporting from one of them.
 */
export function affectedBy(
  changed: Iterable<string>,
  depsOf: ReadonlyMap<string, ModuleDeps>,
): Affected {
  const importers = importersOf(depsOf);
  const check = new Set(changed);
  const queue = [...check];
  const exporters = new Set(queue);
  while (queue.length > 0) {
    const m = queue.pop()!;
    for (const [importer, reexport] of importers.get(m) ?? []) {
      check.add(importer);
      if (reexport && !exporters.has(importer)) {
        exporters.add(importer);
        queue.push(importer);
      }
    }
  }
  return { check, exporters };
}
