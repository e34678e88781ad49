/**
 * genServer — OTP's gen_server as a hot module of the runtime (S8.1).
 *
 * A server is a process that loops over its mailbox and calls its callback
 * module with qualified calls (through the module's cell), so a new version of
 * the callback module handles the next message and the server survives every
 * upgrade and purge of it.
 *
 * The protocol (messages with a `$gen` field are reserved, as OTP's
 * `'$gen_call'`):
 * - `{ $gen: 'call', from, request }` → `handleCall`; the reply goes straight
 *   to the caller's waiting promise through `from` (below);
 * - `{ $gen: 'cast', msg }` → `handleCast`;
 * - `{ $gen: 'system', from, request }` → sys requests (suspend, resume,
 *   getState, getStatus, changeCode, replaceState, terminate), the only ones
 *   a suspended server handles;
 * - an exit message from the parent (the process that linked it with
 *   startLink) → terminate with that reason, as OTP's gen_server;
 * - anything else → `handleInfo`.
 *
 * Replies do not go through the caller's mailbox: a caller waits on a promise
 * that `from` settles, and a per-server set of pending calls is failed with
 * `exit` when the server's process ends (its AbortSignal). So calls work from
 * plain code (S0.2), and several request callbacks of one process (an HTTP
 * listener's) may have calls in flight at once — a mailbox has one waiting
 * receive at a time. A late reply (after a timeout) is dropped: `from` is
 * closed when its caller stops waiting (OTP 24 drops it with an alias).
 */
import {
  BadArgError,
  exit,
  HotcodeError,
  isProcessAlive,
  Pid,
  register,
  run,
  send,
  services,
  spawn,
  spawnLink,
  whereis,
} from 'hotcode';
import type {
  CallReply,
  CallRequest,
  CastRequest,
  From,
  InitArgs,
  ServerPid,
  ServerRef,
  ServerStartOptions,
  Timeout,
} from '../behaviours.js';

export const vsn = '1';

type Cell = { v: Record<string, unknown> };
type Fn = (...args: unknown[]) => unknown;

/** A caller waiting for a reply (the runtime side of `From`). */
/**
 * A caller waiting for a reply (the runtime side of `From`). A class, so a
 * server can tell a genuine caller from a forged `from` in a message that
 * merely looks like a call (`instanceof`, cheaper than a registry): a forged
 * one is an info message, never settled, never able to stop the server.
 */
class Caller implements From {
  /** False once the caller stopped waiting (replied, timed out, server died): later replies are dropped. */
  open = true;
  readonly tag = {};
  /** When it times out (ticks of its queue), if it has a timeout. */
  deadline = 0;
  /** The timeout queue it is in, if any. */
  queue: TimeoutQueue | undefined = undefined;
  constructor(
    readonly pid: Pid,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
    /** The pending set of the server it waits on. */
    public pending: Set<Caller> | undefined,
    /** The API function waiting (for error messages). */
    readonly what: string,
  ) {}
}

/** The state of one server process (kept in its loop's frame). */
interface Server {
  module: string;
  cell: Cell;
  state: unknown;
  /** The process that started it with startLink (its exit message terminates the server). */
  parent: Pid | undefined;
  name: string | undefined;
  suspended: boolean;
  self: Pid;
  /** Which messages a suspended server takes. */
  systemOnly: (m: unknown) => boolean;
}

// ---- calls (client side) ---------------------------------------------------------------

/** Pending calls per live server process, failed when it exits. */
const pendingOf = new WeakMap<Pid, Set<Caller>>();

/** The pending calls of a live server (undefined if it is not alive). */
function pendingFor(pid: Pid): Set<Caller> | undefined {
  let set = pendingOf.get(pid);
  if (set === undefined) {
    const s = new Set<Caller>();
    const alive = services.onExit(pid, (reason) => {
      pendingOf.delete(pid);
      for (const c of s) settle(c, false, exitError(reason, pid));
      s.clear();
    });
    if (!alive) return undefined;
    set = s;
    pendingOf.set(pid, s);
  }
  return set;
}

function settle(c: Caller, ok: boolean, value: unknown): void {
  if (!c.open) return;
  c.open = false;
  if (c.queue !== undefined) dequeue(c.queue);
  c.pending?.delete(c);
  if (ok) c.resolve(value);
  else c.reject(value);
}

function callError(code: string, message: string, extra?: Record<string, unknown>): HotcodeError {
  const e = new HotcodeError(code, message);
  if (extra) Object.assign(e, extra);
  return e;
}

function exitError(reason: unknown, pid: Pid): HotcodeError {
  if (reason === 'noproc')
    return callError('noproc', `genServer.call: server ${pid} does not exist`);
  return callError(
    'exit',
    `genServer.call: server ${pid} exited during the call (reason: ${describe(reason)})`,
    {
      reason,
    },
  );
}

/** Exit reasons and values in messages: the runtime's one safe description. */
const describe = (value: unknown): string => services.describe(value);

// Timeouts: a setTimeout per call costs more than the call itself (~1 µs
// here), and so does reading a clock (~90 ns: an exact per-call deadline cost
// 15–20 % of call throughput). Callers with the same timeout wait in one FIFO
// queue under one ticking timer (a tick is 1/64 of the timeout, at least
// 1 ms); a caller times out at a tick between timeoutMs and timeoutMs + one
// tick after its call (≤ 1.016 × timeoutMs for timeouts of 64 ms and more). A
// settled caller leaves the queue lazily, from the head. A tick that finds no
// open caller unrefs the timer (it holds the event loop open at most one tick
// after the last call), and the ticking stops at the first tick that finds
// the queue empty.

interface TimeoutQueue {
  items: (Caller | undefined)[];
  head: number;
  /** Open callers in the queue. */
  open: number;
  /** Ticks so far. */
  epoch: number;
  tick: number;
  /** Ticks a caller waits (after the tick it entered in). */
  span: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Whether the timer holds the event loop open (it does while callers may be open). */
  reffed: boolean;
  ms: number;
}

const TICKS = 64;
const queues = new Map<number, TimeoutQueue>();

function enqueue(c: Caller, ms: number): void {
  let q = queues.get(ms);
  if (q === undefined) {
    const tick = Math.max(1, Math.floor(ms / TICKS));
    q = {
      items: [],
      head: 0,
      open: 0,
      epoch: 0,
      tick,
      span: Math.ceil(ms / tick) + 1,
      timer: undefined,
      reffed: false,
      ms,
    };
    queues.set(ms, q);
  }
  c.deadline = q.epoch + q.span;
  c.queue = q;
  q.items.push(c);
  q.open++;
  if (q.timer === undefined) arm(q);
  else if (!q.reffed) {
    q.timer.ref();
    q.reffed = true;
  }
}

// The timer is unref'd by the next tick that finds no open caller, not at
// each reply: ref()/unref() per call cost ~9 % of call throughput.
function dequeue(q: TimeoutQueue): void {
  --q.open;
  const items = q.items;
  while (q.head < items.length && !items[q.head]!.open) items[q.head++] = undefined;
  if (q.head === items.length) {
    if (q.head > 256) q.items = [];
    else items.length = 0;
    q.head = 0;
  } else if (q.head > 1024 && q.head * 2 > items.length) {
    q.items = items.slice(q.head);
    q.head = 0;
  }
}

function arm(q: TimeoutQueue): void {
  q.reffed = true;
  q.timer = setTimeout(() => {
    const epoch = ++q.epoch;
    const items = q.items;
    while (q.head < items.length) {
      const c = items[q.head]!;
      if (c.open && c.deadline > epoch) break;
      items[q.head++] = undefined;
      if (c.open) {
        c.queue = undefined;
        q.open--;
        settle(c, false, callError('timeout', `${c.what}: no reply within ${q.ms} ms`));
      }
    }
    if (q.head >= items.length) {
      q.items = [];
      q.head = 0;
      q.timer = undefined;
    } else {
      arm(q);
      if (q.open === 0) {
        q.timer!.unref();
        q.reffed = false;
      }
    }
  }, q.tick);
}

/** The pid of a live server argument, or undefined (no such server). */
function serverPid(server: unknown, what: string): Pid | undefined {
  let pid: Pid | undefined;
  if (server instanceof Pid) pid = server;
  else if (typeof server === 'string') pid = whereis(server);
  else
    throw new BadArgError(
      `${what}: the server must be a Pid or a registered name, got ${typeof server}`,
    );
  return pid !== undefined && isProcessAlive(pid) ? pid : undefined;
}

function checkTimeout(t: unknown, what: string): void {
  if (t === 'infinity') return;
  if (typeof t !== 'number' || !(t >= 0))
    throw new BadArgError(`${what}: timeoutMs must be a non-negative number or 'infinity'`);
}

/**
 * Sends `msg(from)` to the server and waits for `from` to be settled. The
 * engine of call, the sys requests and stop.
 */
function request(
  server: unknown,
  kind: 'call' | 'system',
  body: unknown,
  timeoutMs: Timeout,
  what: string,
): Promise<unknown> {
  const me = services.caller();
  if (me !== undefined && services.callerExit() !== undefined)
    return Promise.reject(callError('noproc', `${what}: the calling process has exited`));
  const target = serverPid(server, what);
  checkTimeout(timeoutMs, what);
  if (target === undefined)
    return Promise.reject(callError('noproc', `${what}: no such server ${String(server)}`));
  if (me === undefined) {
    // Plain code (S0.2): the call is made by a short-lived process of its own.
    return outside(() => request(server, kind, body, timeoutMs, what));
  }
  if (target === me)
    return Promise.reject(
      callError(
        'calling_self',
        `${what}: server ${me} called itself; it would wait for its own reply`,
      ),
    );
  const pending = pendingFor(target);
  if (pending === undefined)
    return Promise.reject(callError('noproc', `${what}: no such server ${String(server)}`));
  return new Promise((resolve, reject) => {
    const from = new Caller(me, resolve, reject, pending, what);
    pending.add(from);
    if (timeoutMs !== 'infinity') enqueue(from, timeoutMs);
    send(target, { $gen: kind, from, request: body });
  });
}

async function outside<T>(f: () => Promise<T>): Promise<T> {
  const r = await run(async () => {
    try {
      return { ok: true as const, value: await f() };
    } catch (error) {
      return { ok: false as const, error };
    }
  });
  if (r.ok) return r.value;
  throw r.error;
}

/**
 * Sends `request` to the server and waits for its reply (S8.1). Rejects
 * with code `'timeout'` (after `timeoutMs`, default 5000; `'infinity'`
 * waits forever; a late reply is dropped), `'noproc'`, `'exit'` (with
 * `reason`) or `'calling_self'`.
 */
export function call<M = unknown>(
  server: ServerRef<M>,
  request_: CallRequest<M>,
  timeoutMs: Timeout = 5000,
): Promise<CallReply<M>> {
  return request(server, 'call', request_, timeoutMs, 'genServer.call') as Promise<CallReply<M>>;
}

/** A sys request (sys.ts); the same engine as call. */
export function systemCall(
  server: unknown,
  req: unknown,
  timeoutMs: Timeout,
  what: string,
): Promise<unknown> {
  return request(server, 'system', req, timeoutMs, what);
}

/** Sends `msg` to be handled by `handleCast`; never fails. */
export function cast<M = unknown>(server: ServerRef<M>, msg: CastRequest<M>): void {
  try {
    const pid = typeof server === 'string' ? whereis(server) : server;
    if (pid instanceof Pid) send(pid, { $gen: 'cast', msg });
  } catch {
    // never fails (as OTP's gen_server:cast): also from a callback of a process that has exited
  }
}

/** Answers a call left with `{ noreply: true }`; a reply to a caller that stopped waiting is dropped. */
export function reply(from: From, value: unknown): void {
  if (!(from instanceof Caller))
    throw new BadArgError('genServer.reply: expected the `from` argument of handleCall');
  settle(from, true, value);
}

/**
 * Stops a server: it runs `terminate(reason, state)` and exits with
 * `reason`; resolves once it has exited. Rejects `noproc` if there is no
 * such server, `exit` if it ended with another reason.
 */
export async function stop(
  server: ServerRef,
  reason: unknown = 'normal',
  timeoutMs: Timeout = 'infinity',
): Promise<void> {
  try {
    await request(server, 'system', { type: 'terminate', reason }, timeoutMs, 'genServer.stop');
  } catch (e) {
    const err = e as HotcodeError & { reason?: unknown };
    if (err.code === 'exit' && err.reason === reason) return;
    throw e;
  }
}

// ---- starting ------------------------------------------------------------------------

/**
 * Starts a server running `module`; resolves with its pid once `init` has
 * returned, rejects with what `init` threw (the new process exits with it).
 */
export function start<M = unknown>(
  module: M | string,
  args?: InitArgs<M>,
  opts?: ServerStartOptions,
): Promise<ServerPid<M>> {
  return startServer(false, module, args, opts, 'genServer.start') as Promise<ServerPid<M>>;
}

/** As start, linked to the calling process (from plain code there is nothing to link to). */
export function startLink<M = unknown>(
  module: M | string,
  args?: InitArgs<M>,
  opts?: ServerStartOptions,
): Promise<ServerPid<M>> {
  return startServer(true, module, args, opts, 'genServer.startLink') as Promise<ServerPid<M>>;
}

function startServer(
  link: boolean,
  module: unknown,
  args: unknown,
  opts: ServerStartOptions | undefined,
  what: string,
): Promise<Pid> {
  const name = services.moduleArg(module, what);
  if (opts !== undefined && (typeof opts !== 'object' || opts === null))
    throw new BadArgError(`${what}: opts must be an object`);
  const regName = opts?.name;
  if (regName !== undefined && (typeof regName !== 'string' || regName === ''))
    throw new BadArgError(`${what}: opts.name must be a non-empty string`);
  const me = services.caller();
  if (me !== undefined && services.callerExit() !== undefined)
    return Promise.reject(callError('noproc', `${what}: the calling process has exited`));
  if (regName !== undefined) {
    const taken = whereis(regName);
    if (taken !== undefined)
      return Promise.reject(
        callError(
          'already_started',
          `${what}: the name '${regName}' is already registered to ${taken}`,
          { pid: taken },
        ),
      );
  }
  return new Promise((resolve, reject) => {
    const ack = new Caller(me as Pid, resolve, reject, undefined, what);
    // The initial call shows as `<module>.init/1` in processInfo.
    const body = {
      [`${name}.init`]: (a: unknown) =>
        serverMain(name, a, regName, link && me !== undefined ? me : undefined, ack),
    }[`${name}.init`]!;
    const pid: Pid = link && me !== undefined ? spawnLink(body, args) : spawn(body, args);
    if (ack.open) {
      // Still in init: if the process dies before it acknowledges, fail the start with its reason.
      const pending = pendingFor(pid);
      if (pending === undefined) settle(ack, false, exitReason(pid));
      else {
        ack.pending = pending;
        pending.add(ack);
      }
    }
  }).then(
    (pid) => pid as Pid,
    (e) => {
      throw e instanceof HotcodeError && e.code === 'exit' ? (e as { reason?: unknown }).reason : e;
    },
  );
}

function exitReason(_pid: Pid): HotcodeError {
  return callError('exit', 'the server exited during init', { reason: 'noproc' });
}

// ---- the server process ----------------------------------------------------------------

async function serverMain(
  module: string,
  args: unknown,
  name: string | undefined,
  parent: Pid | undefined,
  ack: Caller,
) {
  const me = services.caller()!;
  if (name !== undefined) {
    try {
      register(name, me);
    } catch {
      settle(
        ack,
        false,
        callError('already_started', `genServer.start: the name '${name}' is already registered`, {
          pid: whereis(name),
        }),
      );
      return;
    }
  }
  const cell: Cell = services.cellOf(module);
  let state: unknown;
  try {
    state = (cell.v.init as Fn)(args);
    if (isThenable(state)) state = await state;
  } catch (e) {
    const exited = services.callerExit();
    if (exited !== undefined) {
      // init called exit(reason): the process has ended already.
      settle(ack, false, exited.reason);
      throw e;
    }
    settle(ack, false, e);
    return exit(e);
  }
  const s: Server = {
    module,
    cell,
    state,
    parent,
    name,
    suspended: false,
    self: me,
    systemOnly: (m) => isSystem(m, parent),
  };
  settle(ack, true, me);
  return loop(s);
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (
    x !== null && typeof x === 'object' && typeof (x as { then?: unknown }).then === 'function'
  );
}

type Kind = 'call' | 'cast' | 'system' | 'parentExit' | 'info';

/**
 * What a message is to the server. Calls and system requests carry a genuine
 * caller (made by this module); anything else — a forged `from`, a message
 * whose properties throw when read — is an info message (S5.2, S8.1).
 */
function kindOf(m: unknown, parent: Pid | undefined): Kind {
  if (m === null || typeof m !== 'object') return 'info';
  try {
    const msg = m as { $gen?: unknown; type?: unknown; from?: unknown };
    const gen = msg.$gen;
    if (gen === 'call' || gen === 'system') return msg.from instanceof Caller ? gen : 'info';
    if (gen === 'cast') return 'cast';
    if (parent !== undefined && msg.type === 'EXIT' && msg.from === parent) return 'parentExit';
    return 'info';
  } catch {
    return 'info';
  }
}

function isSystem(m: unknown, parent: Pid | undefined): boolean {
  const k = kindOf(m, parent);
  return k === 'system' || k === 'parentExit';
}

/** What a step of the loop decided: go on, or stop with a reason (after terminate). */
type Step = undefined | { stop: unknown };

/** The server's main loop: one message at a time, in constant memory. */
async function loop(s: Server): Promise<void> {
  for (;;) {
    // Boxed, so that any message reaches the server — even one whose properties
    // (its `then` included) throw when read: an info message (S5.2).
    const msg = (await services.receiveBoxed(s.suspended ? s.systemOnly : undefined)).msg;
    let step: Step | Promise<Step>;
    const kind = kindOf(msg, s.parent);
    // Synchronous callbacks are handled without a promise per message.
    if (kind === 'call') step = handleCall(s, msg as { from: Caller; request: unknown });
    else if (kind === 'cast') step = handleCast(s, msg);
    else if (kind === 'system')
      step = await handleSystem(s, msg as { from: Caller; request: { type: string } });
    else if (kind === 'parentExit') step = { stop: (msg as { reason: unknown }).reason };
    else step = handleNoReply(s, 'handleInfo', msg);
    if (step !== undefined && isThenable(step)) step = await step;
    if (step !== undefined) return terminate(s, (step as { stop: unknown }).stop);
  }
}

function handleCall(s: Server, m: { from: Caller; request: unknown }): Step | Promise<Step> {
  let r: unknown;
  try {
    r = (s.cell.v.handleCall as Fn)(m.request, m.from, s.state);
  } catch (e) {
    return { stop: e };
  }
  if (isThenable(r))
    return awaitResult(r).then((x) =>
      'error' in x ? { stop: x.error } : callResult(s, m, x.value),
    );
  return callResult(s, m, r);
}

function callResult(s: Server, m: { from: Caller }, r: unknown): Step {
  if (r === null || typeof r !== 'object' || !('state' in r)) return badReturn(s, 'handleCall', r);
  const res = r as { reply?: unknown; noreply?: unknown; stop?: unknown; state: unknown };
  s.state = res.state;
  if ('stop' in res) {
    if ('reply' in res) settle(m.from, true, res.reply);
    return { stop: res.stop };
  }
  if ('reply' in res) {
    settle(m.from, true, res.reply);
    return undefined;
  }
  if (res.noreply === true) return undefined;
  return badReturn(s, 'handleCall', r);
}

async function awaitResult(
  p: PromiseLike<unknown>,
): Promise<{ value: unknown } | { error: unknown }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  }
}

function handleCast(s: Server, m: unknown): Step | Promise<Step> {
  let payload: unknown;
  try {
    payload = (m as { msg: unknown }).msg;
  } catch {
    return handleNoReply(s, 'handleInfo', m); // not a cast this server can read
  }
  return handleNoReply(s, 'handleCast', payload);
}

function handleNoReply(
  s: Server,
  callback: 'handleCast' | 'handleInfo',
  msg: unknown,
): Step | Promise<Step> {
  const v = s.cell.v;
  if (callback === 'handleInfo' && !Object.hasOwn(v, 'handleInfo')) return undefined; // optional, as in OTP
  let r: unknown;
  try {
    r = (v[callback] as Fn)(msg, s.state);
  } catch (e) {
    return { stop: e };
  }
  if (isThenable(r))
    return awaitResult(r).then((x) =>
      'error' in x ? { stop: x.error } : noReplyResult(s, callback, x.value),
    );
  return noReplyResult(s, callback, r);
}

function noReplyResult(s: Server, callback: string, r: unknown): Step {
  if (r === null || typeof r !== 'object' || !('state' in r)) return badReturn(s, callback, r);
  const res = r as { stop?: unknown; state: unknown };
  s.state = res.state;
  return 'stop' in res ? { stop: res.stop } : undefined;
}

function badReturn(s: Server, callback: string, r: unknown): Step {
  return {
    stop: callError(
      'bad_return_value',
      `${s.module}.${callback} returned ${describe(r)}; expected an object with a state (S8.1)`,
      {
        value: r,
      },
    ),
  };
}

interface SystemRequest {
  type: string;
  reason?: unknown;
  oldVsn?: string;
  extra?: unknown;
  fn?: (state: unknown) => unknown;
}

async function handleSystem(s: Server, m: { from: Caller; request: SystemRequest }): Promise<Step> {
  const req = m.request;
  const from = m.from;
  switch (req.type) {
    case 'suspend':
      s.suspended = true;
      services.setSuspended(s.self, true);
      settle(from, true, s.state); // the state at the suspension (for upgrade's rollback); sys.suspend drops it
      return undefined;
    case 'resume':
      s.suspended = false;
      services.setSuspended(s.self, false);
      settle(from, true, undefined);
      return undefined;
    case 'getState':
      settle(from, true, s.state);
      return undefined;
    case 'getStatus': {
      const status: Record<string, unknown> = {
        status: s.suspended ? 'suspended' : 'running',
        module: s.module,
        state: s.state,
        pid: s.self,
      };
      if (s.name !== undefined) status.name = s.name;
      settle(from, true, status);
      return undefined;
    }
    case 'changeCode': {
      if (!s.suspended) {
        settle(from, true, { error: 'not_suspended' });
        return undefined;
      }
      const v = s.cell.v;
      if (!Object.hasOwn(v, 'codeChange')) {
        settle(from, true, { ok: true });
        return undefined;
      }
      try {
        let next = (v.codeChange as Fn)(req.oldVsn, s.state, req.extra);
        if (isThenable(next)) next = await next;
        s.state = next;
      } catch (reason) {
        settle(from, true, { error: 'code_change_failed', reason });
        return undefined;
      }
      settle(from, true, { ok: true });
      return undefined;
    }
    case 'replaceState': {
      try {
        s.state = req.fn!(s.state);
      } catch (reason) {
        settle(from, true, { error: 'callback_failed', reason });
        return undefined;
      }
      settle(from, true, { ok: true, state: s.state });
      return undefined;
    }
    case 'terminate':
      // genServer.stop: the caller waits for the exit, not for a reply.
      return { stop: req.reason };
    default:
      settle(from, false, new BadArgError(`sys: unknown system request '${req.type}'`));
      return undefined;
  }
}

/** Runs `terminate(reason, state)` if exported, then exits with `reason` (OTP's gen_server:terminate). */
async function terminate(s: Server, reason: unknown): Promise<void> {
  const v = s.cell.v;
  if (Object.hasOwn(v, 'terminate')) {
    let failure: { error: unknown } | undefined;
    try {
      const r = (v.terminate as Fn)(reason, s.state);
      if (isThenable(r)) await r;
    } catch (error) {
      failure = { error };
    }
    if (failure !== undefined) return exit(failure.error);
  }
  return exit(reason);
}
