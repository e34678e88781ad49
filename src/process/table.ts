/**
 * The process table: the one owner of every process record (SPEC S5).
 *
 * A process is a record plus one async function running on the event loop;
 * the current process is held in one AsyncLocalStorage, the only mechanism
 * that stays right after an `await` in plain, uncompiled code (DESIGN.md).
 *
 * This layer knows nothing of modules: suspended-frame counts are kept per
 * opaque version token (frames.ts), which the code server creates and labels.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { HotcodeError } from '../errors.js';
import { type FrameCounter, killCounters, type VersionToken } from './frames.js';
import { Mailbox } from './mailbox.js';
import { makeRef, Pid, type Ref } from './pid.js';

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
  /** Called once when the process exits (used by `run`). */
  onExit?: ((reason: ExitReason) => void) | undefined;
  /** Set by `sys.suspend` (through the runtime's internal API) for processInfo. */
  suspended?: boolean;
}

/**
 * A process record. It is its own mailbox (one object less per process) and
 * its own suspended-frame counter for the first version whose async code it
 * runs (frames.ts): `n` and `token`; counters of further versions live in
 * `counters`.
 */
export class Proc extends Mailbox implements FrameCounter {
  /** Suspended awaits of `token`'s code in this process; KILLED_COUNT once it died. */
  n = 0;
  token: VersionToken | undefined = undefined;
  counters: Map<VersionToken, FrameCounter> | undefined = undefined;
  // The collections below are created on first use: most processes never link.
  /** Linked processes; symmetric (both sides hold each other). */
  links: Set<Proc> | undefined = undefined;
  /** Monitors this process holds: ref → the monitored process. */
  monitors: Map<Ref, Proc> | undefined = undefined;
  /** Monitors on this process: ref → the owner to notify. */
  monitoredBy: Map<Ref, Proc> | undefined = undefined;
  trapExit = false;
  alive = true;
  name: string | undefined = undefined;
  /** `module.fname/arity` for spawn(M, F, A), or the function a plain spawn ran. */
  initial: string | Function | undefined = undefined;
  private x: ProcExtra | undefined = undefined;
  constructor(readonly pid: Pid) {
    super();
  }
  /** FrameCounter: the process whose count this is. */
  get proc(): Proc {
    return this;
  }
  get mailbox(): Mailbox {
    return this;
  }
  get initialCall(): string | undefined {
    const i = this.initial;
    return typeof i === 'function' ? (i.name ? `${i.name}/${i.length}` : undefined) : i;
  }
  get abort(): AbortController | undefined {
    return this.x?.abort;
  }
  set abort(a: AbortController | undefined) {
    (this.x ??= {}).abort = a;
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
    if (f !== undefined || this.x !== undefined) (this.x ??= {}).onExit = f;
  }
  get suspended(): boolean {
    return this.x?.suspended === true;
  }
  set suspended(b: boolean) {
    (this.x ??= {}).suspended = b;
  }
}

/** Where crash reports go (SPEC S5.1: OTP's crash report). Users may redirect it. */
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

/** A stackless error thrown into a killed process's code (S4.4). */
export const KILLED_ERROR: Error & { code: string } = Object.assign(
  Object.create(HotcodeError.prototype),
  {
    code: 'killed',
    message:
      'this process was killed (its code was purged, or it got exit reason kill); it runs no more code',
  },
);

export class ProcessTable {
  readonly als = new AsyncLocalStorage<Proc>();
  /** Live processes. */
  readonly procs = new Set<Proc>();
  readonly names = new Map<string, Proc>();
  private nextId = 80;
  logger: Logger = defaultLogger;
  /**
   * Processes running the first part of their function (spawn runs it up to
   * its first suspension). An uncatchable interrupt (the shell's Ctrl+C)
   * leaves them here: `reapInterrupted` ends them.
   */
  private readonly starting: Proc[] = [];

  current(): Proc | undefined {
    return this.als.getStore();
  }

  /** The current process, which must be alive; throws a clear error otherwise. */
  requireSelf(what: string): Proc {
    const p = this.als.getStore();
    if (p === undefined)
      throw new HotcodeError(
        'no_process',
        `${what} needs a process, and this code runs outside one: run it inside spawn(…) or await run(async () => …)`,
      );
    if (!p.alive) throw this.noproc(p, what);
    return p;
  }

  /** Throws if the caller is a process that has exited (S0.2, S4.4). */
  checkCaller(what: string): Proc | undefined {
    const p = this.als.getStore();
    if (p !== undefined && !p.alive) throw this.noproc(p, what);
    return p;
  }

  /** S0.2: a runtime call from a process that has exited (a late callback, a killed process's code). */
  private noproc(p: Proc, what: string): Error {
    return new HotcodeError(
      'noproc',
      `${what}: process ${p.pid} has exited (${formatReason(p.exitReason)}); its code runs no more`,
    );
  }

  lookup(pid: Pid): Proc | undefined {
    return Pid.procOf(pid) as Proc | undefined;
  }

  /**
   * Creates a process and runs `fn(...args)` in it up to its first
   * suspension (as calling an async function does); `setup` runs first
   * (links, monitors).
   */
  spawnFn(
    fn: (...args: never[]) => unknown,
    args: readonly unknown[],
    setup: ((p: Proc) => void) | undefined,
    initialCall: string | undefined,
  ): Proc {
    const p = new Proc(new Pid(this.nextId++));
    p.initial = initialCall ?? fn;
    Pid.bind(p.pid, p);
    this.procs.add(p);
    setup?.(p);
    currentTable = this;
    const depth = this.starting.push(p);
    this.als.run(p, startProcess, this, p, fn, args);
    this.starting.length = depth - 1;
    return p;
  }

  /** Ends the processes an interrupt left in their first part (see `starting`). */
  reapInterrupted(reason: ExitReason): Proc[] {
    const left = this.starting.splice(0);
    for (const p of left) this.exit(p, reason);
    return left;
  }

  /** `spawnFn` of a function of no arguments. */
  spawn(body: () => unknown, setup?: (p: Proc) => void, initialCall?: string): Proc {
    return this.spawnFn(body, [], setup, initialCall);
  }
  /**
   * Ends a process with `reason`: it runs no more code the runtime controls
   * (S4.4), its links get exit signals and its monitors DOWN messages.
   */
  exit(p: Proc, reason: ExitReason): void {
    if (!p.alive) return;
    p.alive = false;
    p.exitReason = reason;
    this.procs.delete(p);
    Pid.bind(p.pid, undefined);
    if (p.name !== undefined) {
      this.names.delete(p.name);
    }
    p.mailbox.clear();
    // Awaits of compiled code that resume later throw (frames.ts).
    killCounters(p);
    if (p.monitors !== undefined) {
      for (const [ref, target] of p.monitors) target.monitoredBy?.delete(ref);
      p.monitors = undefined;
    }
    if (p.monitoredBy !== undefined) {
      for (const [ref, owner] of p.monitoredBy) {
        owner.monitors?.delete(ref); // a monitor fires once (OTP)
        if (owner.alive)
          owner.mailbox.deliver({ type: 'DOWN', ref, pid: p.pid, reason } satisfies DownMessage);
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
    if (!isQuietReason(reason)) this.crashReport(p, reason);
    if (p.onExit !== undefined) {
      const f = p.onExit;
      p.onExit = undefined;
      f(reason);
    }
    // Listeners run at the exit, so user code can close sockets and timers. They
    // run outside any process — not as the killer (whose self() they would get),
    // nor as the dead process (whose every runtime call throws): as plain code
    // they may still send, spawn or log (S0.2).
    const abort = p.abort;
    if (abort !== undefined) this.als.exit(() => abort.abort(reason));
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
      target.mailbox.deliver({ type: 'EXIT', from, reason } satisfies ExitMessage);
      return;
    }
    if (reason === 'normal') {
      if (direct && from === target.pid) this.exit(target, 'normal');
      return;
    }
    this.exit(target, reason);
  }

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
      owner.mailbox.deliver({ type: 'DOWN', ref, pid, reason: 'noproc' } satisfies DownMessage);
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
    this.names.set(name, p);
    p.name = name;
  }

  unregister(name: string): boolean {
    const p = this.names.get(name);
    if (p === undefined) return false;
    this.names.delete(name);
    p.name = undefined;
    return true;
  }

  /** Kills every process (the node stops). */
  killAll(): void {
    for (const p of [...this.procs.values()]) this.exit(p, 'killed');
  }

  private crashReport(p: Proc, reason: ExitReason): void {
    const what =
      reason instanceof Error
        ? (reason.stack ?? `${reason.name}: ${reason.message}`)
        : formatReason(reason);
    const who = p.name !== undefined ? `${p.pid} (${p.name})` : String(p.pid);
    const started = p.initialCall !== undefined ? ` started as ${p.initialCall}` : '';
    try {
      this.logger.error(`=CRASH REPORT==== process ${who}${started} exited: ${what}`, {
        pid: p.pid,
        reason,
        ...(p.name !== undefined ? { name: p.name } : {}),
        ...(p.initialCall !== undefined ? { initialCall: p.initialCall } : {}),
      });
    } catch {
      // a broken logger must not break exits
    }
  }
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
  if (result instanceof Promise) {
    currentTable = table;
    result.then(onProcessReturn, onProcessThrow);
  } else if (
    result !== null &&
    typeof result === 'object' &&
    typeof (result as PromiseLike<unknown>).then === 'function'
  ) {
    Promise.resolve(result).then(onProcessReturn, onProcessThrow);
    currentTable = table;
  } else queueMicrotask(onProcessReturn);
}

/** There is one process table per OS process; set before any process settles. */
let currentTable: ProcessTable | undefined;

function onProcessReturn(): void {
  const t = currentTable!;
  const p = t.als.getStore();
  if (p !== undefined) t.exit(p, 'normal');
}

function onProcessThrow(e: unknown): void {
  const t = currentTable!;
  const p = t.als.getStore();
  if (p !== undefined) t.exit(p, e === EXIT_THROWN ? p.exitReason : e);
}

/** Thrown by `exit(reason)` to unwind the exiting process's own code. */
export const EXIT_THROWN: Error = Object.assign(Object.create(Error.prototype), {
  message: 'process exited',
});

/** Reasons that are not crashes: no crash report (as OTP's proc_lib). */
export function isQuietReason(reason: ExitReason): boolean {
  return (
    reason === 'normal' ||
    reason === 'shutdown' ||
    reason === 'killed' ||
    reason === 'noproc' ||
    reason === KILLED_ERROR ||
    (typeof reason === 'object' &&
      reason !== null &&
      (reason as { shutdown?: unknown }).shutdown !== undefined)
  );
}

export function formatReason(reason: ExitReason): string {
  if (typeof reason === 'string') return reason;
  if (reason instanceof Error) return `${reason.name}: ${reason.message}`;
  try {
    return JSON.stringify(reason) ?? String(reason);
  } catch {
    return String(reason);
  }
}
