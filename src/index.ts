/**
 * hotcode — Erlang/OTP hot code loading for TypeScript on Node.js.
 *
 * The public surface (SPEC S0.3). Promises: `start`, `stop`, `run`, `c`,
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
import { explain } from './code/server.js';
import { compileModules } from './compiler/index.js';
import { badarg } from './errors.js';
import * as self from './index.js';
import {
  currentNode,
  type NodeTypeGate,
  server,
  startNode,
  stopNode,
  typeGateFor,
} from './node.js';
import * as processApi from './process/api.js';
import { table } from './process/api.js';
import { countersOf, isUsedBy } from './process/frames.js';
import { Pid, type Ref } from './process/pid.js';
import type { DownMessage, ExitMessage, ExitReason, Logger } from './process/table.js';
import type {
  AtomicLoadResult,
  CManyResult,
  CompileManyResult,
  CompileOptions,
  CompileResult,
  CResult,
  Handle,
  LoadResult,
  ModuleArg,
  PreparedCode,
  PrepareResult,
  StartOptions,
  Versions,
} from './types.js';

export type {
  AtomicLoadResult,
  CManyResult,
  CompileManyResult,
  CompileOk,
  CompileOptions,
  CompileResult,
  CResult,
  Diagnostic,
  Handle,
  LoadError,
  LoadResult,
  ModuleArg,
  ModuleExports,
  ModuleLoadError,
  PreparedCode,
  PrepareResult,
  StartOptions,
  VersionInfo,
  Versions,
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
export { Pid, type Ref };
export { BadArgError, HotcodeError, UndefError } from './errors.js';
export {
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
} from './process/api.js';

// ---- the node ---------------------------------------------------------------------

/**
 * Boots the node (S0.1): the code path becomes `[out, ...path, <runtime dir>]`
 * and the runtime's own modules are loaded from their sticky directory.
 * Calling it again with the same options does nothing; with others it throws
 * `already_started`.
 */
export async function start(options?: StartOptions): Promise<void> {
  startNode(options, self);
}

/** Ends the node: every process is killed, every module unloaded; a later `start` begins afresh. */
export async function stop(): Promise<void> {
  await stopNode();
}

/** Where crash reports go (default: standard error). */
export function setLogger(logger: Logger): void {
  if (typeof logger?.error !== 'function')
    badarg('setLogger: expected an object with an error(message, meta) method');
  table.logger = logger;
}

// ---- processes --------------------------------------------------------------------

function moduleName(m: unknown, what: string): string {
  return server.moduleArg(m, what);
}

type AnyFn = (...args: never[]) => unknown;

function spawnWith(
  what: string,
  opts: { link?: boolean; monitor?: boolean },
  fnOrModule: AnyFn | ModuleArg,
  rest: unknown[],
) {
  if (typeof fnOrModule === 'function') return processApi.spawnProcess(fnOrModule, rest, opts);
  // spawn(module, fname, args): resolved in the new process at its first call, so
  // an unknown module or function ends that process with undef, as in Erlang.
  const name = moduleName(fnOrModule, what);
  const [fname, args = []] = rest as [unknown, unknown[] | undefined];
  if (typeof fname !== 'string') badarg(`${what}(module, fname, args): fname must be a string`);
  if (!Array.isArray(args)) badarg(`${what}(module, fname, args): args must be an array`);
  currentNode(what);
  const cell = server.record(name).cell;
  const run = () => (cell.v[fname] as (...a: unknown[]) => unknown)(...args);
  return processApi.spawnProcess(run, [], {
    ...opts,
    initialCall: `${name}.${fname}/${args.length}`,
  });
}

/**
 * Starts a process: `spawn(fn, ...args)` or `spawn(module, fname, args)`
 * (autoloads). Runs the function up to its first suspension before it returns.
 */
export function spawn<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): Pid;
export function spawn(module: ModuleArg, fname: string, args?: unknown[]): Pid;
export function spawn(fnOrModule: AnyFn | ModuleArg, ...rest: unknown[]): Pid {
  return spawnWith('spawn', {}, fnOrModule, rest).proc.pid;
}

/** As spawn, linked to the caller (the link is in place before the new process runs). */
export function spawnLink<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): Pid;
export function spawnLink(module: ModuleArg, fname: string, args?: unknown[]): Pid;
export function spawnLink(fnOrModule: AnyFn | ModuleArg, ...rest: unknown[]): Pid {
  return spawnWith('spawnLink', { link: true }, fnOrModule, rest).proc.pid;
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
  const { proc, ref } = spawnWith('spawnMonitor', { monitor: true }, fnOrModule, rest);
  return { pid: proc.pid, ref: ref! };
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

export interface ProcessInfo {
  pid: Pid;
  status: 'running' | 'waiting' | 'suspended';
  messageQueueLen: number;
  registeredName?: string;
  links: Pid[];
  monitors: Ref[];
  trapExit: boolean;
  initialCall?: string;
  /** The versions the process uses (suspended in their code, S4.3). */
  modules: { module: string; version: 'current' | 'old' }[];
}

/** `undefined` for a dead pid (S5.6). */
export function processInfo(pid: Pid): ProcessInfo | undefined {
  if (!(pid instanceof Pid)) badarg(`processInfo: expected a Pid, got ${typeof pid}`);
  const p = table.lookup(pid);
  if (p === undefined) return undefined;
  const modules: ProcessInfo['modules'] = [];
  for (const [token, counter] of countersOf(p)) {
    if (counter.n <= 0) continue;
    for (const rec of server.records.values()) {
      if (rec.current?.token === token) modules.push({ module: rec.name, version: 'current' });
      else if (rec.old?.token === token) modules.push({ module: rec.name, version: 'old' });
    }
  }
  const info: ProcessInfo = {
    pid: p.pid,
    status: p.suspended ? 'suspended' : p.mailbox.waiter !== undefined ? 'waiting' : 'running',
    messageQueueLen: p.mailbox.length,
    links: p.links ? [...p.links].map((l) => l.pid) : [],
    monitors: p.monitors ? [...p.monitors.keys()] : [],
    trapExit: p.trapExit,
    modules,
  };
  if (p.name !== undefined) info.registeredName = p.name;
  const initialCall = p.initialCall;
  if (initialCall !== undefined) info.initialCall = initialCall;
  return info;
}

/** Does the process use the old version of `module` (S4.3)? */
export function checkProcessCode(pid: Pid, module: ModuleArg): boolean {
  if (!(pid instanceof Pid)) badarg(`checkProcessCode: expected a Pid, got ${typeof pid}`);
  const name = moduleName(module, 'checkProcessCode');
  const p = table.lookup(pid);
  const old = server.records.get(name)?.old;
  return p !== undefined && old !== undefined && isUsedBy(old.token, p);
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
  return server.record(moduleName(module, 'mod')).handle as Handle<T>;
}

function gateFor(
  typecheck: boolean | undefined,
):
  | ((
      changed: { module: string; file: string; text: string }[],
    ) => Promise<import('./compiler/index.js').GateVerdict>)
  | undefined {
  const node = currentNode('compile');
  if (!(typecheck ?? node.options.typecheck)) return undefined;
  return async (changed) => {
    const gate = await typeGate(node);
    const changedNames = new Set(changed.map((c) => c.module));
    const loaded: { module: string; file: string; text: string }[] = [];
    for (const rec of server.records.values()) {
      if (!rec.current || changedNames.has(rec.name) || server.isSticky(rec.name)) continue;
      const src = server.loadedSource(rec.name);
      if (src) loaded.push({ module: rec.name, ...src });
    }
    const verdict = await gate.check({ changed, loaded });
    if ('configError' in verdict) return { ok: false, diagnostics: [verdict.configError] };
    return verdict;
  };
}

async function typeGate(node: ReturnType<typeof currentNode>): Promise<NodeTypeGate> {
  node.gate ??= typeGateFor(node.options.root, node.options.src);
  return node.gate;
}

function moduleList(m: ModuleArg | ModuleArg[], what: string): string[] {
  return Array.isArray(m) ? m.map((x) => moduleName(x, what)) : [moduleName(m, what)];
}

async function compileFile(module: ModuleArg, options?: CompileOptions): Promise<CompileResult>;
async function compileFile(
  modules: ModuleArg[],
  options?: CompileOptions,
): Promise<CompileManyResult>;
async function compileFile(
  module: ModuleArg | ModuleArg[],
  options: CompileOptions = {},
): Promise<CompileResult | CompileManyResult> {
  const names = moduleList(module, 'compile.file');
  const out = await compileStep('compile.file', names, options);
  if (!out.ok) return out.failure;
  return Array.isArray(module) ? { modules: out.results } : out.results[0]!;
}

/** The compile step shared by compile.file and c: sources → gate → object files written. */
async function compileStep(what: string, names: string[], options: CompileOptions) {
  const node = currentNode(what);
  const out = await compileModules({
    modules: names,
    srcDirs: node.options.src,
    outDir: node.options.out,
    gate: gateFor(options.typecheck),
  });
  if (out.ok) return out;
  const failure: Exclude<CompileResult, { module: string }> =
    out.error === 'nofile'
      ? explain({ error: 'nofile' as const }, out.module)
      : out.error === 'write'
        ? { error: 'write', reason: out.reason }
        : { error: 'compile', diagnostics: out.diagnostics };
  return { ok: false as const, failure };
}

/** The compiler (OTP's `compile`): `compile.file(M)` writes the object file, it does not load it (S6.1). */
export const compile = Object.freeze({ file: compileFile });

/**
 * Compile, write, purge, load (S6.3). The new version is evaluated and its
 * `onLoad` run before the purge, so a version that fails to load kills
 * nobody. `c([M1, M2])` is one atomic change.
 */
export async function c(module: ModuleArg, options?: CompileOptions): Promise<CResult>;
export async function c(modules: ModuleArg[], options?: CompileOptions): Promise<CManyResult>;
export async function c(
  module: ModuleArg | ModuleArg[],
  options: CompileOptions = {},
): Promise<CResult | CManyResult> {
  const names = moduleList(module, 'c');
  currentNode('c');
  const sticky = names.filter((n) => server.isStickyName(n));
  if (sticky.length) {
    if (!Array.isArray(module)) return { error: 'sticky_directory' };
    return { error: sticky.map((m) => ({ module: m, error: 'sticky_directory' as const })) };
  }
  const out = await compileStep('c', names, options);
  if (!out.ok) return out.failure;
  const r = server.loadCompiled(
    out.compiled.map((x) => ({ module: x.module, file: x.file, text: x.text })),
  );
  if (Array.isArray(module)) return r;
  if ('error' in r)
    return explain({ error: r.error[0]!.error }, (r.error[0] as { reason?: unknown }).reason);
  return { module: names[0]! };
}

/** Purge, then load `module` from the code path (S6.3). */
export function l(module: ModuleArg): LoadResult {
  const name = moduleName(module, 'l');
  currentNode('l');
  return server.loadWithPurge(name);
}

/** Modules whose object file differs from the loaded version (`mm()` of the shell). */
export function mm(): string[] {
  currentNode('mm');
  return server.modifiedModules();
}

/** Loads every modified module (`lm()`). */
export async function lm(): Promise<LoadResult[]> {
  currentNode('lm');
  return server.modifiedModules().map((m) => server.loadWithPurge(m));
}

function withNode<A extends unknown[], R>(what: string, f: (...args: A) => R): (...args: A) => R {
  return (...args: A) => {
    currentNode(what);
    return f(...args);
  };
}

/** The code server's API (OTP's `code` module, S1–S6); every call is synchronous. */
export const code = Object.freeze({
  getPath: withNode('code.getPath', () => server.path.get()),
  setPath: withNode('code.setPath', (dirs: string[]) => {
    if (!Array.isArray(dirs)) badarg('code.setPath: expected an array of directories');
    return server.path.set(dirs);
  }),
  addPath: withNode(
    'code.addPath',
    (dir: string) => checkDir(dir, 'code.addPath') && server.path.add(dir, false),
  ),
  addPathZ: withNode(
    'code.addPathZ',
    (dir: string) => checkDir(dir, 'code.addPathZ') && server.path.add(dir, false),
  ),
  addPathA: withNode(
    'code.addPathA',
    (dir: string) => checkDir(dir, 'code.addPathA') && server.path.add(dir, true),
  ),
  delPath: withNode(
    'code.delPath',
    (dir: string) => checkDir(dir, 'code.delPath') && server.path.del(dir),
  ),
  which: withNode('code.which', (module: ModuleArg): string | undefined =>
    server.path.which(moduleName(module, 'code.which')),
  ),
  loadFile: withNode(
    'code.loadFile',
    (module: ModuleArg): LoadResult => server.loadFile(moduleName(module, 'code.loadFile')),
  ),
  ensureLoaded: withNode(
    'code.ensureLoaded',
    (module: ModuleArg): LoadResult => server.ensureLoaded(moduleName(module, 'code.ensureLoaded')),
  ),
  loadBinary: withNode(
    'code.loadBinary',
    (module: ModuleArg, file: string, bytes: Uint8Array | string): LoadResult => {
      const name = moduleName(module, 'code.loadBinary');
      if (typeof file !== 'string') badarg('code.loadBinary: file must be a string');
      if (typeof bytes !== 'string' && !(bytes instanceof Uint8Array))
        badarg('code.loadBinary: bytes must be a Uint8Array or a string');
      return server.loadBinary(name, file, bytes);
    },
  ),
  atomicLoad: withNode('code.atomicLoad', (modules: ModuleArg[]): AtomicLoadResult => {
    if (!Array.isArray(modules)) badarg('code.atomicLoad: expected an array of modules');
    return server.atomicLoad(modules.map((m) => moduleName(m, 'code.atomicLoad')));
  }),
  prepareLoading: withNode('code.prepareLoading', (modules: ModuleArg[]): PrepareResult => {
    if (!Array.isArray(modules)) badarg('code.prepareLoading: expected an array of modules');
    return server.prepareLoading(modules.map((m) => moduleName(m, 'code.prepareLoading')));
  }),
  finishLoading: withNode(
    'code.finishLoading',
    (prepared: PreparedCode): AtomicLoadResult => server.finishLoading(prepared),
  ),
  delete: withNode('code.delete', (module: ModuleArg): boolean =>
    server.delete(moduleName(module, 'code.delete')),
  ),
  purge: withNode('code.purge', (module: ModuleArg): boolean =>
    server.purge(moduleName(module, 'code.purge')),
  ),
  softPurge: withNode('code.softPurge', (module: ModuleArg): boolean =>
    server.softPurge(moduleName(module, 'code.softPurge')),
  ),
  versions: withNode(
    'code.versions',
    (module: ModuleArg): Versions => server.versions(moduleName(module, 'code.versions')),
  ),
  isLoaded: withNode('code.isLoaded', (module: ModuleArg): { file: string } | false =>
    server.isLoaded(moduleName(module, 'code.isLoaded')),
  ),
  isModuleLoaded: withNode(
    'code.isModuleLoaded',
    (module: ModuleArg): boolean =>
      server.isLoaded(moduleName(module, 'code.isModuleLoaded')) !== false,
  ),
  checkOldCode: withNode(
    'code.checkOldCode',
    (module: ModuleArg): boolean =>
      server.records.get(moduleName(module, 'code.checkOldCode'))?.old !== undefined,
  ),
  allLoaded: withNode('code.allLoaded', (): [string, string][] => server.allLoaded()),
  getObjectCode: withNode('code.getObjectCode', (module: ModuleArg) =>
    server.getObjectCode(moduleName(module, 'code.getObjectCode')),
  ),
  modifiedModules: withNode('code.modifiedModules', (): string[] => server.modifiedModules()),
  stickDir: withNode('code.stickDir', (dir: string) => server.stickDir(dir)),
  unstickDir: withNode('code.unstickDir', (dir: string) => server.unstickDir(dir)),
  isSticky: withNode('code.isSticky', (module: ModuleArg): boolean =>
    server.isSticky(moduleName(module, 'code.isSticky')),
  ),
});

function checkDir(dir: unknown, what: string): true {
  if (typeof dir !== 'string')
    badarg(`${what}: expected a directory path (string), got ${typeof dir}`);
  return true;
}

// ---- behaviours (S8): the runtime's own hot modules, reached through their handles --------

/** OTP's gen_server (S8.1). */
export const genServer = server.record('genServer').handle as unknown as GenServerApi;
/** OTP's sys (S8.2). */
export const sys = server.record('sys').handle as unknown as SysApi;
/** OTP's supervisor (S8.3). */
export const supervisor = server.record('supervisor').handle as unknown as SupervisorApi;
/** A release upgrade (S8.4). */
export const upgrade: UpgradeFn = (opts) =>
  (server.record('release').cell.v.upgrade as UpgradeFn)(opts);
