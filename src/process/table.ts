/**
 * The process table: the one owner of every process record (S5). Its state
 * is private; the process API (api.ts), the code server and the runtime's
 * services ask it through its methods, by pid.
 *
 * A process is a record plus one async function running on the event loop;
 * the current process is held in one AsyncLocalStorage, the only mechanism
 * that stays right after an `await` in plain, uncompiled code (docs/architecture.md).
 *
 * This layer knows nothing of modules: suspended-frame counts are kept per
 * opaque version token (frames.ts), which the code server creates and labels.
 *
 * No fault of one process ends the node (S0.5): whatever a process throws
 * or exits with is handled without reading it unsafely (vocabulary.ts
 * `describe`), and a killed process never runs again in any way the runtime
 * controls (S4.4): its pending receives never return, a later `receive()`
 * returns a promise that never settles, and compiled code drops its
 * continuation at the next await.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { types } from 'node:util';
import { HotcodeError } from '../errors.js';
import { describe } from '../vocabulary.js';
import { fairValue } from './fairness.js';
import {
  counterFor,
  countersOf,
  dropToken,
  type FrameCounter,
  hasUsers,
  isUsedBy,
  KILLED_COUNT,
  killCounters,
  usersOf,
  type VersionToken,
} from './frames.js';
import { Mailbox, type Match, NONE } from './mailbox.js';
import { bindPid, makeRef, Pid, type Ref, recordOfPid } from './pid.js';

/** An exit reason: `'normal'`, `'killed'`, `'shutdown'`, an Error, any value. */
export type ExitReason = unknown;

export interface ExitMessage {
  type: 'EXIT';
  from: Pid;
  reason: ExitReason;
}

export interface DownMessage {
  type: 'DOWN';
  ref: Ref;
  pid: Pid;
  reason: ExitReason;
}

/** Fields few processes ever set, kept off the record (an idle process should cost under 1 KB). */
interface ProcExtra {
  /** Created lazily by `signal()`: one per process made a 100 k purge 6× slower. */
  abort?: AbortController | undefined;
  exitReason?: ExitReason;
  /** Called once when the process exits (used by `run` and the shell). */
  onExit?: ((reason: ExitReason) => void) | undefined;
  /** Set by `sys.suspend` (through the runtime's services) for processInfo. */
  suspended?: boolean;
  /** Counters of the versions after the first whose async code it ran (frames.ts). */
  counters?: Map<VersionToken, FrameCounter> | undefined;
  /** Linked processes; symmetric (both sides hold each other). */
  links?: Set<Proc> | undefined;
  /** Monitors this process holds: ref → the monitored process. */
  monitors?: Map<Ref, Proc> | undefined;
  /** Monitors on this process: ref → the owner to notify. */
  monitoredBy?: Map<Ref, Proc> | undefined;
  trapExit?: boolean;
  name?: string | undefined;
}

/**
 * A process record. It is its own mailbox (one object less per process) and
 * its own suspended-frame counter for the first version whose async code it
 * runs (frames.ts): `n` and `token`; counters of further versions live in
 * `counters`. Only process/ sees records; everyone else holds pids.
 */
export class Proc extends Mailbox implements FrameCounter {
  /** Suspended awaits of `token`'s code in this process; KILLED_COUNT once it died. */
  n = 0;
  token: VersionToken | undefined = undefined;
  /** `module.fname/arity`, or the function a plain spawn ran (named lazily). */
  initial: string | Function | undefined = undefined;
  /** The live processes form a list through their records (the table's, S5.6 `processes()`). */
  prev: Proc | undefined = undefined;
  next: Proc | undefined = undefined;
  private x: ProcExtra | undefined = undefined;
  constructor(readonly pid: Pid) {
    super();
  }
  /** Alive until it exits: its counter is KILLED_COUNT from then on (frames.ts killCounters). */
  get alive(): boolean {
    return this.n !== KILLED_COUNT;
  }
  /** FrameCounter: the process whose count this is. */
  get proc(): Proc {
    return this;
  }
  // Rare fields, kept in `x` (created on first write).
  // (a plain method, not a #private one: those brand every instance with a hidden field)
  private setExtra<K extends keyof ProcExtra>(k: K, v: ProcExtra[K]): void {
    if (v !== undefined || this.x !== undefined) (this.x ??= {})[k] = v;
  }
  get abort(): AbortController | undefined {
    return this.x?.abort;
  }
  set abort(a: AbortController | undefined) {
    this.setExtra('abort', a);
  }
  get exitReason(): ExitReason {
    return this.x?.exitReason;
  }
  set exitReason(r: ExitReason) {
    (this.x ??= {}).exitReason = r;
  }
  get onExit(): ((reason: ExitReason) => void) | undefined {
    return this.x?.onExit;
  }
  set onExit(f: ((reason: ExitReason) => void) | undefined) {
    this.setExtra('onExit', f);
  }
  get suspended(): boolean {
    return this.x?.suspended === true;
  }
  set suspended(b: boolean) {
    this.setExtra('suspended', b);
  }
  get counters(): Map<VersionToken, FrameCounter> | undefined {
    return this.x?.counters;
  }
  set counters(c: Map<VersionToken, FrameCounter> | undefined) {
    this.setExtra('counters', c);
  }
  get links(): Set<Proc> | undefined {
    return this.x?.links;
  }
  set links(l: Set<Proc> | undefined) {
    this.setExtra('links', l);
  }
  get monitors(): Map<Ref, Proc> | undefined {
    return this.x?.monitors;
  }
  set monitors(m: Map<Ref, Proc> | undefined) {
    this.setExtra('monitors', m);
  }
  get monitoredBy(): Map<Ref, Proc> | undefined {
    return this.x?.monitoredBy;
  }
  set monitoredBy(m: Map<Ref, Proc> | undefined) {
    this.setExtra('monitoredBy', m);
  }
  get trapExit(): boolean {
    return this.x?.trapExit === true;
  }
  set trapExit(b: boolean) {
    this.setExtra('trapExit', b || undefined);
  }
  get name(): string | undefined {
    return this.x?.name;
  }
  set name(n: string | undefined) {
    this.setExtra('name', n);
  }
}

/** Where crash reports go (S5.1: OTP's crash report). Users may redirect it. */
export interface Logger {
  error(
    message: string,
    meta: { pid: Pid; reason: ExitReason; name?: string; initialCall?: string },
  ): void;
}

export const defaultLogger: Logger = {
  error(message) {
    process.stderr.write(`${message}\n`);
  },
};

/** Thrown by `exit(reason)` to unwind the exiting process's own code. */
export const EXIT_THROWN: Error = Object.assign(Object.create(Error.prototype), {
  message: 'process exited',
});

/** Reasons that are not crashes: no crash report (as OTP's proc_lib). Never throws. */
export function isQuietReason(reason: ExitReason): boolean {
  if (
    reason === 'normal' ||
    reason === 'shutdown' ||
    reason === 'killed' ||
    reason === 'noproc' ||
    reason === 'interrupted'
  )
    return true;
  if (typeof reason !== 'object' || reason === null) return false;
  try {
    // `{ shutdown: term }` as OTP's `{shutdown, Term}`; a value whose properties throw is a crash.
    return Object.hasOwn(reason, 'shutdown');
  } catch {
    return false;
  }
}

/** The options of a spawn (the public forms are in api.ts and index.ts). */
export interface SpawnOptions {
  /** Link the new process to `parent` (before it runs). */
  link?: boolean;
  /** `parent` monitors the new process (before it runs); the ref is returned. */
  monitor?: boolean;
  /** `module.fname/arity` to show as its initial call. */
  initialCall?: string;
  /** Called once with the exit reason (set before the process runs). */
  onExit?: (reason: ExitReason) => void;
}

/** What the process table knows of a live process (processInfo, S5.6, without `modules`). */
export interface ProcessFacts {
  pid: Pid;
  status: 'running' | 'waiting' | 'suspended';
  messageQueueLen: number;
  registeredName?: string;
  links: Pid[];
  monitors: Ref[];
  trapExit: boolean;
  initialCall?: string;
}

/** The sender of signals that come from code outside any process. */
export const OUTSIDE_PID = new Pid(0);

interface TimerEntry {
  timer: ReturnType<typeof setTimeout>;
  due: number;
}

export class ProcessTable {
  readonly #als = new AsyncLocalStorage<Proc>();
  /** Live processes: a list through their records (prev/next), oldest first. */
  #first: Proc | undefined = undefined;
  #last: Proc | undefined = undefined;
  #count = 0;
  readonly #names = new Map<string, Proc>();
  #nextId = 80;
  #logger: Logger = defaultLogger;
  /**
   * Processes running the first part of their function (spawn runs it up to
   * its first suspension). An uncatchable interrupt (the shell's Ctrl+C)
   * leaves them here: `reapInterrupted` ends them.
   */
  readonly #starting: Proc[] = [];
  /** sendAfter timers by ref. */
  readonly #timers = new Map<Ref, TimerEntry>();
  /** The node's handler of rejections nobody handled (installed by start, S0.5). */
  #onUnhandled: ((reason: unknown) => void) | undefined;

  // ---- the current process --------------------------------------------------------------

  current(): Proc | undefined {
    return this.#als.getStore();
  }

  /** The current process, which must be alive; throws a clear error otherwise. */
  requireSelf(what: string): Proc {
    const p = this.#als.getStore();
    if (p === undefined)
      throw new HotcodeError(
        'no_process',
        `${what} needs a process, and this code runs outside one: run it inside spawn(…) or await run(async () => …)`,
      );
    if (!p.alive) throw this.#noproc(p, what);
    return p;
  }

  /** Throws if the caller is a process that has exited (S0.2, S4.4). */
  checkCaller(what: string): Proc | undefined {
    const p = this.#als.getStore();
    if (p !== undefined && !p.alive) throw this.#noproc(p, what);
    return p;
  }

  /** S0.2: a runtime call from a process that has exited (a late callback, a killed process's code). */
  #noproc(p: Proc, what: string): Error {
    return new HotcodeError(
      'noproc',
      `${what}: process ${p.pid} has exited (${describe(p.exitReason)}); its code runs no more`,
    );
  }

  /** The live record of a pid, or undefined. */
  lookup(pid: Pid): Proc | undefined {
    return recordOfPid(pid) as Proc | undefined;
  }

  /** Runs `fn` as process `p` (its `self()`, its `receive()`). */
  runAs<T>(p: Proc, fn: () => T): T {
    return this.#als.run(p, fn);
  }

  /** Runs `fn` outside any process. */
  outside<T>(fn: () => T): T {
    return this.#als.exit(fn);
  }

  // ---- spawning and ending -------------------------------------------------------------

  /**
   * Creates a process and runs `fn(...args)` in it up to its first
   * suspension (as calling an async function does). Links and monitors of
   * `opts` are in place before it runs. Never throws for what `fn` does.
   */
  spawn(
    fn: (...args: never[]) => unknown,
    args: readonly unknown[],
    parent: Proc | undefined,
    opts: SpawnOptions,
  ): { proc: Proc; ref: Ref | undefined } {
    const p = new Proc(new Pid(this.#nextId++));
    p.initial = opts.initialCall ?? fn;
    bindPid(p.pid, p);
    p.prev = this.#last;
    if (this.#last !== undefined) this.#last.next = p;
    else this.#first = p;
    this.#last = p;
    this.#count++;
    if (opts.onExit !== undefined) p.onExit = opts.onExit;
    let ref: Ref | undefined;
    if (parent !== undefined) {
      if (opts.link) this.link(parent, p);
      if (opts.monitor) ref = this.monitor(parent, p, p.pid);
    }
    currentTable = this;
    const depth = this.#starting.push(p);
    this.#als.run(p, startProcess, this, p, fn, args);
    this.#starting.length = depth - 1;
    return { proc: p, ref };
  }

  /** Ends the processes an interrupt left in their first part (see `#starting`). */
  reapInterrupted(reason: ExitReason): Pid[] {
    const left = this.#starting.splice(0);
    for (const p of left) this.exit(p, reason);
    return left.map((p) => p.pid);
  }

  /**
   * Ends a process with `reason`: it runs no more code the runtime controls
   * (S4.4), its links get exit signals and its monitors DOWN messages. Never
   * throws, whatever `reason` is (S0.5).
   */
  exit(p: Proc, reason: ExitReason): void {
    if (!p.alive) return;
    // First: from here on it is dead (alive reads its counter), and awaits of compiled
    // code that resume later drop their continuation (frames.ts).
    killCounters(p);
    p.exitReason = reason;
    this.#unlist(p);
    bindPid(p.pid, undefined);
    if (p.name !== undefined) this.#names.delete(p.name);
    p.clear();
    if (p.monitors !== undefined) {
      for (const [ref, target] of p.monitors) target.monitoredBy?.delete(ref);
      p.monitors = undefined;
    }
    if (p.monitoredBy !== undefined) {
      for (const [ref, owner] of p.monitoredBy) {
        owner.monitors?.delete(ref); // a monitor fires once (OTP)
        if (owner.alive)
          owner.deliver({ type: 'DOWN', ref, pid: p.pid, reason } satisfies DownMessage);
      }
      p.monitoredBy = undefined;
    }
    if (p.links !== undefined) {
      const links = [...p.links];
      p.links = undefined;
      for (const l of links) {
        l.links?.delete(p);
        this.exitSignal(l, p.pid, reason, false);
      }
    }
    if (!isQuietReason(reason)) this.#crashReport(p, reason);
    const onExit = p.onExit;
    if (onExit !== undefined) {
      p.onExit = undefined;
      this.#callSafely(() => onExit(reason));
    }
    // Listeners run at the exit, so user code can close sockets and timers. They
    // run outside any process — not as the killer (whose self() they would get),
    // nor as the dead process (whose every runtime call throws): as plain code
    // they may still send, spawn or log (S0.2).
    const abort = p.abort;
    if (abort !== undefined) this.#callSafely(() => this.#als.exit(() => abort.abort(reason)));
  }

  #unlist(p: Proc): void {
    if (p.prev !== undefined) p.prev.next = p.next;
    else this.#first = p.next;
    if (p.next !== undefined) p.next.prev = p.prev;
    else this.#last = p.prev;
    p.prev = p.next = undefined;
    this.#count--;
  }

  /** The live processes, oldest first. */
  #live(): Proc[] {
    const out: Proc[] = [];
    for (let p = this.#first; p !== undefined; p = p.next) out.push(p);
    return out;
  }

  /** A listener that throws is reported, and the exit goes on. */
  #callSafely(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.#log(`=ERROR REPORT==== an exit listener threw: ${describe(e, { stack: true })}`, {
        pid: OUTSIDE_PID,
        reason: e,
      });
    }
  }

  /**
   * An exit signal from `from` with `reason` reaches `target` (S5.3):
   * `'kill'` (sent by exit/2 only) is untrappable and becomes `'killed'`.
   */
  exitSignal(target: Proc, from: Pid, reason: ExitReason, direct: boolean): void {
    if (!target.alive) return;
    if (direct && reason === 'kill') {
      this.exit(target, 'killed');
      return;
    }
    if (target.trapExit) {
      target.deliver({ type: 'EXIT', from, reason } satisfies ExitMessage);
      return;
    }
    if (reason === 'normal') {
      if (direct && from === target.pid) this.exit(target, 'normal');
      return;
    }
    this.exit(target, reason);
  }

  /** Kills processes with `reason` (a purge: reason `'killed'`). */
  killAll(procs: Iterable<Proc>, reason: ExitReason): void {
    for (const p of procs) this.exit(p, reason);
  }

  /** Kills every process and forgets every name and timer (the node stops). */
  reset(): void {
    this.killAll(this.#live(), 'killed');
    this.#names.clear();
    this.#starting.length = 0;
    for (const t of this.#timers.values()) clearTimeout(t.timer);
    this.#timers.clear();
  }

  // ---- links, monitors, names -----------------------------------------------------------

  link(a: Proc, b: Proc): void {
    if (a === b) return;
    if (!b.alive) {
      // OTP: linking to a dead process gives an exit signal with reason noproc.
      this.exitSignal(a, b.pid, 'noproc', false);
      return;
    }
    (a.links ??= new Set()).add(b);
    (b.links ??= new Set()).add(a);
  }

  unlink(a: Proc, b: Proc): void {
    a.links?.delete(b);
    b.links?.delete(a);
  }

  monitor(owner: Proc, target: Proc | undefined, pid: Pid): Ref {
    const ref = makeRef();
    if (target === undefined || !target.alive) {
      owner.deliver({ type: 'DOWN', ref, pid, reason: 'noproc' } satisfies DownMessage);
      return ref;
    }
    (owner.monitors ??= new Map()).set(ref, target);
    (target.monitoredBy ??= new Map()).set(ref, owner);
    return ref;
  }

  demonitor(owner: Proc, ref: Ref): boolean {
    const target = owner.monitors?.get(ref);
    if (target === undefined) return false;
    owner.monitors!.delete(ref);
    target.monitoredBy?.delete(ref);
    return true;
  }

  register(name: string, p: Proc): void {
    this.#names.set(name, p);
    p.name = name;
  }

  unregister(name: string): boolean {
    const p = this.#names.get(name);
    if (p === undefined) return false;
    this.#names.delete(name);
    p.name = undefined;
    return true;
  }

  named(name: string): Proc | undefined {
    return this.#names.get(name);
  }

  names(): string[] {
    return [...this.#names.keys()];
  }

  pids(): Pid[] {
    const out: Pid[] = [];
    for (let p = this.#first; p !== undefined; p = p.next) out.push(p.pid);
    return out;
  }

  get count(): number {
    return this.#count;
  }

  /**
   * One pass over the live processes for the observer (S10.2), without
   * building anyone's processInfo: the `n` with the longest mailboxes
   * (longest first; oldest first among equals) and those whose initial call
   * is `initialCall` (`module.fname/arity`).
   */
  survey(n: number, initialCall: string): { longest: Pid[]; matching: Pid[]; count: number } {
    const slash = initialCall.lastIndexOf('/');
    const fname = initialCall.slice(0, slash);
    const arity = Number(initialCall.slice(slash + 1));
    const busy: Proc[] = [];
    const idle: Proc[] = [];
    const matching: Pid[] = [];
    for (let p = this.#first; p !== undefined; p = p.next) {
      if (p.length > 0) busy.push(p);
      else if (idle.length < n) idle.push(p);
      const i = p.initial;
      if (typeof i === 'function' ? i.name === fname && i.length === arity : i === initialCall)
        matching.push(p.pid);
    }
    busy.sort((a, b) => b.length - a.length);
    const longest = busy.slice(0, n).map((p) => p.pid);
    for (const p of idle) {
      if (longest.length >= n) break;
      longest.push(p.pid);
    }
    return { longest, matching, count: this.#count };
  }

  /** What processInfo tells of a live process (S5.6), but the versions it uses; undefined if dead. */
  info(pid: Pid): ProcessFacts | undefined {
    const p = this.lookup(pid);
    if (p === undefined) return undefined;
    const facts: ProcessFacts = {
      pid: p.pid,
      status: p.suspended ? 'suspended' : p.waiting ? 'waiting' : 'running',
      messageQueueLen: p.length,
      links: p.links ? [...p.links].map((l) => l.pid) : [],
      monitors: p.monitors ? [...p.monitors.keys()] : [],
      trapExit: p.trapExit,
    };
    if (p.name !== undefined) facts.registeredName = p.name;
    const initialCall = initialCallOf(p);
    if (initialCall !== undefined) facts.initialCall = initialCall;
    return facts;
  }

  /**
   * The monitors a live process holds and those held on it, each with the
   * pid on the other side (the observer's process view, S10.2); undefined if dead.
   */
  monitorPeers(
    pid: Pid,
  ): { monitors: { ref: Ref; pid: Pid }[]; monitoredBy: { ref: Ref; pid: Pid }[] } | undefined {
    const p = this.lookup(pid);
    if (p === undefined) return undefined;
    const side = (m: Map<Ref, Proc> | undefined) =>
      m === undefined ? [] : [...m].map(([ref, other]) => ({ ref, pid: other.pid }));
    return { monitors: side(p.monitors), monitoredBy: side(p.monitoredBy) };
  }

  // ---- messages ----------------------------------------------------------------------

  /**
   * Takes the oldest message (that `match` accepts), waiting for one if
   * needed (S5.2). In a process that has exited it returns a promise that
   * never settles (S4.4): a plain-code loop that swallows errors stops there.
   */
  receive(p: Proc, match: Match | undefined, timeoutMs: number | 'infinity' | undefined) {
    if (!p.alive) return new Promise<never>(neverSettle);
    const msg = p.take(match);
    if (msg !== NONE) return fairValue(p, msg);
    if (timeoutMs === 0) return Promise.resolve(undefined);
    const promise = new Promise(captureResolve);
    const resolve = captured!;
    captured = undefined;
    p.wait(resolve, match);
    if (typeof timeoutMs === 'number' && Number.isFinite(timeoutMs)) {
      p.setTimer(
        resolve,
        setTimeout(() => {
          if (p.unwait(resolve)) resolve(undefined);
        }, timeoutMs),
      );
    }
    return promise;
  }

  /** `receive()` with no match and no timeout: the hot path of every process loop. */
  receiveAny(p: Proc): Promise<unknown> {
    if (!p.alive) return new Promise<never>(neverSettle);
    const msg = p.take(undefined);
    if (msg !== NONE) return fairValue(p, msg);
    const promise = new Promise(captureResolve);
    p.wait(captured!, undefined);
    captured = undefined;
    return promise;
  }

  /**
   * `receive(match)` whose message comes in a box, `{ msg }`: a promise
   * resolved with the box never reads the message's own `then`, so even a
   * message whose every property throws reaches the receiver (the runtime's
   * genServer loop, S5.2).
   */
  receiveBoxed(p: Proc, match: Match | undefined): Promise<{ msg: unknown }> {
    if (!p.alive) return new Promise<never>(neverSettle);
    const msg = p.take(match);
    if (msg !== NONE) return fairValue(p, { msg }) as Promise<{ msg: unknown }>;
    return new Promise((resolve) => p.wait((m) => resolve({ msg: m }), match));
  }

  sendAfter(ms: number, dest: Pid | string, msg: unknown): Ref {
    const ref = makeRef();
    const timer = setTimeout(() => {
      this.#timers.delete(ref);
      const p = dest instanceof Pid ? this.lookup(dest) : this.#names.get(dest);
      if (p?.alive) p.deliver(msg);
    }, ms);
    this.#timers.set(ref, { timer, due: Date.now() + ms });
    return ref;
  }

  cancelTimer(ref: Ref): number | false {
    const t = this.#timers.get(ref);
    if (t === undefined) return false;
    clearTimeout(t.timer);
    this.#timers.delete(ref);
    return Math.max(0, t.due - Date.now());
  }

  // ---- suspended frames (S4.3), asked for by the code server ------------------------------

  /** The calling process's counter for a version's code (the compiled await instrumentation). */
  counterFor(token: VersionToken): FrameCounter {
    return counterFor(this.#als.getStore(), token);
  }

  /** Processes suspended in a version's code right now. */
  usersOf(token: VersionToken): Proc[] {
    return usersOf(token);
  }

  hasUsers(token: VersionToken): boolean {
    return hasUsers(token);
  }

  isUsedBy(token: VersionToken, pid: Pid): boolean {
    const p = this.lookup(pid);
    return p !== undefined && isUsedBy(token, p);
  }

  /** Forgets every counter of a purged version (S4.5). */
  dropToken(token: VersionToken): void {
    dropToken(token);
  }

  /** The versions a process uses (S4.3), in the order it entered them. */
  tokensUsedBy(p: Proc): VersionToken[] {
    const out: VersionToken[] = [];
    for (const [token, counter] of countersOf(p)) if (counter.n > 0) out.push(token);
    return out;
  }

  // ---- reports ---------------------------------------------------------------------------

  get logger(): Logger {
    return this.#logger;
  }

  set logger(l: Logger) {
    this.#logger = l;
  }

  #log(message: string, meta: Parameters<Logger['error']>[1]): void {
    try {
      this.#logger.error(message, meta);
    } catch {
      // a broken logger must not break exits
    }
  }

  /** Writes a report through the logger (supervisor reports, S8.3). */
  report(message: string, meta: { pid: Pid; reason: ExitReason }): void {
    this.#log(message, meta);
  }

  #crashReport(p: Proc, reason: ExitReason): void {
    const who = p.name !== undefined ? `${p.pid} (${p.name})` : String(p.pid);
    const initialCall = initialCallOf(p);
    const started = initialCall !== undefined ? ` started as ${initialCall}` : '';
    this.#log(
      `=CRASH REPORT==== process ${who}${started} exited: ${describe(reason, { stack: true })}`,
      {
        pid: p.pid,
        reason,
        ...(p.name !== undefined ? { name: p.name } : {}),
        ...(initialCall !== undefined ? { initialCall } : {}),
      },
    );
  }

  /**
   * S0.5: a promise rejected with no handler anywhere in the node is reported
   * (with the pid of the process it was created in, when there was one) and
   * the node goes on. `start` installs this; `stop` removes it.
   */
  installRejectionHandler(): void {
    if (this.#onUnhandled !== undefined) return;
    this.#onUnhandled = (reason: unknown) => {
      const p = this.#als.getStore();
      const where = p !== undefined ? ` in process ${p.pid}` : '';
      this.#log(
        `=ERROR REPORT==== a promise was rejected and nothing handled it${where}: ${describe(reason, { stack: true })}`,
        { pid: p?.pid ?? OUTSIDE_PID, reason },
      );
    };
    process.on('unhandledRejection', this.#onUnhandled);
  }

  removeRejectionHandler(): void {
    if (this.#onUnhandled === undefined) return;
    process.off('unhandledRejection', this.#onUnhandled);
    this.#onUnhandled = undefined;
  }
}

/** `module.fname/arity` or `fname/arity` of a process's initial call, if it has a name. */
export function initialCallOf(p: Proc): string | undefined {
  const i = p.initial;
  if (typeof i !== 'function') return i;
  try {
    return i.name ? `${i.name}/${i.length}` : undefined;
  } catch {
    return undefined;
  }
}

function neverSettle(): void {}

// One executor for every receive: no closure per waiting receive (spawn cost).
let captured: ((msg: unknown) => void) | undefined;
function captureResolve(resolve: (msg: unknown) => void): void {
  captured = resolve;
}

/**
 * Runs a process's function and arranges its exit with the outcome. The
 * settle handlers are shared, not closures per process: a promise reaction
 * runs in the async context it was registered in, so the handler finds its
 * process in the AsyncLocalStorage (an idle process costs ~450 B less than
 * with an async wrapper frame).
 */
function startProcess(
  table: ProcessTable,
  p: Proc,
  fn: (...args: never[]) => unknown,
  args: readonly unknown[],
): void {
  let result: unknown;
  try {
    result = (fn as (...a: readonly unknown[]) => unknown)(...args);
  } catch (e) {
    table.exit(p, e === EXIT_THROWN ? p.exitReason : e);
    return;
  }
  if (types.isPromise(result)) {
    currentTable = table;
    (result as Promise<unknown>).then(onProcessReturn, onProcessThrow);
    return;
  }
  let then: unknown;
  try {
    then =
      result !== null && typeof result === 'object'
        ? (result as { then?: unknown }).then
        : undefined;
  } catch (e) {
    table.exit(p, e); // a returned value whose `then` throws when read
    return;
  }
  currentTable = table;
  if (typeof then === 'function') Promise.resolve(result).then(onProcessReturn, onProcessThrow);
  else queueMicrotask(onProcessReturn);
}

/** There is one process table per OS process; set before any process settles. */
let currentTable: ProcessTable | undefined;

function onProcessReturn(): void {
  const t = currentTable!;
  const p = t.current();
  if (p !== undefined) t.exit(p, 'normal');
}

function onProcessThrow(e: unknown): void {
  const t = currentTable!;
  const p = t.current();
  if (p !== undefined) t.exit(p, e === EXIT_THROWN ? p.exitReason : e);
}
