/**
 * acorn, with its scope bookkeeping made linear (S6.8: compile time
 * grows linearly with the size of a module).
 *
 * acorn keeps the names declared in each scope in arrays and looks each new
 * declaration up with `indexOf` (redeclaration checks; `checkLocalExport`
 * for every `export { a }`), so a scope with n declarations costs O(n²): a
 * 48,751-export module (esbuild turns `export function f` into `function f`
 * plus one `export { … }` list) spent 37.7 s there. Here each scope's name
 * lists are replaced by lists that answer `indexOf` from a Set once they
 * grow past a few names. acorn's own checks and messages are unchanged; only
 * the lookup is faster. The lists are acorn internals (`Scope#var`,
 * `#lexical`, `#functions`: push, indexOf and `[0]` are all acorn does with
 * them), so acorn is pinned in package.json.
 */
import { type Options, Parser } from 'acorn';
import type { AnyNode } from './scope.js';

/** A scope's name list: an array until it grows, then also a Set for `indexOf`. */
class NameList {
  readonly list: string[] = [];
  set: Set<string> | undefined;

  get 0(): string | undefined {
    return this.list[0];
  }

  push(name: string): number {
    this.set?.add(name);
    return this.list.push(name);
  }

  indexOf(name: string): number {
    if (this.set === undefined) {
      if (this.list.length < 16) return this.list.indexOf(name);
      this.set = new Set(this.list);
    }
    return this.set.has(name) ? 0 : -1;
  }
}

interface AcornScope {
  var: unknown;
  lexical: unknown;
  functions: unknown;
}

const LinearParser = Parser.extend(
  (Base) =>
    class extends (Base as unknown as new (
      ...args: unknown[]
    ) => { scopeStack: AcornScope[]; enterScope(flags: number): void }) {
      override enterScope(flags: number): void {
        super.enterScope(flags);
        const scope = this.scopeStack[this.scopeStack.length - 1]!;
        scope.var = new NameList();
        scope.lexical = new NameList();
        scope.functions = new NameList();
      }
    } as unknown as typeof Parser,
);

/** Parses a module as acorn would, in time linear in its size. */
export function parseModule(js: string, options: Options): AnyNode {
  return LinearParser.parse(js, options) as unknown as AnyNode;
}
