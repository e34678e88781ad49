/**
 * hotcode — Erlang/OTP hot code loading for TypeScript on Node.js.
 *
 * The public surface (S0.3; clause numbers such as S0.3 are those of
 * docs/semantics.md, which states every rule). Promises: `start`, `stop`, `run`, `c`,
 * `lm`, `compile.file`, `receive` and the behaviours' calls that wait for a
 * reply; everything else is synchronous.
 *
 * @example
 * import { start, c, mod } from 'hotcode';
 * await start({ src: 'src', out: 'ebin' });
 * await c('counter');
 * mod('counter').inc();
 */
import type { GenServerApi, SupervisorApi, SysApi, UpgradeFn } from './behaviours.js';
import * as changes from './changes.js';
import { joinCluster, leaveCluster } from './cluster/member.js';
import { createCodeApi } from './code/api.js';
import { externalRefName } from './code/handles.js';
import { checkNodeName } from './control/paths.js';
import { badarg, HotcodeError } from './errors.js';
import * as publicApi from './index.js';
import {
  currentNode,
  isStarted,
  processes as processApi,
  server,
  startNode,
  stopNode,
  table,
} from './node.js';
import { Pid, type Ref } from './process/pid.js';
import type {
  DownMessage,
  ExitMessage,
  ExitReason,
  Logger,
  ProcessFacts,
} from './process/table.js';
import type {
  CManyResult,
  CompileManyResult,
  CompileOptions,
  CompileResult,
  ControlOptions,
  CResult,
  Handle,
  LoadResult,
  ModuleArg,
  StartOptions,
} from './types.js';

export type {
  AtomicLoadResult,
  ClusterOptions,
  CManyResult,
  CompileManyResult,
  CompileOk,
  CompileOptions,
  CompileResult,
  ControlOptions,
  CResult,
  Diagnostic,
  Handle,
  LoadError,
  LoadResult,
  ModuleArg,
  ModuleExports,
  ModuleLoadError,
  OldUsers,
  PreparedCode,
  PrepareResult,
  StartOptions,
  VersionInfo,
  Versions,
  WriteFailed,
} from './types.js';
export type { DownMessage, ExitMessage, ExitReason, Logger };
export type {
  CallErrorCode,
  CallReply,
  CallRequest,
  CallResult,
  CastRequest,
  CastResult,
  ChangeCodeResult,
  ChildInfo,
  ChildSpec,
  DeleteChildResult,
  From,
  GenServerApi,
  GenServerModule,
  InfoResult,
  InitArgs,
  MaybePromise,
  RestartChildResult,
  RestartType,
  ServerPid,
  ServerRef,
  ServerStartOptions,
  ServerStatus,
  Shutdown,
  StartChildResult,
  StateOf,
  Strategy,
  SupervisorApi,
  SupervisorFlags,
  SupervisorModule,
  SysApi,
  TerminateChildResult,
  Timeout,
  UpgradeChange,
  UpgradeError,
  UpgradeFn,
  UpgradeOptions,
  UpgradeResult,
} from './behaviours.js';
export type {
  ChangeSpec,
  ClusterClient,
  ClusterDeployError,
  ClusterDeployOk,
  ClusterDeployOptions,
  ClusterDeployResult,
  ClusterNodeInfo,
  ClusterNodeOutcome,
  ClusterPhaseEvent,
  ClusterRelease,
  ClusterRollbackOptions,
} from './cluster/client.js';
/** Deploys to a group of nodes on NATS JetStream (S11.2): `deploy`, `rollback`, `nodes`, `close`. */
export { connectCluster } from './cluster/client.js';
export { Pid, type Ref };
export {
  type ConnectOptions,
  type ConnectTarget,
  connect,
  type DeployOptions,
  type DeployResult,
  type NodeInfo,
  type NodeStatus,
  RemoteError,
  type RemoteNode,
  type UpgradeChangeSpec,
} from './control/client.js';
export { BadArgError, HotcodeError, UndefError } from './errors.js';
export type { ProcessApi } from './process/api.js';

/** The process functions of S5 (see {@link ProcessApi} for each one's contract). */
export const {
  cancelTimer,
  demonitor,
  exit,
  isProcessAlive,
  link,
  monitor,
  processes,
  receive,
  register,
  registered,
  self,
  send,
  sendAfter,
  signal,
  trapExit,
  unlink,
  unregister,
  whereis,
} = processApi;

// ---- the node ---------------------------------------------------------------------

/**
 * Boots the node (S0.1): the code path becomes `[out, ...path, <runtime dir>]`
 * and the runtime's own modules are loaded from their sticky directory.
 * Calling it again with the same options does nothing; with others it throws
 * `already_started`.
 */
export async function start(options?: StartOptions): Promise<void> {
  const control = controlOf(options);
  if (started !== undefined && control.key !== started.key)
    throw new HotcodeError(
      'already_started',
      'start: a node is already running with another name or control options; await stop() first (one node per process)',
    );
  const wasStarted = isStarted();
  startNode(options, publicApi);
  // A node of a group loads the group's current release before start resolves (S11.1).
  try {
    await joinCluster(options?.cluster, options?.name, wasStarted);
  } catch (e) {
    if (!wasStarted) await stopNode();
    throw e;
  }
  if (started !== undefined) return;
  started = { key: control.key, listener: undefined };
  if (control.listen === undefined) return;
  try {
    // control/ sits above this file (its commands use the public API): reached at run time,
    // so a node without a name never loads it.
    const { listen } = await import('./control/listener.js');
    started.listener = await listen(control.listen);
  } catch (e) {
    started = undefined;
    await leaveCluster();
    await stopNode();
    throw e;
  }
}

/** The running node's control settings and listener (S9.1). */
let started: { key: string; listener: { close(): Promise<void> } | undefined } | undefined;

function controlOf(options: StartOptions | undefined): {
  key: string;
  listen: { name: string; control?: ControlOptions; secretFile?: string } | undefined;
} {
  const o = (options ?? {}) as StartOptions;
  if (o === null || typeof o !== 'object') return { key: '', listen: undefined };
  if (o.name !== undefined) checkNodeName(o.name, 'start');
  if (
    o.control !== undefined &&
    o.control !== false &&
    (o.control === null || typeof o.control !== 'object')
  )
    badarg('start: control must be false or { port, host, allowRemote, tls, log, logMaxBytes }');
  if (o.secretFile !== undefined && typeof o.secretFile !== 'string')
    badarg('start: secretFile must be a path');
  const listen =
    o.name === undefined || o.control === false
      ? undefined
      : {
          name: o.name,
          ...(o.control ? { control: o.control } : {}),
          ...(o.secretFile !== undefined ? { secretFile: o.secretFile } : {}),
        };
  const { log: _log, ...shown } = o.control || {};
  return {
    key: JSON.stringify([o.name, o.control === false ? false : shown, o.secretFile]),
    listen,
  };
}

/**
 * Ends the node: every process is killed, every module unloaded; a later
 * `start` begins afresh. A code change still in progress settles with
 * `{ error: 'stopped' }` and loads nothing (S0.1).
 */
export async function stop(): Promise<void> {
  const listener = started?.listener;
  started = undefined;
  await listener?.close();
  await leaveCluster();
  await stopNode();
}

/** Where crash reports go (default: standard error). */
export function setLogger(logger: Logger): void {
  if (typeof logger?.error !== 'function')
    badarg('setLogger: expected an object with an error(message, meta) method');
  table.logger = logger;
}

// ---- processes --------------------------------------------------------------------

type AnyFn = (...args: never[]) => unknown;

/** `module.fname/arity` strings, made once each: a process keeps its own only by reference. */
const mfaNames = new Map<string, string>();
function mfaName(ref: string, arity: number): string {
  const key = `${ref}/${arity}`;
  let name = mfaNames.get(key);
  if (name === undefined) mfaNames.set(key, (name = key));
  return name;
}

function spawnWith(
  what: string,
  opts: { link?: boolean; monitor?: boolean },
  fnOrModule: AnyFn | ModuleArg,
  rest: unknown[],
): { pid: Pid; ref: Ref | undefined } {
  if (typeof fnOrModule === 'function') {
    // An external reference (`spawn(counter.loop, 0)`) shows as `counter.loop/1`, as in Erlang.
    const ref = externalRefName(fnOrModule);
    if (ref === undefined) return processApi.spawnProcess(fnOrModule, rest, opts);
    return processApi.spawnProcess(fnOrModule, rest, {
      ...opts,
      initialCall: mfaName(ref, rest.length),
    });
  }
  // spawn(module, fname, args): resolved in the new process at its first call, so
  // an unknown module or function ends that process with undef, as in Erlang.
  const name = server.moduleArg(fnOrModule, what);
  const [fname, args = []] = rest as [unknown, unknown[] | undefined];
  if (typeof fname !== 'string') badarg(`${what}(module, fname, args): fname must be a string`);
  if (!Array.isArray(args)) badarg(`${what}(module, fname, args): args must be an array`);
  currentNode(what);
  const cell = server.cellOf(name);
  const body = () => (cell.v[fname] as (...a: unknown[]) => unknown)(...args);
  return processApi.spawnProcess(body, [], {
    ...opts,
    initialCall: mfaName(`${name}.${fname}`, args.length),
  });
}

/**
 * Starts a process: `spawn(fn, ...args)` or `spawn(module, fname, args)`
 * (autoloads). Runs the function up to its first suspension before it returns.
 */
export function spawn<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): Pid;
export function spawn(module: ModuleArg, fname: string, args?: unknown[]): Pid;
export function spawn(fnOrModule: AnyFn | ModuleArg, ...rest: unknown[]): Pid {
  return spawnWith('spawn', {}, fnOrModule, rest).pid;
}

/** As spawn, linked to the caller (the link is in place before the new process runs). */
export function spawnLink<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): Pid;
export function spawnLink(module: ModuleArg, fname: string, args?: unknown[]): Pid;
export function spawnLink(fnOrModule: AnyFn | ModuleArg, ...rest: unknown[]): Pid {
  return spawnWith('spawnLink', { link: true }, fnOrModule, rest).pid;
}

/** As spawn, monitored by the caller: `{ pid, ref }`. */
export function spawnMonitor<A extends unknown[]>(
  fn: (...args: A) => unknown,
  ...args: A
): { pid: Pid; ref: Ref };
export function spawnMonitor(
  module: ModuleArg,
  fname: string,
  args?: unknown[],
): { pid: Pid; ref: Ref };
export function spawnMonitor(
  fnOrModule: AnyFn | ModuleArg,
  ...rest: unknown[]
): { pid: Pid; ref: Ref } {
  const { pid, ref } = spawnWith('spawnMonitor', { monitor: true }, fnOrModule, rest);
  return { pid, ref: ref! };
}

/**
 * Runs `fn` as a process (S0.2) and resolves with its return value, or
 * rejects with its exit reason (an Error it threw, `'killed'`, …).
 */
export function run<T>(fn: () => T | Promise<T>): Promise<T> {
  if (typeof fn !== 'function') badarg('run: expected a function');
  return new Promise<T>((resolve, reject) => {
    let value: T;
    processApi.spawnProcess(
      async () => {
        value = await fn();
      },
      [],
      { onExit: (reason) => (reason === 'normal' ? resolve(value) : reject(reason)) },
    );
  });
}

/** What processInfo tells of a live process (S5.6). */
export interface ProcessInfo extends ProcessFacts {
  /** The versions the process uses (suspended in their code, S4.3). */
  modules: { module: string; version: 'current' | 'old' }[];
}

/** `undefined` for a dead pid (S5.6). */
export function processInfo(pid: Pid): ProcessInfo | undefined {
  if (!(pid instanceof Pid)) badarg(`processInfo: expected a Pid, got ${typeof pid}`);
  const p = table.info(pid);
  if (p === undefined) return undefined;
  return { ...p, modules: server.versionsUsedBy(pid) };
}

/** Does the process use the old version of `module` (S4.3)? */
export function checkProcessCode(pid: Pid, module: ModuleArg): boolean {
  if (!(pid instanceof Pid)) badarg(`checkProcessCode: expected a Pid, got ${typeof pid}`);
  return server.checkProcessCode(pid, server.moduleArg(module, 'checkProcessCode'));
}

// ---- modules ------------------------------------------------------------------------

/**
 * The handle of a module (S3.1): calls through it run the current version;
 * a missing function autoloads the module or throws `undef`.
 *
 * @example
 * const counter = mod<typeof import('./counter.js')>('counter');
 * counter.inc();
 */
export function mod<T extends object = import('./types.js').ModuleExports>(
  module: ModuleArg,
): Handle<T> {
  return server.handleOf(server.moduleArg(module, 'mod')) as Handle<T>;
}

async function compileFile(module: ModuleArg, options?: CompileOptions): Promise<CompileResult>;
async function compileFile(
  modules: ModuleArg[],
  options?: CompileOptions,
): Promise<CompileManyResult>;
async function compileFile(
  module: ModuleArg | ModuleArg[],
  options?: CompileOptions,
): Promise<CompileResult | CompileManyResult> {
  return (await changes.compileFile(module, options)) as CompileResult | CompileManyResult;
}

/** The compiler (OTP's `compile`): `compile.file(M)` writes the object file, it does not load it (S6.1). */
export const compile = Object.freeze({ file: compileFile });

/**
 * Compile, write, purge, load (S6.3). The new version is evaluated and its
 * `onLoad` run before the purge, so a version that fails to load kills
 * nobody. `c([M1, M2])` is one atomic change. Changes run one at a time, in
 * call order (S6.7); `{ error: 'stopped' }` if the node stopped first.
 */
export async function c(module: ModuleArg, options?: CompileOptions): Promise<CResult>;
export async function c(modules: ModuleArg[], options?: CompileOptions): Promise<CManyResult>;
export async function c(
  module: ModuleArg | ModuleArg[],
  options?: CompileOptions,
): Promise<CResult | CManyResult> {
  return (await changes.c(module, options)) as CResult | CManyResult;
}

/** Purge, then load `module` from the code path (S6.3). Synchronous. */
export function l(module: ModuleArg): LoadResult {
  const name = server.moduleArg(module, 'l');
  currentNode('l');
  return changes.recordedSync('l', [name], () => server.loadWithPurge(name));
}

/** Modules whose object file differs from the loaded version (`mm()` of the shell). */
export function mm(): string[] {
  currentNode('mm');
  return server.modifiedModules();
}

/** Loads every modified module (`lm()`), as one change through the queue (S6.7). */
export async function lm(): Promise<LoadResult[]> {
  return (await changes.lm()) as LoadResult[];
}

/** The code server's API (OTP's `code` module, S1–S6); every call is synchronous. */
export const code = createCodeApi(
  server,
  (what) => {
    currentNode(what);
  },
  changes.recordedSync,
);

// ---- behaviours (S8): the runtime's own hot modules, reached through their handles --------

/** OTP's gen_server (S8.1). */
export const genServer = server.handleOf('genServer') as unknown as GenServerApi;
/** OTP's sys (S8.2). */
export const sys = server.handleOf('sys') as unknown as SysApi;
/** OTP's supervisor (S8.3). */
export const supervisor = server.handleOf('supervisor') as unknown as SupervisorApi;
/** A release upgrade (S8.4), one change through the queue (S6.7). */
export const upgrade: UpgradeFn = async (opts) =>
  (await changes.queuedUpgrade(opts, () =>
    (server.cellOf('release').v.upgrade as UpgradeFn)(opts),
  )) as Awaited<ReturnType<UpgradeFn>>;
