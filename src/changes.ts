/**
 * The asynchronous code changes of the public API — `c`, `lm`, `upgrade`
 * (and, through them, watch mode) — and `compile.file`. Each change waits
 * its turn in the code server's queue (S6.7): it starts when the change
 * before it has settled, reads its sources then, type-checks them against
 * what the changes before it left loaded, re-checks if a synchronous change
 * moved a module meanwhile, and loads without yielding between the last
 * check and the load. A change cut short by `stop` settles with
 * `{ error: 'stopped' }` and loads nothing (S0.1).
 *
 * This file sits above the compiler and the code server (it uses both);
 * the code server itself knows nothing of compiling.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type ChangeContext, explain, STOPPED, type Stopped } from './code/server.js';
import { compileModules, type GateVerdict } from './compiler/index.js';
import { badarg } from './errors.js';
import { currentNode, type NodeState, server, typeGate } from './node.js';
import type { Pid } from './process/pid.js';
import type {
  CManyResult,
  CompileFailed,
  CompileOptions,
  CResult,
  LoadResult,
  ModuleArg,
  ModuleLoadError,
  NoSource,
} from './types.js';
import { isModuleName, moduleOfSourceFile } from './vocabulary.js';

type SourceText = { module: string; file: string; text: string };

/** How many times a queued change re-runs its type check while synchronous changes keep moving modules. */
const MAX_RECHECKS = 5;

/**
 * A module argument of `c`: a name, a handle, or (S7.6) the path of a source
 * file, with its extension, directly in a source directory
 * (`c('src/room.ts')`). Any other path is refused with `badarg`, touching
 * no file.
 */
export function changeModuleArg(m: unknown, what: string, n: NodeState): string {
  if (typeof m === 'string' && !isModuleName(m) && /[/\\]|\.[cm]?[jt]sx?$/.test(m)) {
    const file = resolve(n.options.root, m);
    const module = moduleOfSourceFile(file);
    if (module !== undefined && n.options.src.includes(dirname(file)) && existsSync(file))
      return module;
    badarg(
      `${what}: '${m}' is neither a module name nor a source file directly in a source directory (${n.options.src.join(', ')})`,
    );
  }
  return server.moduleArg(m, what);
}

function moduleList(m: unknown, what: string, n: NodeState): string[] {
  return Array.isArray(m)
    ? [...new Set(m.map((x) => changeModuleArg(x, what, n)))]
    : [changeModuleArg(m, what, n)];
}

/**
 * The type gate of one change: checks the new sources against the loaded
 * versions of every other user module, and again if a synchronous change
 * moved a module while the check ran (S6.7).
 */
function gateOf(
  n: NodeState,
  change: ChangeContext | undefined,
  typecheck: boolean | undefined,
): ((changed: SourceText[]) => Promise<GateVerdict>) | undefined {
  if (!(typecheck ?? n.options.typecheck)) return undefined;
  return async (changed) => {
    const names = new Set(changed.map((c) => c.module));
    for (let attempt = 0; ; attempt++) {
      const before = change?.changes();
      const loaded: SourceText[] = [];
      for (const m of server.userModules()) {
        if (names.has(m)) continue;
        const src = server.loadedSource(m);
        if (src) loaded.push({ module: m, ...src });
      }
      const verdict = await typeGate(n).check({ changed, loaded });
      if (change !== undefined && !change.live()) return { ok: false, diagnostics: [] };
      const settled = change === undefined || change.changes() === before;
      if (settled || attempt >= MAX_RECHECKS) {
        if ('configError' in verdict) return { ok: false, diagnostics: [verdict.configError] };
        return verdict;
      }
    }
  };
}

type CompileStep =
  | { ok: true; compiled: { module: string; file: string; text: string }[]; results: unknown[] }
  | { ok: false; failure: CompileFailed | NoSource | { error: 'write'; reason: unknown } };

/** Sources → gate → object files written (all or none). */
async function compileStep(
  n: NodeState,
  names: string[],
  options: CompileOptions,
  change: ChangeContext | undefined,
): Promise<CompileStep> {
  const out = await compileModules({
    modules: names,
    srcDirs: n.options.src,
    outDir: n.options.out,
    gate: gateOf(n, change, options.typecheck),
  });
  if (out.ok) return out;
  if (out.error === 'nofile') {
    return {
      ok: false,
      // (the reason is the module that has no source: the CLI and the shell say where they looked)
      failure: explain({ error: 'nofile' as const }, out.module),
    };
  }
  if ((out as { error: string }).error === 'write')
    return {
      ok: false,
      failure: { error: 'write', reason: (out as { reason?: unknown }).reason },
    };
  return { ok: false, failure: { error: 'compile', diagnostics: out.diagnostics } };
}

/** `compile.file` (S6.1): writes object files, loads nothing; not a change, so not queued. */
export async function compileFile(
  module: ModuleArg | ModuleArg[],
  options: CompileOptions = {},
): Promise<unknown> {
  const n = currentNode('compile.file');
  const names = Array.isArray(module)
    ? module.map((m) => server.moduleArg(m, 'compile.file'))
    : [server.moduleArg(module, 'compile.file')];
  const out = await compileStep(n, names, options, undefined);
  if (!out.ok) return out.failure;
  return Array.isArray(module) ? { modules: out.results } : out.results[0]!;
}

/** Marks a load result with the processes its purge killed (non-enumerable: shapes stay SPEC's). */
function withKilled<T extends object>(r: T, killed: readonly Pid[]): T {
  Object.defineProperty(r, 'killed', { value: [...killed], enumerable: false });
  return r;
}

/**
 * `c(M)` / `c([M1, M2])` (S6.3): compile, type-check, write, purge, load —
 * one change through the queue.
 */
export function c(
  module: ModuleArg | ModuleArg[],
  options: CompileOptions = {},
): Promise<CResult | CManyResult | Stopped> {
  const n = currentNode('c');
  server.assertNotLoading('c');
  if (options !== undefined && (typeof options !== 'object' || options === null))
    badarg('c: options must be an object');
  const many = Array.isArray(module);
  const names = moduleList(module, 'c', n);
  return server.enqueue(async (change) => {
    const sticky = names.filter((m) => server.isStickyName(m));
    if (sticky.length) {
      if (!many) return { error: 'sticky_directory' as const };
      return { error: sticky.map((m) => ({ module: m, error: 'sticky_directory' as const })) };
    }
    const out = await compileStep(n, names, options, change);
    if (!change.live()) return STOPPED;
    if (!out.ok) return out.failure as CResult;
    const prepared = server.prepareBinaries(out.compiled);
    if ('error' in prepared) return many ? prepared : single(prepared.error[0]!);
    const r = server.finishWithPurge(prepared.prepared);
    if ('error' in r) return many ? r : single(r.error[0]!);
    return withKilled(many ? { modules: r.modules } : { module: names[0]! }, r.killed);
  });
}

function single(e: ModuleLoadError): CResult {
  return explain({ error: e.error }, (e as { reason?: unknown }).reason);
}

/** `lm()`: loads every modified module (their object files changed), one change through the queue. */
export function lm(): Promise<LoadResult[] | Stopped> {
  currentNode('lm');
  server.assertNotLoading('lm');
  return server.enqueue(async () => server.modifiedModules().map((m) => server.loadWithPurge(m)));
}

/**
 * Runs a release upgrade (S8.4, done by the runtime's `release` module) as
 * one change through the queue.
 */
export function queuedUpgrade<R>(run: () => Promise<R>): Promise<R | Stopped> {
  currentNode('upgrade');
  server.assertNotLoading('upgrade');
  return server.enqueue(async (change) => {
    try {
      const r = await run();
      return change.live() ? r : STOPPED;
    } catch (e) {
      if (!change.live()) return STOPPED;
      throw e;
    }
  });
}
