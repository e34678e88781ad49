/**
 * The linkage between compiled modules and the runtime: the two parameters of
 * every object file's body (see compiler/rewrite.ts for the code that uses
 * them).
 *
 * - `__hc`, one object for the whole node: handles and cells by name, the
 *   node's API, the tail-call driver, the kill check;
 * - `__hcV`, one per loaded version: its frame counter, `require` from the
 *   source's directory, `import.meta`, and the miss proxy for its exports.
 *
 * Tail calls (S3.3; docs/architecture.md): a compiled async
 * function with tail calls starts with `const __hc_dr = __hc.d; __hc.d =
 * false`. The driver sets `d` just before it calls a function marked
 * tail-capable, so only a function the driver called returns TailCall values
 * to it; any other caller gets a function that drives its own tail calls, so
 * tail-call values never reach plain code, `Promise.all`, `.then` or callbacks.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FrameCounter, VersionToken } from '../process/frames.js';
import type { ProcessTable } from '../process/table.js';
import type { Cell } from './handles.js';

const TAIL_CAPABLE = Symbol('hotcode.tailCapable');

class TailCall {
  constructor(
    readonly fn: (...args: unknown[]) => unknown,
    readonly self: unknown,
    readonly args: unknown[],
  ) {}
}

type Fn = ((...args: unknown[]) => unknown) & { [TAIL_CAPABLE]?: true };

export interface Runtime {
  /** Set by the driver just before calling a tail-capable function; read and cleared on entry. */
  d: boolean;
  api: unknown;
  handle(name: string): unknown;
  cell(name: string): Cell;
  mark<F>(fn: F): F;
  /** `return g(…)` of a local function. */
  tl(driven: boolean, fn: Fn, args: unknown[]): unknown;
  /** `return m.f(…)` through a module: the current version's function, now. */
  tq(driven: boolean, cell: Cell, name: string, args: unknown[]): unknown;
  /**
   * Awaited when an await resumes in a killed process (S4.4): a fresh
   * promise that never settles, so the continuation is dropped and the
   * frame garbage-collected (never a shared one, whose reactions would pile up).
   */
  k(): Promise<never>;
  /** Default import of a package (`import x from 'pkg'`). */
  def(mod: unknown): unknown;
  /** Namespace import of a package. */
  ns(mod: unknown): unknown;
  /** `export * from 'pkg'`. */
  star(mod: unknown): Record<string, unknown>;
}

export function createRuntime(
  api: unknown,
  handleOf: (name: string) => unknown,
  cellOf: (name: string) => Cell,
): Runtime {
  const rt: Runtime = {
    d: false,
    api,
    handle: handleOf,
    cell: cellOf,
    mark(fn) {
      (fn as Fn)[TAIL_CAPABLE] = true;
      return fn;
    },
    tl(driven, fn, args) {
      return driven ? new TailCall(fn, undefined, args) : drive(fn, undefined, args);
    },
    tq(driven, cell, name, args) {
      const ex = cell.v;
      const fn = ex[name] as Fn; // a miss autoloads or throws undef (handles.ts)
      if (typeof fn !== 'function') throw new TypeError(`${name} is not a function`);
      return driven ? new TailCall(fn, ex, args) : drive(fn, ex, args);
    },
    k() {
      return new Promise<never>(neverSettle);
    },
    def(mod) {
      return isNamespace(mod) ? (mod as { default?: unknown }).default : mod;
    },
    ns(mod) {
      if (isNamespace(mod)) return mod;
      if ((typeof mod === 'object' && mod !== null) || typeof mod === 'function')
        return { ...(mod as object), default: mod };
      return { default: mod };
    },
    star(mod) {
      const ns = rt.ns(mod) as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      // defineProperty, not assignment: an export named __proto__ must stay an own property
      for (const k of Object.keys(ns))
        if (k !== 'default')
          Object.defineProperty(out, k, { value: ns[k], enumerable: true, writable: true });
      return out;
    },
  };

  /** Runs a chain of tail calls in constant memory: each step's promise is awaited and dropped. */
  async function drive(fn: Fn, self: unknown, args: unknown[]): Promise<unknown> {
    for (;;) {
      let r: unknown;
      if (fn[TAIL_CAPABLE] === true) {
        rt.d = true;
        r = fn.apply(self, args);
        rt.d = false;
      } else r = fn.apply(self, args);
      r = await r;
      if (!(r instanceof TailCall)) return r;
      fn = r.fn;
      self = r.self;
      args = r.args;
    }
  }
  return rt;
}

function neverSettle(): void {}

function isNamespace(x: unknown): boolean {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as Record<symbol, unknown>)[Symbol.toStringTag] === 'Module'
  );
}

export interface VersionLinkage {
  c(): FrameCounter;
  req(spec: string): unknown;
  meta: { url: string; filename: string; dirname: string; resolve(spec: string): string };
  imp(spec: string): Promise<unknown>;
  proto: object;
}

export function createVersionLinkage(
  table: ProcessTable,
  token: VersionToken,
  sourceFile: string,
  proto: object,
): VersionLinkage {
  let req: NodeJS.Require | undefined;
  const requireFrom = () => (req ??= createRequire(sourceFile));
  const url = pathToFileURL(sourceFile).href;
  return {
    c: () => table.counterFor(token),
    req: (spec) => requireFrom()(spec),
    meta: {
      url,
      filename: sourceFile,
      dirname: dirname(sourceFile),
      resolve: (spec) => pathToFileURL(requireFrom().resolve(spec)).href,
    },
    imp: async (spec) => {
      let target = spec;
      try {
        target = pathToFileURL(requireFrom().resolve(spec)).href;
      } catch {
        // ESM-only exports maps: let import() resolve it
      }
      return import(target);
    },
    proto,
  };
}
