/**
 * The runtime's services for its own code: the hot modules of `stdlib/`
 * (genServer, supervisor, sys, release) and the shell. Not part of the
 * published API (it is not in `dist/index.d.ts`): users reach processes and
 * modules through the public functions of `index.ts` only.
 *
 * Each service asks an owner — the code server or the process table — and
 * never hands out their records: nothing outside `code/` and `process/`
 * writes module or process state.
 *
 * The stdlib gets this object as `services` from `hotcode` (the node gives
 * its own modules an API object that carries it; see `runtime-api.ts` for
 * the types they are checked against); the shell imports it directly.
 */
import type { Cell } from './code/handles.js';
import type { Pid, Ref } from './process/pid.js';
import type { ExitReason } from './process/table.js';

/** A release upgrade's hold on the versions it changes (S8.4, S6.7). */
export interface VersionsTransaction {
  /**
   * Records the modules' versions as they are now, as this upgrade left
   * them; call it after each change the upgrade itself makes.
   */
  mark(): void;
  /**
   * Puts back the versions the modules had when the transaction began, for
   * each module still as this upgrade left it (a change made meanwhile by
   * someone else is never undone). A version loaded by the upgrade is
   * withdrawn, and a process that entered it is killed.
   */
  rollback(): void;
}

export interface RuntimeServices {
  // ---- modules ----------------------------------------------------------------------
  /** The name of a module argument (a name or a handle); throws `badarg`. */
  moduleArg(m: unknown, what: string): string;
  /** The cell of a module: `cell.v` is its current version's exports (qualified calls). */
  cellOf(module: string): Cell;
  /** The current version's exports object (read only), or undefined if not loaded. */
  currentExports(module: string): Readonly<Record<string, unknown>> | undefined;
  /** Begins a release upgrade's hold on the versions of `modules`. */
  versionsTransaction(modules: readonly string[]): VersionsTransaction;

  // ---- processes --------------------------------------------------------------------
  /** The calling process (alive or not), or undefined outside any process. */
  caller(): Pid | undefined;
  /** If the calling process has exited: its exit reason. */
  callerExit(): { reason: ExitReason } | undefined;
  /**
   * Runs `listener(reason)` once when the process exits (outside any process,
   * like `signal()` listeners). Returns false, and registers nothing, if the
   * process is not alive.
   */
  onExit(pid: Pid, listener: (reason: ExitReason) => void): boolean;
  /** For `processInfo`'s status: a genServer marks itself suspended by `sys.suspend`. */
  setSuspended(pid: Pid, suspended: boolean): void;
  /** Is `e` the marker that `exit(reason)` unwinds the exiting process's code with? */
  isExitUnwind(e: unknown): boolean;
  /**
   * The calling process's `receive(match)`, the message boxed as `{ msg }`
   * so that any value reaches it, even one whose `then` throws when read
   * (S5.2). For the runtime's own receive loops (genServer).
   */
  receiveBoxed(match?: (msg: unknown) => boolean): Promise<{ msg: unknown }>;
  /**
   * A one-line description of any value, for exit reasons in messages and
   * reports (vocabulary.ts `describe`: never throws, whatever the value does
   * when read).
   */
  describe(value: unknown): string;
  /** Writes a report to the node's logger (`setLogger`), as crash reports are. */
  report(message: string, meta: { pid: Pid; reason: ExitReason }): void;

  // ---- the observer (S10) -----------------------------------------------------------
  /** Every loaded module: its current and old version numbers, and the processes in the old one. */
  versionSummaries(): { module: string; current?: number; old?: number; oldUsers: Pid[] }[];
  /** How many processes are alive. */
  processCount(): number;
  /** Messages delivered to mailboxes since the OS process began (for messages per second). */
  messagesDelivered(): number;
  /** The oldest `n` messages queued for a live process, left in place; undefined if it is dead. */
  peekMailbox(pid: Pid, n: number): unknown[] | undefined;
  /**
   * One pass over the live processes: the `n` with the longest mailboxes
   * (longest first) and those whose initial call is `initialCall`.
   */
  surveyProcesses(
    n: number,
    initialCall: string,
  ): { longest: Pid[]; matching: Pid[]; count: number };
  /** The monitors a live process holds and those on it, with the pid on the other side. */
  monitorPeers(
    pid: Pid,
  ): { monitors: { ref: Ref; pid: Pid }[]; monitoredBy: { ref: Ref; pid: Pid }[] } | undefined;

  // ---- the shell --------------------------------------------------------------------
  /**
   * Spawns a shell process: it lives until it is killed; `onExit` runs when
   * it exits (a new shell process takes over, as in Erlang).
   */
  spawnShell(onExit: (reason: ExitReason) => void): Pid;
  /** Runs `fn` as the process `pid` (its `self()`, its `receive()`); for the shell's evaluation. */
  runAs<T>(pid: Pid, fn: () => T): T;
  /** Takes every message of the process's mailbox, oldest first (`flush()`). */
  drainMailbox(pid: Pid): unknown[];
  /** Withdraws the process's pending receives (an interrupted expression left them). */
  cancelReceives(pid: Pid): void;
  /**
   * After an evaluation was interrupted (Ctrl+C), processes that were still
   * running the first part of their function when the interrupt came never
   * suspended, so nothing would end them: they exit with `reason`. Returns
   * their pids.
   */
  reapInterrupted(reason: ExitReason): Pid[];
  /** Starts the type gate's checker ahead of the first typed change (~1.5 s). */
  warmTypeGate(): Promise<void>;
}
