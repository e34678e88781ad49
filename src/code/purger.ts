/**
 * The purger: decides who dies (OTP's
 * `erts_code_purger.erl`). "Kill all processes running code from old
 * Module, then purge" — and soft purge, which refuses while anyone uses it.
 *
 * Cost depends only on the processes that ran the old version's async code
 * (its token's counters), never on bystanders (docs/architecture.md) — and,
 * when a process calls purge, on its own call stack.
 */
import type { Pid } from '../process/pid.js';
import type { Proc, ProcessTable } from '../process/table.js';
import type { ModuleRecord, Version } from './handles.js';

export class Purger {
  constructor(
    private readonly table: ProcessTable,
    private readonly drop: (rec: ModuleRecord, v: Version) => void,
  ) {}

  /**
   * S4.1: kills every process that uses the old version (reason
   * `'killed'`), then removes it. Returns the processes killed. The calling
   * process is one of them if it runs the old version's code itself at this
   * moment (S4.4, as OTP's purge checks the caller's stack too): its
   * synchronous frames are not counted as suspended, so its stack is read.
   */
  purge(rec: ModuleRecord): Pid[] {
    const old = rec.old;
    if (old === undefined) return [];
    const victims: Proc[] = this.table.usersOf(old.token);
    const caller = this.table.current();
    if (caller?.alive && !victims.includes(caller) && isOnStack(old)) victims.push(caller);
    const pids = victims.map((p) => p.pid);
    this.table.killAll(victims, 'killed');
    this.forget(rec, old);
    return pids;
  }

  /** S4.2: removes the old version only if no process uses it; otherwise changes nothing. */
  softPurge(rec: ModuleRecord): boolean {
    const old = rec.old;
    if (old === undefined) return true;
    if (this.table.hasUsers(old.token)) return false;
    const caller = this.table.current();
    if (caller?.alive && isOnStack(old)) return false;
    this.forget(rec, old);
    return true;
  }

  /** After this, nothing in the runtime holds the version (S4.5). */
  private forget(rec: ModuleRecord, v: Version): void {
    this.table.dropToken(v.token);
    this.drop(rec, v);
  }
}

type Prepare = (err: Error, frames: NodeJS.CallSite[]) => unknown;

/** Is code of version `v` on the current call stack (its compiled filename is per version)? */
function isOnStack(v: Version): boolean {
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace as Prepare | undefined;
  Error.stackTraceLimit = Number.POSITIVE_INFINITY;
  Error.prepareStackTrace = (_e, frames) => frames;
  try {
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, isOnStack);
    const frames = holder.stack as NodeJS.CallSite[] | undefined;
    if (!Array.isArray(frames)) return false;
    for (const f of frames) if (f.getFileName() === v.filename) return true;
    return false;
  } catch {
    return false;
  } finally {
    Error.stackTraceLimit = limit;
    if (prepare === undefined) delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
    else Error.prepareStackTrace = prepare;
  }
}
