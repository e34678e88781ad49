/**
 * supervisor — OTP's supervisor as a hot module of the runtime (S8.3).
 *
 * A supervisor is a genServer whose callback module is this one (as in OTP,
 * where supervisor is a gen_server): `init`, `handleCall`, `handleInfo` and
 * `terminate` below are its callbacks; `start`, `startLink`, `whichChildren`,
 * `terminateChild`, `restartChild`, `startChild` and `deleteChild` are the
 * API. It traps exits; its children are linked to it. Each child is started
 * with a qualified call of its `start: [module, fname, args]`, so a child
 * killed by a purge is restarted on the current code.
 *
 * Restarts follow OTP (`supervisor.erl`): permanent always, transient on an
 * abnormal exit, temporary never; every restart and every failed restart
 * attempt counts towards `intensity` within `period` seconds; beyond it the
 * supervisor shuts its children down in reverse start order and exits with
 * reason `'shutdown'`.
 */
import {
  exit,
  HotcodeError,
  link,
  monitor,
  Pid,
  receive,
  self,
  send,
  services,
  trapExit,
  unlink,
} from 'hotcode';
import type {
  ChildInfo,
  ChildSpec,
  DeleteChildResult,
  InitArgs,
  RestartChildResult,
  RestartType,
  ServerRef,
  ServerStartOptions,
  Shutdown,
  StartChildResult,
  Strategy,
  SupervisorFlags,
  TerminateChildResult,
} from '../behaviours.js';
import * as genServer from './genServer';

export const vsn = '1';

type Fn = (...args: unknown[]) => unknown;

interface Spec {
  id: string;
  module: string;
  fname: string;
  args: unknown[];
  restart: RestartType;
  shutdown: Shutdown;
  /** As given (whichChildren and startChild compare ids only). */
  original: ChildSpec;
}

interface Child {
  spec: Spec;
  /** The running process; undefined while it is not running. */
  pid: Pid | undefined;
}

/** The supervisor's state (a genServer state). */
export interface SupervisorState {
  module: string;
  strategy: Strategy;
  intensity: number;
  period: number;
  /** In start order. */
  children: Child[];
  /** Times (performance.now()) of the restarts within the period. */
  restarts: number[];
}

type Req =
  | { type: 'which' }
  | { type: 'terminate'; id: string }
  | { type: 'restart'; id: string }
  | { type: 'start'; spec: ChildSpec }
  | { type: 'delete'; id: string };

// ---- API -------------------------------------------------------------------------------

/**
 * Starts a supervisor running callback module `module` (its `init(args)`
 * returns the flags and children); resolves with its pid once every child
 * has started. If a child fails to start, the children already started are
 * shut down and the promise rejects with an error of code
 * `'failed_to_start_child'` (with `id` and `reason`).
 */
export function start<M = unknown>(
  module: M | string,
  args?: InitArgs<M>,
  opts?: ServerStartOptions,
): Promise<Pid> {
  const name = services.moduleArg(module, 'supervisor.start');
  return genServer.start('supervisor', { module: name, args }, opts);
}

/** As start, linked to the calling process. */
export function startLink<M = unknown>(
  module: M | string,
  args?: InitArgs<M>,
  opts?: ServerStartOptions,
): Promise<Pid> {
  const name = services.moduleArg(module, 'supervisor.startLink');
  return genServer.startLink('supervisor', { module: name, args }, opts);
}

/** `[{ id, pid?, restart }]` in start order. */
export function whichChildren(sup: ServerRef): Promise<ChildInfo[]> {
  return genServer.call(sup, { type: 'which' }, 'infinity') as Promise<ChildInfo[]>;
}

/** Shuts the child down (it is not restarted); a temporary child's spec is removed. */
export function terminateChild(sup: ServerRef, id: string): Promise<TerminateChildResult> {
  return genServer.call(
    sup,
    { type: 'terminate', id },
    'infinity',
  ) as Promise<TerminateChildResult>;
}

/** Starts a child that is not running (after terminateChild). */
export function restartChild(sup: ServerRef, id: string): Promise<RestartChildResult> {
  return genServer.call(sup, { type: 'restart', id }, 'infinity') as Promise<RestartChildResult>;
}

/** Adds and starts a child (it is added only if it starts). */
export function startChild(sup: ServerRef, spec: ChildSpec): Promise<StartChildResult> {
  normalize(spec); // misuse throws in the caller
  return genServer.call(sup, { type: 'start', spec }, 'infinity') as Promise<StartChildResult>;
}

/** Removes the spec of a child that is not running. */
export function deleteChild(sup: ServerRef, id: string): Promise<DeleteChildResult> {
  return genServer.call(sup, { type: 'delete', id }, 'infinity') as Promise<DeleteChildResult>;
}

// ---- genServer callbacks ------------------------------------------------------------------

function failure(code: string, message: string, extra: Record<string, unknown>): HotcodeError {
  return Object.assign(new HotcodeError(code, message), extra);
}

/** Exit reasons and values in messages: the runtime's one safe description. */
const describe = (value: unknown): string => services.describe(value);

function badSpec(message: string): never {
  throw failure('bad_child_spec', `supervisor: ${message}`, {});
}

function normalize(spec: ChildSpec): Spec {
  if (spec === null || typeof spec !== 'object')
    badSpec(`a child spec must be an object, got ${describe(spec)}`);
  const { id, start, restart = 'permanent', shutdown = 5000 } = spec;
  if (typeof id !== 'string') badSpec(`a child id must be a string, got ${describe(id)}`);
  if (!Array.isArray(start) || start.length < 2 || typeof start[1] !== 'string')
    badSpec(`child '${id}': start must be [module, fname, args]`);
  const args = start[2] ?? [];
  if (!Array.isArray(args)) badSpec(`child '${id}': the args of start must be an array`);
  if (restart !== 'permanent' && restart !== 'transient' && restart !== 'temporary')
    badSpec(`child '${id}': restart must be 'permanent', 'transient' or 'temporary'`);
  if (
    shutdown !== 'brutal_kill' &&
    shutdown !== 'infinity' &&
    !(typeof shutdown === 'number' && shutdown >= 0)
  )
    badSpec(`child '${id}': shutdown must be a number of ms, 'brutal_kill' or 'infinity'`);
  const module = services.moduleArg(start[0], `supervisor child '${id}'`);
  return { id, module, fname: start[1], args, restart, shutdown, original: spec };
}

/** genServer init: the callback module's flags, then its children in order. */
export async function init(arg: { module: string; args: unknown }): Promise<SupervisorState> {
  trapExit(true);
  const cell = services.cellOf(arg.module);
  let flags = (cell.v.init as Fn)(arg.args) as SupervisorFlags | Promise<SupervisorFlags>;
  if (flags instanceof Promise) flags = await flags;
  const f = flags as SupervisorFlags;
  if (f === null || typeof f !== 'object')
    throw failure(
      'bad_flags',
      `supervisor: ${arg.module}.init returned ${describe(f)}; expected { strategy, children }`,
      {},
    );
  const { strategy, intensity = 1, period = 5, children = [] } = f;
  if (strategy !== 'one_for_one' && strategy !== 'one_for_all' && strategy !== 'rest_for_one')
    throw failure(
      'bad_flags',
      `supervisor: ${arg.module}.init: strategy must be 'one_for_one', 'one_for_all' or 'rest_for_one'`,
      {},
    );
  if (typeof intensity !== 'number' || intensity < 0)
    throw failure(
      'bad_flags',
      `supervisor: ${arg.module}.init: intensity must be a number ≥ 0`,
      {},
    );
  if (typeof period !== 'number' || !(period > 0))
    throw failure('bad_flags', `supervisor: ${arg.module}.init: period must be a number > 0`, {});
  if (!Array.isArray(children))
    throw failure('bad_flags', `supervisor: ${arg.module}.init: children must be an array`, {});
  const specs = children.map(normalize);
  const ids = new Set<string>();
  for (const s of specs) {
    if (ids.has(s.id)) badSpec(`duplicate child id '${s.id}'`);
    ids.add(s.id);
  }
  const state: SupervisorState = {
    module: arg.module,
    strategy,
    intensity,
    period,
    children: [],
    restarts: [],
  };
  for (const spec of specs) {
    const r = await startProc(spec);
    if ('error' in r) {
      await shutdownAll(state);
      // {shutdown, …} as OTP's {shutdown, {failed_to_start_child, Id, Reason}}: an orderly exit, no crash report.
      throw failure(
        'failed_to_start_child',
        `supervisor ${arg.module}: child '${spec.id}' failed to start: ${describe(r.error)}`,
        {
          id: spec.id,
          reason: r.error,
          shutdown: { failedToStartChild: spec.id, reason: r.error },
        },
      );
    }
    state.children.push({ spec, pid: r.pid });
  }
  return state;
}

export async function handleCall(req: Req, _from: unknown, s: SupervisorState) {
  switch (req.type) {
    case 'which':
      return {
        reply: s.children.map(
          (c): ChildInfo =>
            c.pid
              ? { id: c.spec.id, pid: c.pid, restart: c.spec.restart }
              : { id: c.spec.id, restart: c.spec.restart },
        ),
        state: s,
      };
    case 'terminate': {
      const c = find(s, req.id);
      if (c === undefined) return { reply: { error: 'not_found' }, state: s };
      await shutdownChild(c);
      if (c.spec.restart === 'temporary') remove(s, c);
      return { reply: { ok: true }, state: s };
    }
    case 'restart': {
      const c = find(s, req.id);
      if (c === undefined) return { reply: { error: 'not_found' }, state: s };
      if (c.pid !== undefined) return { reply: { error: 'running' }, state: s };
      const r = await startProc(c.spec);
      if ('error' in r) return { reply: { error: r.error }, state: s };
      c.pid = r.pid;
      return { reply: { ok: true, pid: r.pid }, state: s };
    }
    case 'start': {
      let spec: Spec;
      try {
        spec = normalize(req.spec);
      } catch (e) {
        return { reply: { error: e }, state: s };
      }
      // An id already in use, running or not, is `already_present` (S8.3's closed set);
      // OTP's {already_started, Pid} for a running child is kept as a non-enumerable `pid`.
      const c = find(s, spec.id);
      if (c !== undefined) {
        const reply = { error: 'already_present' };
        if (c.pid !== undefined) Object.defineProperty(reply, 'pid', { value: c.pid });
        return { reply, state: s };
      }
      const r = await startProc(spec);
      if ('error' in r) return { reply: { error: r.error }, state: s };
      s.children.push({ spec, pid: r.pid });
      return { reply: { ok: true, pid: r.pid }, state: s };
    }
    case 'delete': {
      const c = find(s, req.id);
      if (c === undefined) return { reply: { error: 'not_found' }, state: s };
      if (c.pid !== undefined) return { reply: { error: 'running' }, state: s };
      remove(s, c);
      return { reply: { ok: true }, state: s };
    }
    default:
      return { reply: { error: 'unknown_request' }, state: s };
  }
}

export function handleCast(_msg: unknown, s: SupervisorState) {
  return { state: s };
}

/** Exit messages of children; retries of failed restarts. */
export async function handleInfo(
  msg: unknown,
  s: SupervisorState,
): Promise<{ state: SupervisorState } | { stop: unknown; state: SupervisorState }> {
  const m = msg as {
    type?: unknown;
    from?: unknown;
    reason?: unknown;
    $sup?: unknown;
    id?: unknown;
  } | null;
  if (m === null || typeof m !== 'object') return { state: s };
  if (m.$sup === 'retry') {
    const c = find(s, m.id as string);
    if (c === undefined || c.pid !== undefined) return { state: s };
    return restart(s, c);
  }
  if (m.type !== 'EXIT') return { state: s };
  const c = s.children.find((x) => x.pid === m.from);
  if (c === undefined) return { state: s }; // not a child (any more)
  c.pid = undefined;
  const reason = m.reason;
  if (c.spec.restart === 'temporary') {
    remove(s, c);
    return { state: s };
  }
  if (c.spec.restart === 'transient' && isNormal(reason)) return { state: s };
  return restart(s, c);
}

/** OTP: transient children are restarted unless they exit normal, shutdown or {shutdown, _}. */
function isNormal(reason: unknown): boolean {
  return (
    reason === 'normal' ||
    reason === 'shutdown' ||
    (typeof reason === 'object' &&
      reason !== null &&
      (reason as { shutdown?: unknown }).shutdown !== undefined &&
      !(reason instanceof Error))
  );
}

/** Shuts every child down, in reverse start order (OTP's terminate_children). */
export async function terminate(_reason: unknown, s: SupervisorState): Promise<void> {
  await shutdownAll(s);
}

// ---- restarts ----------------------------------------------------------------------------

/** Counts a restart; false when the intensity is exceeded. */
function addRestart(s: SupervisorState): boolean {
  const now = performance.now();
  const since = now - s.period * 1000;
  s.restarts = s.restarts.filter((t) => t > since);
  s.restarts.push(now);
  return s.restarts.length <= s.intensity;
}

async function restart(
  s: SupervisorState,
  c: Child,
): Promise<{ state: SupervisorState } | { stop: unknown; state: SupervisorState }> {
  if (!addRestart(s)) {
    services.report(
      `=SUPERVISOR REPORT==== supervisor ${self()} (${s.module}): reached the maximum restart intensity (${s.intensity} in ${s.period} s) after child '${c.spec.id}' exited; shutting down`,
      { pid: self(), reason: 'shutdown' },
    );
    return { stop: 'shutdown', state: s };
  }
  const i = s.children.indexOf(c);
  // Which children go down and come back up with it.
  const all =
    s.strategy === 'one_for_one'
      ? [c]
      : s.strategy === 'one_for_all'
        ? s.children.slice()
        : s.children.slice(i);
  // Children stopped on purpose (terminateChild) stay stopped.
  const group = all.filter((x) => x === c || x.pid !== undefined);
  for (const other of group.slice().reverse()) {
    if (other === c) continue;
    await shutdownChild(other);
  }
  for (const other of group) {
    if (other !== c && other.spec.restart === 'temporary') {
      remove(s, other); // terminated as part of the group: temporary children are not restarted
      continue;
    }
    const r = await startProc(other.spec);
    if ('error' in r) {
      // Try again later (each attempt counts towards the intensity), as OTP's try_again_restart.
      services.report(
        `=SUPERVISOR REPORT==== supervisor ${self()} (${s.module}): child '${other.spec.id}' failed to restart: ${describe(r.error)}`,
        { pid: self(), reason: r.error },
      );
      retryLater(other);
      return { state: s };
    }
    other.pid = r.pid;
  }
  return { state: s };
}

function retryLater(c: Child): void {
  send(self(), { $sup: 'retry', id: c.spec.id });
}

/** Starts a child with a qualified call of its start function: `{ pid }` or `{ error }`. */
async function startProc(spec: Spec): Promise<{ pid: Pid } | { error: unknown }> {
  let r: unknown;
  try {
    const cell = services.cellOf(spec.module);
    r = (cell.v[spec.fname] as Fn)(...spec.args);
    if (r instanceof Promise) r = await r;
  } catch (error) {
    return { error };
  }
  if (!(r instanceof Pid))
    return {
      error: failure(
        'bad_start_value',
        `${spec.module}.${spec.fname} returned ${describe(r)}; a child's start function must resolve to a pid linked to the supervisor`,
        { value: r },
      ),
    };
  link(r); // it should be linked already; a child that is already dead gives an exit message
  return { pid: r };
}

/** Shuts a child down as OTP does: exit signal 'shutdown', wait `shutdown` ms, then kill. */
async function shutdownChild(c: Child): Promise<void> {
  const pid = c.pid;
  if (pid === undefined) return;
  c.pid = undefined;
  const ref = monitor(pid);
  unlink(pid);
  // An exit message it sent before the unlink is no longer of interest.
  while ((await receive((m) => isExitFrom(m, pid), 0)) !== undefined);
  const isDown = (m: unknown) =>
    (m as { type?: unknown; ref?: unknown } | null)?.type === 'DOWN' &&
    (m as { ref: unknown }).ref === ref;
  const shutdown = c.spec.shutdown;
  if (shutdown === 'brutal_kill') {
    exit(pid, 'kill');
    await receive(isDown);
    return;
  }
  exit(pid, 'shutdown');
  const down = await receive(isDown, shutdown);
  if (down === undefined) {
    exit(pid, 'kill');
    await receive(isDown);
  }
}

function isExitFrom(m: unknown, pid: Pid): boolean {
  const x = m as { type?: unknown; from?: unknown } | null;
  return x !== null && typeof x === 'object' && x.type === 'EXIT' && x.from === pid;
}

async function shutdownAll(s: SupervisorState): Promise<void> {
  for (const c of s.children.slice().reverse()) await shutdownChild(c);
}

function find(s: SupervisorState, id: string): Child | undefined {
  return s.children.find((c) => c.spec.id === id);
}

function remove(s: SupervisorState, c: Child): void {
  const i = s.children.indexOf(c);
  if (i >= 0) s.children.splice(i, 1);
}
