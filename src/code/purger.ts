/**
 * The purger: decides who dies (STYLE.md practice 1; OTP's
 * `erts_code_purger.erl`). "Kill all processes running code from old
 * Module, then purge" — and soft purge, which refuses while anyone uses it.
 *
 * Cost depends only on the processes that ran the old version's async code
 * (its token's counters), never on bystanders (DESIGN.md "Purging").
 */
import { dropToken, hasUsers, usersOf } from '../process/frames.js';
import type { ProcessTable } from '../process/table.js';
import type { ModuleRecord, Version } from './handles.js';

export class Purger {
  constructor(
    private readonly table: ProcessTable,
    private readonly drop: (rec: ModuleRecord, v: Version) => void,
  ) {}

  /**
   * S4.1: kills every process that uses the old version (reason `'killed'`),
   * then removes it. Returns whether any process was killed.
   */
  purge(rec: ModuleRecord): boolean {
    const old = rec.old;
    if (old === undefined) return false;
    const victims = usersOf(old.token);
    for (const p of victims) this.table.exit(p, 'killed');
    this.forget(rec, old);
    return victims.length > 0;
  }

  /** S4.2: removes the old version only if no process uses it; otherwise changes nothing. */
  softPurge(rec: ModuleRecord): boolean {
    const old = rec.old;
    if (old === undefined) return true;
    if (hasUsers(old.token)) return false;
    this.forget(rec, old);
    return true;
  }

  /** After this, nothing in the runtime holds the version (S4.5). */
  private forget(rec: ModuleRecord, v: Version): void {
    dropToken(v.token);
    this.drop(rec, v);
  }
}
