/**
 * The process API of SPEC S5 over the one process table of this node. It
 * validates and then asks the table; it never touches modules (spawn of
 * `module, fname, args` is resolved by the public layer, index.ts).
 */
import { badarg, HotcodeError } from '../errors.js';
import { NONE } from './mailbox.js';
import { makeRef, Pid, type Ref } from './pid.js';
import { EXIT_THROWN, type ExitReason, type Proc, ProcessTable } from './table.js';

export const table = new ProcessTable();

/** The sender of signals that come from code outside any process. */
export const OUTSIDE_PID = new Pid(0);

export interface SpawnOptions {
  link?: boolean;
  monitor?: boolean;
  initialCall?: string;
  /** Called once with the exit reason (set before the process runs). */
  onExit?: (reason: ExitReason) => void;
}

/** Spawns `fn(...args)` as a process; returns the process and, with `monitor`, the ref. */
export function spawnProcess(
  fn: (...args: never[]) => unknown,
  args: readonly unknown[],
  opts: SpawnOptions = {},
): { proc: Proc; ref: Ref | undefined } {
  if (typeof fn !== 'function') badarg(`spawn: expected a function, got ${typeof fn}`);
  const parent =
    opts.link || opts.monitor
      ? table.requireSelf(opts.link ? 'spawnLink' : 'spawnMonitor')
      : table.checkCaller('spawn');
  let ref: Ref | undefined;
  const proc = table.spawnFn(
    fn,
    args,
    (child) => {
      child.onExit = opts.onExit;
      if (parent === undefined) return;
      if (opts.link) table.link(parent, child);
      if (opts.monitor) ref = table.monitor(parent, child, child.pid);
    },
    opts.initialCall,
  );
  return { proc, ref };
}

export function self(): Pid {
  return table.requireSelf('self()').pid;
}

/** Resolves a destination; throws `badarg` for an unregistered name (S5.2). */
function destination(dest: Pid | string, what: string): Proc | undefined {
  if (dest instanceof Pid) return table.lookup(dest);
  if (typeof dest === 'string') {
    const p = table.names.get(dest);
    if (p === undefined) badarg(`${what}: no process is registered as '${dest}'`);
    return p;
  }
  return badarg(`${what}: the destination must be a Pid or a registered name, got ${typeof dest}`);
}

/** Puts `msg` in the receiver's mailbox before it returns (S5.2); to a dead pid, dropped. */
export function send<T>(dest: Pid | string, msg: T): T {
  table.checkCaller('send');
  const p = destination(dest, 'send');
  if (p?.alive) p.mailbox.deliver(msg);
  return msg;
}

export function receive<T = unknown>(): Promise<T>;
export function receive<T>(match: (msg: unknown) => msg is T): Promise<T>;
export function receive<T = unknown>(match: ((msg: T) => boolean) | undefined): Promise<T>;
export function receive<T>(
  match: (msg: unknown) => msg is T,
  timeoutMs: number | 'infinity',
): Promise<T | undefined>;
export function receive<T = unknown>(
  match: ((msg: T) => boolean) | undefined,
  timeoutMs: number | 'infinity',
): Promise<T | undefined>;
/**
 * Takes the oldest message (that `match` accepts), waiting for one if needed;
 * with `timeoutMs`, resolves `undefined` when none came in time (`0` polls).
 *
 * @example
 * const msg = await receive((m): m is { type: 'inc' } => (m as { type?: string }).type === 'inc', 1000);
 */
export function receive(
  match?: (msg: never) => boolean,
  timeoutMs?: number | 'infinity',
): Promise<unknown> {
  const p = table.als.getStore();
  if (p === undefined || !p.alive) return table.requireSelf('receive()') as never;
  if (match === undefined && timeoutMs === undefined) {
    // the common case, kept short: the oldest message, or wait for the next one
    const msg = p.take(undefined);
    if (msg !== NONE) return Promise.resolve(msg);
    const promise = new Promise(captureResolve);
    p.wait(captured!, undefined);
    captured = undefined;
    return promise;
  }
  if (match !== undefined && typeof match !== 'function')
    badarg('receive: match must be a function or undefined');
  const m = match as ((msg: unknown) => boolean) | undefined;
  const msg = p.mailbox.take(m);
  if (msg !== NONE) return Promise.resolve(msg);
  if (timeoutMs === 0) return Promise.resolve(undefined);
  if (
    timeoutMs !== undefined &&
    timeoutMs !== 'infinity' &&
    (typeof timeoutMs !== 'number' || timeoutMs < 0)
  )
    badarg('receive: timeoutMs must be a non-negative number or "infinity"');
  const promise = new Promise(captureResolve);
  const resolve = captured!;
  captured = undefined;
  p.mailbox.wait(resolve, m);
  if (typeof timeoutMs === 'number' && Number.isFinite(timeoutMs)) {
    const mailbox = p.mailbox;
    mailbox.setTimer(
      resolve,
      setTimeout(() => {
        if (mailbox.unwait(resolve)) resolve(undefined);
      }, timeoutMs),
    );
  }
  return promise;
}

// One executor for every receive: no closure per waiting receive (spawn cost).
let captured: ((msg: unknown) => void) | undefined;
function captureResolve(resolve: (msg: unknown) => void): void {
  captured = resolve;
}

interface TimerEntry {
  timer: ReturnType<typeof setTimeout>;
  due: number;
}
const timers = new Map<Ref, TimerEntry>();

/** Sends `msg` to `dest` after `ms` (erlang:send_after); returns the timer's ref. */
export function sendAfter(ms: number, dest: Pid | string, msg: unknown): Ref {
  table.checkCaller('sendAfter');
  if (typeof ms !== 'number' || ms < 0) badarg('sendAfter: ms must be a non-negative number');
  if (!(dest instanceof Pid) && typeof dest !== 'string')
    badarg('sendAfter: dest must be a Pid or a name');
  const ref = makeRef();
  const timer = setTimeout(() => {
    timers.delete(ref);
    const p = dest instanceof Pid ? table.lookup(dest) : table.names.get(dest);
    if (p?.alive) p.mailbox.deliver(msg);
  }, ms);
  timers.set(ref, { timer, due: Date.now() + ms });
  return ref;
}

/** Cancels a `sendAfter` timer: the milliseconds that were left, or `false`. */
export function cancelTimer(ref: Ref): number | false {
  const t = timers.get(ref);
  if (t === undefined) return false;
  clearTimeout(t.timer);
  timers.delete(ref);
  return Math.max(0, t.due - Date.now());
}

export function cancelAllTimers(): void {
  for (const t of timers.values()) clearTimeout(t.timer);
  timers.clear();
}

function targetOf(pid: Pid, what: string): Proc | undefined {
  if (!(pid instanceof Pid)) badarg(`${what}: expected a Pid, got ${typeof pid}`);
  return table.lookup(pid);
}

export function link(pid: Pid): true {
  const me = table.requireSelf('link');
  const other = targetOf(pid, 'link');
  if (other === undefined) {
    if (me.trapExit) {
      me.mailbox.deliver({ type: 'EXIT', from: pid, reason: 'noproc' });
      return true;
    }
    throw new HotcodeError('noproc', `link: process ${pid} does not exist`);
  }
  table.link(me, other);
  return true;
}

export function unlink(pid: Pid): true {
  const me = table.requireSelf('unlink');
  const other = targetOf(pid, 'unlink');
  if (other) table.unlink(me, other);
  return true;
}

export function monitor(pid: Pid): Ref {
  const me = table.requireSelf('monitor');
  return table.monitor(me, targetOf(pid, 'monitor'), pid);
}

export function demonitor(ref: Ref): boolean {
  const me = table.requireSelf('demonitor');
  return table.demonitor(me, ref);
}

/**
 * `exit(reason)` ends the calling process with `reason`;
 * `exit(pid, reason)` sends it an exit signal (S5.3; `'kill'` cannot be trapped).
 */
export function exit(reason: ExitReason): never;
export function exit(pid: Pid, reason: ExitReason): true;
export function exit(...args: unknown[]): true {
  if (args.length >= 2) {
    const [pid, reason] = args;
    if (!(pid instanceof Pid)) badarg(`exit(pid, reason): expected a Pid, got ${typeof pid}`);
    const from = table.checkCaller('exit/2');
    const target = table.lookup(pid);
    if (target) table.exitSignal(target, from?.pid ?? OUTSIDE_PID, reason, true);
    return true;
  }
  const me = table.requireSelf('exit(reason)');
  table.exit(me, args[0]);
  throw EXIT_THROWN;
}

/** Turns exit signals into `{ type: 'EXIT', from, reason }` messages; returns the old flag. */
export function trapExit(flag: boolean): boolean {
  const me = table.requireSelf('trapExit');
  const old = me.trapExit;
  me.trapExit = !!flag;
  return old;
}

/** The calling process's AbortSignal, aborted with its exit reason when it exits (S4.4). */
export function signal(): AbortSignal {
  const me = table.requireSelf('signal()');
  me.abort ??= new AbortController();
  return me.abort.signal;
}

export function register(name: string, pid: Pid): true {
  table.checkCaller('register');
  if (typeof name !== 'string' || name === '')
    badarg('register: the name must be a non-empty string');
  if (!(pid instanceof Pid)) badarg(`register: expected a Pid, got ${typeof pid}`);
  if (table.names.has(name)) badarg(`register: the name '${name}' is already registered`);
  const p = table.lookup(pid);
  if (p === undefined) badarg(`register: process ${pid} is not alive`);
  if (p.name !== undefined) badarg(`register: process ${pid} is already registered as '${p.name}'`);
  table.register(name, p);
  return true;
}

export function unregister(name: string): true {
  table.checkCaller('unregister');
  if (!table.unregister(name)) badarg(`unregister: no process is registered as '${String(name)}'`);
  return true;
}

export function whereis(name: string): Pid | undefined {
  return table.names.get(name)?.pid;
}

export function registered(): string[] {
  return [...table.names.keys()];
}

export function processes(): Pid[] {
  return [...table.procs].map((p) => p.pid);
}

export function isProcessAlive(pid: Pid): boolean {
  if (!(pid instanceof Pid)) badarg(`isProcessAlive: expected a Pid, got ${typeof pid}`);
  return table.lookup(pid) !== undefined;
}
