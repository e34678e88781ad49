/**
 * The process API of S5 over the one process table of this node. Each
 * function validates its arguments and asks the table; it never touches
 * modules (spawn of `module, fname, args` is resolved by the public layer,
 * index.ts).
 */
import { badarg, HotcodeError } from '../errors.js';
import { Pid, type Ref } from './pid.js';
import {
  EXIT_THROWN,
  type ExitReason,
  OUTSIDE_PID,
  type Proc,
  type ProcessTable,
  type SpawnOptions,
} from './table.js';

/** The public process functions (S5), bound to one process table. */
export interface ProcessApi {
  /** Spawns `fn(...args)` as a process; with `monitor`, also the ref. */
  spawnProcess(
    fn: (...args: never[]) => unknown,
    args: readonly unknown[],
    opts?: SpawnOptions,
  ): { pid: Pid; ref: Ref | undefined };
  self(): Pid;
  send<T>(dest: Pid | string, msg: T): T;
  receive<T = unknown>(): Promise<T>;
  receive<T>(match: (msg: unknown) => msg is T): Promise<T>;
  receive<T = unknown>(match: ((msg: T) => boolean) | undefined): Promise<T>;
  receive<T>(
    match: (msg: unknown) => msg is T,
    timeoutMs: number | 'infinity',
  ): Promise<T | undefined>;
  receive<T = unknown>(
    match: ((msg: T) => boolean) | undefined,
    timeoutMs: number | 'infinity',
  ): Promise<T | undefined>;
  sendAfter(ms: number, dest: Pid | string, msg: unknown): Ref;
  cancelTimer(ref: Ref): number | false;
  link(pid: Pid): true;
  unlink(pid: Pid): true;
  monitor(pid: Pid): Ref;
  demonitor(ref: Ref): boolean;
  exit(reason: ExitReason): never;
  exit(pid: Pid, reason: ExitReason): true;
  trapExit(flag: boolean): boolean;
  signal(): AbortSignal;
  register(name: string, pid: Pid): true;
  unregister(name: string): true;
  whereis(name: string): Pid | undefined;
  registered(): string[];
  processes(): Pid[];
  isProcessAlive(pid: Pid): boolean;
}

export function createProcessApi(table: ProcessTable): ProcessApi {
  /** Resolves a destination; throws `badarg` for an unregistered name (S5.2). */
  function destination(dest: Pid | string, what: string): Proc | undefined {
    if (dest instanceof Pid) return table.lookup(dest);
    if (typeof dest === 'string') {
      const p = table.named(dest);
      if (p === undefined) badarg(`${what}: no process is registered as '${dest}'`);
      return p;
    }
    return badarg(
      `${what}: the destination must be a Pid or a registered name, got ${typeof dest}`,
    );
  }

  function targetOf(pid: Pid, what: string): Proc | undefined {
    if (!(pid instanceof Pid)) badarg(`${what}: expected a Pid, got ${typeof pid}`);
    return table.lookup(pid);
  }

  const api: ProcessApi = {
    spawnProcess(fn, args, opts = {}) {
      if (typeof fn !== 'function') badarg(`spawn: expected a function, got ${typeof fn}`);
      const parent =
        opts.link || opts.monitor
          ? table.requireSelf(opts.link ? 'spawnLink' : 'spawnMonitor')
          : table.checkCaller('spawn');
      const { proc, ref } = table.spawn(fn, args, parent, opts);
      return { pid: proc.pid, ref };
    },

    self(): Pid {
      return table.requireSelf('self()').pid;
    },

    /** Puts `msg` in the receiver's mailbox before it returns (S5.2); to a dead pid, dropped. */
    send<T>(dest: Pid | string, msg: T): T {
      table.checkCaller('send');
      const p = destination(dest, 'send');
      if (isThenable(msg))
        badarg(
          'send: the message is a thenable (it has a callable `then`), which `await receive()` would unwrap; send what it resolves to',
        );
      // (a pid or a name is bound to a record only while its process is alive)
      if (p !== undefined) p.deliver(msg);
      return msg;
    },

    receive(match?: (msg: never) => boolean, timeoutMs?: number | 'infinity'): Promise<never> {
      const p = table.current();
      if (p === undefined) return table.requireSelf('receive()') as never;
      // the common case, kept short: the oldest message, or wait for the next one
      if (match === undefined && timeoutMs === undefined) return table.receiveAny(p) as never;
      if (match !== undefined && typeof match !== 'function')
        badarg('receive: match must be a function or undefined');
      if (
        timeoutMs !== undefined &&
        timeoutMs !== 'infinity' &&
        (typeof timeoutMs !== 'number' || !(timeoutMs >= 0))
      )
        badarg('receive: timeoutMs must be a non-negative number or "infinity"');
      return table.receive(p, match as ((msg: unknown) => boolean) | undefined, timeoutMs) as never;
    },

    /** Sends `msg` to `dest` after `ms` (erlang:send_after); returns the timer's ref. */
    sendAfter(ms, dest, msg) {
      table.checkCaller('sendAfter');
      if (typeof ms !== 'number' || !(ms >= 0))
        badarg('sendAfter: ms must be a non-negative number');
      if (!(dest instanceof Pid) && typeof dest !== 'string')
        badarg('sendAfter: dest must be a Pid or a name');
      if (isThenable(msg)) badarg('sendAfter: the message is a thenable; send what it resolves to');
      return table.sendAfter(ms, dest, msg);
    },

    /** Cancels a `sendAfter` timer: the milliseconds that were left, or `false`. */
    cancelTimer(ref) {
      return table.cancelTimer(ref);
    },

    link(pid) {
      const me = table.requireSelf('link');
      const other = targetOf(pid, 'link');
      if (other === undefined) {
        if (me.trapExit) {
          me.deliver({ type: 'EXIT', from: pid, reason: 'noproc' });
          return true;
        }
        throw new HotcodeError('noproc', `link: process ${pid} does not exist`);
      }
      table.link(me, other);
      return true;
    },

    unlink(pid) {
      const me = table.requireSelf('unlink');
      const other = targetOf(pid, 'unlink');
      if (other) table.unlink(me, other);
      return true;
    },

    monitor(pid) {
      const me = table.requireSelf('monitor');
      return table.monitor(me, targetOf(pid, 'monitor'), pid);
    },

    demonitor(ref) {
      const me = table.requireSelf('demonitor');
      return table.demonitor(me, ref);
    },

    /**
     * `exit(reason)` ends the calling process with `reason`;
     * `exit(pid, reason)` sends it an exit signal (S5.3; `'kill'` cannot be trapped).
     */
    exit(...args: unknown[]): never {
      if (args.length >= 2) {
        const [pid, reason] = args;
        if (!(pid instanceof Pid)) badarg(`exit(pid, reason): expected a Pid, got ${typeof pid}`);
        const from = table.checkCaller('exit/2');
        const target = table.lookup(pid);
        if (target) table.exitSignal(target, from?.pid ?? OUTSIDE_PID, reason, true);
        return true as never;
      }
      if (args.length === 0)
        badarg(
          "exit: give a reason — exit(reason) ends the calling process, exit(pid, reason) signals another (exit(pid, 'kill') cannot be trapped)",
        );
      const me = table.requireSelf('exit(reason)');
      table.exit(me, args[0]);
      throw EXIT_THROWN;
    },

    /** Turns exit signals into `{ type: 'EXIT', from, reason }` messages; returns the old flag. */
    trapExit(flag) {
      const me = table.requireSelf('trapExit');
      const old = me.trapExit;
      me.trapExit = !!flag;
      return old;
    },

    /** The calling process's AbortSignal, aborted with its exit reason when it exits (S4.4). */
    signal() {
      const me = table.requireSelf('signal()');
      me.abort ??= new AbortController();
      return me.abort.signal;
    },

    register(name, pid) {
      table.checkCaller('register');
      if (typeof name !== 'string' || name === '')
        badarg('register: the name must be a non-empty string');
      if (!(pid instanceof Pid)) badarg(`register: expected a Pid, got ${typeof pid}`);
      if (table.named(name) !== undefined)
        badarg(`register: the name '${name}' is already registered`);
      const p = table.lookup(pid);
      if (p === undefined) badarg(`register: process ${pid} is not alive`);
      if (p.name !== undefined)
        badarg(`register: process ${pid} is already registered as '${p.name}'`);
      table.register(name, p);
      return true;
    },

    unregister(name) {
      table.checkCaller('unregister');
      if (!table.unregister(name))
        badarg(`unregister: no process is registered as '${String(name)}'`);
      return true;
    },

    whereis(name) {
      return table.named(name)?.pid;
    },

    registered() {
      return table.names();
    },

    processes() {
      return table.pids();
    },

    isProcessAlive(pid) {
      if (!(pid instanceof Pid)) badarg(`isProcessAlive: expected a Pid, got ${typeof pid}`);
      return table.lookup(pid) !== undefined;
    },
  } as ProcessApi;
  return api;
}

/**
 * A thenable — a value with a callable `then` — cannot be a message (S5.2):
 * `await receive()` would unwrap it. A value whose properties throw when read
 * (`then` included: a hostile proxy, a revoked one) is delivered like any
 * other; only a plain `await receive()` cannot hand it over, since a promise
 * resolved with it reads its `then` (that receive rejects with what the read
 * threw). The runtime's own receivers (genServer) take it boxed.
 */
function isThenable(msg: unknown): boolean {
  if ((typeof msg !== 'object' || msg === null) && typeof msg !== 'function') return false;
  try {
    return typeof (msg as { then?: unknown }).then === 'function';
  } catch {
    return false;
  }
}
