/**
 * Types of the OTP behaviours (S8): `genServer`, `sys`, `supervisor`
 * and the release `upgrade`.
 *
 * The behaviours themselves are hot modules (src/stdlib/, compiled at build
 * time, loaded from the sticky runtime directory, S6.6); this file only
 * describes them, so that `src/index.ts` can type its handles without a
 * static import of the stdlib (docs/architecture.md: no import runs back up).
 *
 * Callback-module types let the type gate check a server's state and
 * messages. Annotate each callback, or check the whole module at once:
 *
 * @example
 * // src/counter.ts
 * import { genServer, type CallResult, type CastResult, type From, type GenServerModule } from 'hotcode';
 * import * as self from './counter';
 *
 * type State = { n: number };
 * type Call = { op: 'get' } | { op: 'add'; by: number };
 * export function init(start: number): State { return { n: start }; }
 * export function handleCall(req: Call, _from: From, s: State): CallResult<number, State> {
 *   return req.op === 'get' ? { reply: s.n, state: s } : { reply: s.n + req.by, state: { n: s.n + req.by } };
 * }
 * export function handleCast(_msg: 'reset', _s: State): CastResult<State> { return { state: { n: 0 } }; }
 * self satisfies GenServerModule<State, Call, 'reset', number, number>;
 *
 * // elsewhere: the pid carries the module's type, so request and reply are checked
 * import * as counter from './counter';
 * const pid = await genServer.start(counter, 0);
 * const n: number = await genServer.call(pid, { op: 'add', by: 2 });
 */
import type { Pid, Ref } from './process/pid.js';
import type { ExitReason } from './process/table.js';
import type { LoadError, ModuleArg } from './types.js';

/** A value or a promise of it: every callback may be async (S8.1). */
export type MaybePromise<T> = T | Promise<T>;

// ---- genServer (S8.1) -----------------------------------------------------------------

/**
 * Who sent a call (OTP's `From`): the caller's pid and a unique tag. Keep it
 * to answer later with `genServer.reply(from, value)` after returning
 * `{ noreply: true, state }`.
 */
export interface From {
  readonly pid: Pid;
  readonly tag: Ref | object;
}

declare const serverModule: unique symbol;

/**
 * The pid of a server whose callback module has type `M` (a phantom type:
 * any `Pid` is accepted where a `ServerPid` is expected, but a typed pid
 * makes `call` check its request and type its reply).
 */
export type ServerPid<M = unknown> = Pid & { readonly [serverModule]?: M };

/** A server: its pid or its registered name (S8). */
export type ServerRef<M = unknown> = ServerPid<M> | string;

/** What `handleCall` returns (OTP's `{reply, R, S}`, `{noreply, S}`, `{stop, Why, R, S}`). */
export type CallResult<Reply, State> =
  | { reply: Reply; state: State }
  | { noreply: true; state: State }
  | { stop: ExitReason; reply?: Reply; state: State };

/** What `handleCast` and `handleInfo` return. */
export type CastResult<State> = { state: State } | { stop: ExitReason; state: State };
export type InfoResult<State> = CastResult<State>;

/**
 * A genServer callback module (OTP's `gen_server` behaviour). Every callback
 * is called with a qualified call, so a newly loaded version of the module
 * handles the next message (S8.1).
 *
 * - `init(args)` → the initial state; throwing stops the start.
 * - `handleCall(request, from, state)` → {@link CallResult}.
 * - `handleCast(msg, state)` → {@link CastResult} (required if the server gets casts).
 * - `handleInfo(msg, state)` → {@link InfoResult}, for any other message (optional: ignored if absent).
 * - `terminate(reason, state)`, optional, runs before the server exits on its own.
 * - `codeChange(oldVsn, state, extra)` → the new state, optional; run by
 *   `sys.changeCode` / `upgrade`. It must return a new state, not mutate
 *   the old one (a rollback reinstates the old one).
 */
export interface GenServerModule<
  State,
  Call = never,
  Cast = never,
  Reply = unknown,
  Args = unknown,
  Info = unknown,
> {
  init(args: Args): MaybePromise<State>;
  handleCall(request: Call, from: From, state: State): MaybePromise<CallResult<Reply, State>>;
  handleCast?(msg: Cast, state: State): MaybePromise<CastResult<State>>;
  handleInfo?(msg: Info, state: State): MaybePromise<InfoResult<State>>;
  terminate?(reason: ExitReason, state: State): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: the previous version's state has the previous version's type
  codeChange?(oldVsn: string | undefined, state: any, extra: unknown): MaybePromise<State>;
}

// Types read off a callback module's type (its handle or `typeof import('./m')`).
// biome-ignore lint/suspicious/noExplicitAny: matching any signature
type AnyArgs = any[];

/** The `args` of `init`. */
export type InitArgs<M> = M extends { init(...a: infer A): unknown }
  ? A extends []
    ? undefined
    : A[0]
  : unknown;
/** The state a module's `init` produces. */
export type StateOf<M> = M extends { init(...a: AnyArgs): infer S } ? Awaited<S> : unknown;
/** The request type of `handleCall`. */
export type CallRequest<M> = M extends { handleCall(request: infer R, ...rest: AnyArgs): unknown }
  ? R
  : unknown;
/**
 * The reply type of `handleCall` of a callback module `M`; for any other
 * type, that type itself: `genServer.call<string>(…)` names the reply type.
 */
export type CallReply<M> = M extends { handleCall(...a: AnyArgs): infer R }
  ? ReplyIn<Awaited<R>>
  : M;
type ReplyIn<R> = R extends { reply: infer X }
  ? X
  : R extends { stop: unknown; reply?: infer X }
    ? Exclude<X, undefined>
    : never;
/** The message type of `handleCast`. */
export type CastRequest<M> = M extends { handleCast(msg: infer C, ...rest: AnyArgs): unknown }
  ? C
  : unknown;

/** Options of `genServer.start` / `startLink` and `supervisor.start` / `startLink`. */
export interface ServerStartOptions {
  /** Register the new process under this name (a taken name → error `already_started`). */
  name?: string;
}

/** A call's timeout: milliseconds, or `'infinity'`. */
export type Timeout = number | 'infinity';

/**
 * The codes of the errors that `genServer.call` (and every `sys` call)
 * rejects with: `'timeout'` (the late reply is discarded), `'noproc'` (no
 * such server), `'exit'` (the server died during the call; `reason` attached),
 * `'calling_self'` (a server called itself).
 */
export type CallErrorCode = 'timeout' | 'noproc' | 'exit' | 'calling_self';

/** The public API of `genServer` (OTP's `gen_server`), S8.1. */
export interface GenServerApi {
  /**
   * Starts a server running `module` (its name or its handle): resolves with
   * its pid once `init` has returned; rejects with what `init` threw.
   * @example const pid = await genServer.start(counter, 0, { name: 'counter' });
   */
  start<M = unknown>(
    module: M | string,
    args?: InitArgs<M>,
    opts?: ServerStartOptions,
  ): Promise<ServerPid<M>>;
  /** As `start`, linked to the calling process (when called from one). */
  startLink<M = unknown>(
    module: M | string,
    args?: InitArgs<M>,
    opts?: ServerStartOptions,
  ): Promise<ServerPid<M>>;
  /**
   * Sends `request` and waits for the reply (default 5000 ms). Rejects with
   * a `HotcodeError` whose `code` is a {@link CallErrorCode}.
   *
   * The reply's type comes from the server's callback module when the pid
   * carries it (`genServer.start(counter, 0)`), or from the caller: a type
   * argument that is not a callback module is the reply's type, so
   * `genServer.call<string>('greeter', { greet: 'Ada' })` is a `Promise<string>`.
   */
  call<M = unknown>(
    server: ServerRef<M>,
    request: CallRequest<M>,
    timeoutMs?: Timeout,
  ): Promise<CallReply<M>>;
  /** Sends an asynchronous request; never fails (an unknown server is ignored). */
  cast<M = unknown>(server: ServerRef<M>, msg: CastRequest<M>): void;
  /** Answers a call that `handleCall` left with `{ noreply: true }`. A reply to a caller that gave up is dropped. */
  reply(from: From, value: unknown): void;
  /**
   * Stops a server: `terminate(reason, state)` runs, then it exits with
   * `reason` (default `'normal'`); resolves once it has exited. Rejects
   * `noproc` if there is no such server.
   */
  stop(server: ServerRef, reason?: ExitReason, timeoutMs?: Timeout): Promise<void>;
}

// ---- sys (S8.2) -------------------------------------------------------------------------

/** Result of `sys.changeCode`. */
export type ChangeCodeResult =
  | { ok: true }
  | { error: 'not_suspended' }
  | { error: 'code_change_failed'; reason: unknown };

/** Result of `sys.getStatus`. */
export interface ServerStatus<State = unknown> {
  status: 'running' | 'suspended';
  module: string;
  state: State;
  pid: Pid;
  name?: string;
}

/**
 * OTP's `sys`, for any genServer (and supervisor). Every call is a promise
 * that rejects with code `'noproc'` or `'timeout'` like `genServer.call`.
 */
export interface SysApi {
  /** The server then handles only system requests until `resume`. */
  suspend(server: ServerRef, timeoutMs?: Timeout): Promise<void>;
  resume(server: ServerRef, timeoutMs?: Timeout): Promise<void>;
  /**
   * Only while suspended: runs the current version's `codeChange(oldVsn,
   * state, extra)` and keeps the state it returns (a module without
   * `codeChange` keeps its state).
   */
  changeCode(
    server: ServerRef,
    module: ModuleArg,
    oldVsn: string | undefined,
    extra?: unknown,
    timeoutMs?: Timeout,
  ): Promise<ChangeCodeResult>;
  getState<M = unknown>(server: ServerRef<M>, timeoutMs?: Timeout): Promise<StateOf<M>>;
  getStatus<M = unknown>(
    server: ServerRef<M>,
    timeoutMs?: Timeout,
  ): Promise<ServerStatus<StateOf<M>>>;
  /** OTP's `sys:replace_state`: the state becomes `fn(state)`; resolves with it. If `fn` throws, the state is unchanged and the promise rejects. */
  replaceState<S = unknown>(
    server: ServerRef,
    fn: (state: S) => S,
    timeoutMs?: Timeout,
  ): Promise<S>;
}

// ---- supervisor (S8.3) ------------------------------------------------------------------

export type RestartType = 'permanent' | 'transient' | 'temporary';
export type Shutdown = number | 'brutal_kill' | 'infinity';
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

/** A child of a supervisor. `start` is called with a qualified call and must resolve to a pid linked to the supervisor. */
export interface ChildSpec {
  id: string;
  start: [module: ModuleArg, fname: string, args: unknown[]];
  /** Default `'permanent'`. */
  restart?: RestartType;
  /** Milliseconds to wait after exit signal `'shutdown'` before killing; or `'brutal_kill'`. Default 5000. */
  shutdown?: Shutdown;
}

/** What a supervisor callback module's `init` returns. */
export interface SupervisorFlags {
  strategy: Strategy;
  /** Restarts allowed within `period` seconds (default 1). */
  intensity?: number;
  /** Seconds (default 5). */
  period?: number;
  children: ChildSpec[];
}

/** A supervisor callback module (OTP's `supervisor` behaviour). */
export interface SupervisorModule<Args = unknown> {
  init(args: Args): MaybePromise<SupervisorFlags>;
}

export interface ChildInfo {
  id: string;
  /** Absent while the child is not running. */
  pid?: Pid;
  restart: RestartType;
}

export type TerminateChildResult = { ok: true } | { error: 'not_found' };
/** `error` is `'running'`, `'not_found'`, or the reason the child failed to start. */
export type RestartChildResult =
  | { ok: true; pid: Pid }
  | { error: 'running' | 'not_found' | ExitReason };
/** `error` is `'already_present'` (the id is in use; `pid` when that child runs), or the reason the child failed to start. */
export type StartChildResult =
  | { ok: true; pid: Pid }
  | { error: 'already_present' | ExitReason; pid?: Pid };
export type DeleteChildResult = { ok: true } | { error: 'running' | 'not_found' };

/** The public API of `supervisor` (OTP's `supervisor`), S8.3. */
export interface SupervisorApi {
  /**
   * Starts a supervisor running `module`: its children are started in order;
   * if one fails, those started are shut down and the promise rejects (an
   * error with code `'failed_to_start_child'`, `id` and `reason`).
   */
  start<M = unknown>(
    module: M | string,
    args?: InitArgs<M>,
    opts?: ServerStartOptions,
  ): Promise<Pid>;
  startLink<M = unknown>(
    module: M | string,
    args?: InitArgs<M>,
    opts?: ServerStartOptions,
  ): Promise<Pid>;
  /** `[{ id, pid?, restart }]` in start order. */
  whichChildren(sup: ServerRef): Promise<ChildInfo[]>;
  terminateChild(sup: ServerRef, id: string): Promise<TerminateChildResult>;
  restartChild(sup: ServerRef, id: string): Promise<RestartChildResult>;
  startChild(sup: ServerRef, spec: ChildSpec): Promise<StartChildResult>;
  deleteChild(sup: ServerRef, id: string): Promise<DeleteChildResult>;
}

// ---- release upgrade (S8.4) ---------------------------------------------------------------

export interface UpgradeChange {
  server: ServerRef;
  /** The server's callback module (its `vsn` before the load is passed to `codeChange`). */
  module: ModuleArg;
  extra?: unknown;
}

export interface UpgradeOptions {
  /** Modules whose new object files are already on the code path. */
  load: ModuleArg[];
  /** Servers to suspend, migrate with `codeChange` and resume. */
  change?: UpgradeChange[];
  /** Timeout of each `sys` request to a server (default 5000 ms). */
  timeoutMs?: Timeout;
}

export type UpgradeError =
  /** Old versions in use outside `change` would break (S6.2 transitions; `diagnostics`, `oldUsers`). */
  | 'compile'
  /** The node stopped before the upgrade was done (S0.1). */
  | 'stopped'
  | 'nofile'
  | 'badfile'
  | 'not_purged'
  | 'on_load_failure'
  | 'noproc'
  | 'timeout'
  | 'code_change_failed'
  | LoadError;

export type UpgradeResult =
  | {
      ok: true;
      /** How long the servers of `change` were suspended (milliseconds). */
      pausedMs: number;
      /** Modules whose replaced version is still used by some process (the final soft purge was refused). */
      oldInUse?: string[];
    }
  | {
      error: UpgradeError;
      module?: string;
      server?: ServerRef;
      reason?: unknown;
      /** With `'compile'`: the transition errors. */
      diagnostics?: import('./types.js').Diagnostic[];
      /** With `'compile'`: who runs the old versions that would break. */
      oldUsers?: import('./types.js').OldUsers[];
      rolledBack: true;
    }
  | { error: 'stopped' };

/** A release upgrade (S8.4). */
export type UpgradeFn = (opts: UpgradeOptions) => Promise<UpgradeResult>;
