/**
 * The node (SPEC S0.1): one code server and one process table per OS
 * process, booted by `start` and ended by `stop`.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { createRuntime } from './code/linkage.js';
import { isDirectory } from './code/path.js';
import { CodeServer } from './code/server.js';
import { installStackTraces, uninstallStackTraces } from './code/stacktrace.js';
import { createTypeGate, type TypeGate } from './compiler/typegate/index.js';
import { badarg, HotcodeError } from './errors.js';
import { cancelAllTimers, table } from './process/api.js';
import { NONE } from './process/mailbox.js';
import { Pid } from './process/pid.js';
import { EXIT_THROWN, type ExitReason, type Proc } from './process/table.js';
import type { RuntimeServices, VersionsTransaction } from './services.js';
import type { StartOptions } from './types.js';

/** The runtime's own modules (genServer, supervisor, sys, …), compiled at build time. */
export const RUNTIME_DIR = fileURLToPath(new URL('./stdlib/ebin', import.meta.url));

export interface ResolvedOptions {
  root: string;
  src: string[];
  out: string;
  path: string[];
  typecheck: boolean;
}

/** The type gate as the node uses it (typegate/ implements it). */
export interface NodeTypeGate {
  warm(): Promise<void>;
  check(req: {
    changed: { module: string; file: string; text: string }[];
    loaded: { module: string; file: string; text: string }[];
  }): Promise<
    | { ok: true; diagnostics: import('./types.js').Diagnostic[] }
    | { ok: false; diagnostics: import('./types.js').Diagnostic[] }
    | { ok: false; configError: import('./types.js').Diagnostic }
  >;
  close(): Promise<void>;
}

export interface NodeState {
  options: ResolvedOptions;
  gate: NodeTypeGate | undefined;
}

export const server = new CodeServer(table);

/**
 * The warm type gate outlives a node: its first check costs ~1.5 s (TypeScript
 * loading in a worker), later ones ~10 ms. A node restarted on the same project
 * reuses it; it holds no module state between checks, and its idle worker does
 * not keep the process alive.
 */
let sharedGate: { key: string; gate: TypeGate } | undefined;
export function typeGateFor(root: string, srcDirs: string[]): TypeGate {
  const key = JSON.stringify([root, srcDirs]);
  if (sharedGate?.key !== key) {
    void sharedGate?.gate.close();
    sharedGate = { key, gate: createTypeGate({ root, srcDirs }) };
  }
  return sharedGate.gate;
}
let state: NodeState | undefined;
let compilationCacheOff = false;

export function resolveOptions(opts: StartOptions = {}): ResolvedOptions {
  if (typeof opts !== 'object' || opts === null)
    throw new HotcodeError('badarg', 'start: options must be an object');
  const root = resolve(opts.root ?? process.cwd());
  const src = (
    opts.src === undefined ? ['src'] : Array.isArray(opts.src) ? opts.src : [opts.src]
  ).map((d) => resolve(root, d));
  return {
    root,
    src,
    out: resolve(root, opts.out ?? 'ebin'),
    path: (opts.path ?? []).map((d) => resolve(root, d)),
    typecheck: opts.typecheck ?? true,
  };
}

function sameOptions(a: ResolvedOptions, b: ResolvedOptions): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function startNode(opts: StartOptions | undefined, api: unknown): void {
  const options = resolveOptions(opts);
  if (state) {
    if (sameOptions(state.options, options)) return;
    throw new HotcodeError(
      'already_started',
      'start: a node is already running with other options; await stop() first (one node per process)',
    );
  }
  for (const d of options.path)
    if (!isDirectory(d))
      throw new HotcodeError('bad_directory', `start: path directory ${d} does not exist`);
  mkdirSync(options.out, { recursive: true });
  if (!compilationCacheOff) {
    // V8's compilation cache keeps every compiled source for good (111 KB per version of a 100 KB module on Node 24).
    v8.setFlagsFromString('--no-compilation-cache');
    compilationCacheOff = true;
  }
  installStackTraces();
  // The runtime's own modules get the public API and the services (runtime-api.ts).
  server.runtime ??= createRuntime(
    Object.freeze({ ...(api as object), services }),
    (name) => server.record(name).handle,
    (name) => server.record(name).cell,
  );
  const codePath = [options.out, ...options.path, RUNTIME_DIR].filter((d) => isDirectory(d));
  server.path.set(codePath);
  if (isDirectory(RUNTIME_DIR)) server.stickDir(RUNTIME_DIR);
  server.running = true;
  state = { options, gate: undefined };
  // The runtime's own modules are modules of the code server too (S6.6).
  if (isDirectory(RUNTIME_DIR)) {
    const names = readdirSync(RUNTIME_DIR)
      .filter((f) => f.endsWith('.js'))
      .map((f) => f.slice(0, -3));
    for (const n of names) {
      const r = server.ensureLoaded(n);
      if ('error' in r)
        throw new HotcodeError(
          'badfile',
          `start: the runtime module ${n} failed to load (${r.error}); reinstall hotcode`,
        );
    }
  }
}

export async function stopNode(): Promise<void> {
  if (!state) return;
  state = undefined;
  table.killAll();
  table.names.clear();
  cancelAllTimers();
  server.running = false;
  server.reset();
  uninstallStackTraces();
  // The type gate stays warm for a later node on the same project (typeGateFor).
}

export function currentNode(what: string): NodeState {
  if (!state)
    throw new HotcodeError(
      'not_started',
      `${what}: no node is running; await start({ src, out }) first`,
    );
  return state;
}

export function isStarted(): boolean {
  return state !== undefined;
}

// ---- the runtime's services for its own modules and the shell (services.ts) ------------

function procOf(pid: Pid, what: string): Proc | undefined {
  if (!(pid instanceof Pid)) badarg(`${what}: expected a Pid, got ${typeof pid}`);
  return table.lookup(pid);
}

export const services: RuntimeServices = Object.freeze({
  moduleArg: (m: unknown, what: string) => server.moduleArg(m, what),
  cellOf: (module: string) => server.record(module).cell,
  currentExports: (module: string) => server.records.get(module)?.current?.exports,
  versionsTransaction(modules: readonly string[]): VersionsTransaction {
    const snaps = modules.map((m) => server.snapshotVersions(m));
    return {
      mark() {},
      rollback() {
        for (const s of snaps) server.restoreVersions(s);
      },
    };
  },
  caller: () => table.current()?.pid,
  callerExit() {
    const p = table.current();
    return p === undefined || p.alive ? undefined : { reason: p.exitReason };
  },
  onExit(pid: Pid, listener: (reason: ExitReason) => void): boolean {
    const p = procOf(pid, 'onExit');
    if (p === undefined || !p.alive) return false;
    p.abort ??= new AbortController();
    p.abort.signal.addEventListener('abort', () => listener(p.exitReason), { once: true });
    return true;
  },
  setSuspended(pid: Pid, suspended: boolean): void {
    const p = procOf(pid, 'setSuspended');
    if (p) p.suspended = suspended;
  },
  isExitUnwind: (e: unknown) => e === EXIT_THROWN,
  report(message: string, meta: { pid: Pid; reason: ExitReason }): void {
    try {
      table.logger.error(message, meta);
    } catch {
      // a broken logger must not break the runtime
    }
  },
  spawnShell(onExit: (reason: ExitReason) => void): Pid {
    const p = table.spawn(() => new Promise<never>(() => {}), undefined, 'shell');
    p.onExit = onExit;
    return p.pid;
  },
  runAs<T>(pid: Pid, fn: () => T): T {
    const p = procOf(pid, 'runAs');
    if (p === undefined) throw new HotcodeError('noproc', `runAs: process ${pid} is not alive`);
    return table.als.run(p, fn);
  },
  drainMailbox(pid: Pid): unknown[] {
    const p = procOf(pid, 'drainMailbox');
    if (p === undefined) return [];
    const out: unknown[] = [];
    for (let m = p.take(undefined); m !== NONE; m = p.take(undefined)) out.push(m);
    return out;
  },
  cancelReceives(pid: Pid): void {
    const p = procOf(pid, 'cancelReceives');
    if (p) while (p.waiter !== undefined) p.waiter = undefined;
  },
  reapInterrupted: (reason: ExitReason) => table.reapInterrupted(reason).map((p) => p.pid),
  async warmTypeGate(): Promise<void> {
    const node = currentNode('warmTypeGate');
    if (!node.options.typecheck) return;
    node.gate ??= typeGateFor(node.options.root, node.options.src);
    await node.gate.warm();
  },
});
