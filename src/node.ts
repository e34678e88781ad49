/**
 * The node (S0.1): one code server and one process table per OS process,
 * made together by {@link createNode}, booted by `start` and ended by
 * `stop`. This file also implements the runtime's services (services.ts)
 * for the stdlib and the shell.
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
import { createProcessApi, type ProcessApi } from './process/api.js';
import { deliveredMessages } from './process/mailbox.js';
import { Pid } from './process/pid.js';
import { EXIT_THROWN, type ExitReason, type Proc, ProcessTable } from './process/table.js';
import type { RuntimeServices, VersionsTransaction } from './services.js';
import type { StartOptions } from './types.js';
import { describe } from './vocabulary.js';

/** The runtime's own modules (genServer, supervisor, sys, …), compiled at build time. */
export const RUNTIME_DIR = fileURLToPath(new URL('./stdlib/ebin', import.meta.url));

export interface ResolvedOptions {
  root: string;
  src: string[];
  out: string;
  path: string[];
  typecheck: boolean;
}

export interface NodeState {
  options: ResolvedOptions;
  gate: TypeGate | undefined;
}

/** The owners of one node: nothing else writes module or process state. */
export interface Node {
  readonly table: ProcessTable;
  readonly server: CodeServer;
  readonly processes: ProcessApi;
  readonly services: RuntimeServices;
}

/** Makes the process table, the code server and their services together (once per OS process). */
export function createNode(): Node {
  const table = new ProcessTable();
  const server = new CodeServer(table);
  const processes = createProcessApi(table);
  return { table, server, processes, services: createServices(table, server) };
}

const node = createNode();
export const { table, server, processes, services } = node;

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

/**
 * Closes the warm type gate and its worker (TypeScript's memory with it: a
 * node serving traffic is ~90 MB without it, 200–260 MB with it). A later
 * typed change starts a new one (~1.5 s). For `hotcode run`, once its start-up
 * compile is done: a production node is changed by deploys, type-checked on
 * the deploying side.
 */
export async function releaseTypeGate(): Promise<void> {
  const g = sharedGate;
  sharedGate = undefined;
  if (state !== undefined) state.gate = undefined;
  await g?.gate.close();
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

/** Boots the node (S0.1); `api` is the public API the runtime's modules get with the services. */
export function startNode(opts: StartOptions | undefined, api: object): void {
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
  table.installRejectionHandler();
  const codePath = [options.out, ...options.path, RUNTIME_DIR].filter((d) => isDirectory(d));
  // The runtime's own modules get the public API and the services (runtime-api.ts).
  server.boot(
    () =>
      createRuntime(
        Object.freeze({ ...api, services }),
        (name) => server.handleOf(name),
        (name) => server.cellOf(name),
      ),
    codePath,
  );
  if (isDirectory(RUNTIME_DIR)) server.stickDir(RUNTIME_DIR);
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
  table.reset();
  server.reset();
  table.removeRejectionHandler();
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

/** The node's type gate (started on first use; shared across restarts on one project). */
export function typeGate(n: NodeState): TypeGate {
  n.gate ??= typeGateFor(n.options.root, n.options.src);
  return n.gate;
}

// ---- the runtime's services for its own modules and the shell (services.ts) ------------

function createServices(table: ProcessTable, server: CodeServer): RuntimeServices {
  const procOf = (pid: Pid, what: string): Proc | undefined => {
    if (!(pid instanceof Pid)) badarg(`${what}: expected a Pid, got ${typeof pid}`);
    return table.lookup(pid);
  };
  return Object.freeze({
    moduleArg: (m: unknown, what: string) => server.moduleArg(m, what),
    cellOf: (module: string) => server.cellOf(module),
    currentExports: (module: string) => server.currentExports(module),
    versionsTransaction: (modules: readonly string[]): VersionsTransaction =>
      server.transaction(modules),
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
    describe: (value: unknown) => describe(value),
    receiveBoxed(match?: (msg: unknown) => boolean): Promise<{ msg: unknown }> {
      return table.receiveBoxed(table.requireSelf('receive()'), match);
    },
    report: (message: string, meta: { pid: Pid; reason: ExitReason }) =>
      table.report(message, meta),
    messagesDelivered: () => deliveredMessages(),
    versionSummaries: () => server.versionSummaries(),
    processCount: () => table.count,
    surveyProcesses: (n: number, initialCall: string) =>
      table.survey(Math.max(0, Math.floor(n)), initialCall),
    peekMailbox(pid: Pid, n: number): unknown[] | undefined {
      return procOf(pid, 'peekMailbox')?.peek(Math.max(0, Math.floor(n)));
    },
    monitorPeers: (pid: Pid) => (procOf(pid, 'monitorPeers') ? table.monitorPeers(pid) : undefined),
    spawnShell(onExit: (reason: ExitReason) => void): Pid {
      return table.spawn(() => new Promise<never>(() => {}), [], undefined, {
        initialCall: 'shell',
        onExit,
      }).proc.pid;
    },
    runAs<T>(pid: Pid, fn: () => T): T {
      const p = procOf(pid, 'runAs');
      if (p === undefined) throw new HotcodeError('noproc', `runAs: process ${pid} is not alive`);
      return table.runAs(p, fn);
    },
    drainMailbox(pid: Pid): unknown[] {
      const p = procOf(pid, 'drainMailbox');
      return p === undefined ? [] : p.drain();
    },
    cancelReceives(pid: Pid): void {
      procOf(pid, 'cancelReceives')?.cancelWaits();
    },
    reapInterrupted: (reason: ExitReason) => table.reapInterrupted(reason),
    async warmTypeGate(): Promise<void> {
      const n = currentNode('warmTypeGate');
      if (n.options.typecheck) await typeGate(n).warm();
    },
  });
}
