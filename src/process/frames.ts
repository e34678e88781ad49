/**
 * Suspended-frame counts (S4.3): a process *uses* a version while an
 * `await` in that version's code has not resumed. Compiled code increments a
 * counter before each await and decrements it after (compiler/rewrite.ts);
 * there is no stack walking.
 *
 * A counter belongs to one (process, version) pair. The version's token keeps
 * the set of its counters, so purge looks only at processes that ran the
 * version's async code — never at bystanders (docs/architecture.md).
 */
import type { Proc } from './table.js';

/** Created by the code server, one per loaded version; opaque here. */
export interface VersionToken {
  /** Counters of the processes that have run async code of this version. */
  readonly counters: Set<FrameCounter>;
  /** Set when the version is purged: later awaits of its closures are not counted. */
  purged: boolean;
}

export interface FrameCounter {
  /** Suspended awaits of this version in this process; KILLED_COUNT once it died. */
  n: number;
  readonly proc: Proc | undefined;
  readonly token: VersionToken | undefined;
}

/**
 * A killed process's counters are set to this, so that the decrement after an
 * await resumes goes below zero, and the compiled code awaits a promise that
 * never settles instead of going on (S4.4). A small integer, not -Infinity:
 * a double would turn the counter field of every process record into a boxed
 * number (16 B more per process, and slower counting).
 */
export const KILLED_COUNT = -(2 ** 30);

/** Counts of code running outside any process: kept balanced, never read. */
const OUTSIDE: FrameCounter = { n: 0, proc: undefined, token: undefined };
/** For a process that already exited: its next resumed await never goes on. */
const DEAD: FrameCounter = { n: KILLED_COUNT, proc: undefined, token: undefined };

/** The counter of `p` for `token`; created on first use. The first is the process record itself. */
export function counterFor(p: Proc | undefined, token: VersionToken): FrameCounter {
  if (p === undefined) return OUTSIDE;
  if (p.token === token) return p;
  let c = p.counters?.get(token);
  if (c === undefined) {
    if (!p.alive) return DEAD;
    if (token.purged) return OUTSIDE;
    if (p.token === undefined) {
      p.token = token;
      p.n = 0;
      token.counters.add(p);
      return p;
    }
    c = { n: 0, proc: p, token };
    token.counters.add(c);
    (p.counters ??= new Map()).set(token, c);
  }
  return c;
}

function getCounter(p: Proc, token: VersionToken): FrameCounter | undefined {
  return p.token === token ? p : p.counters?.get(token);
}

/** Every (token, counter) of a process. */
export function* countersOf(p: Proc): Iterable<[VersionToken, FrameCounter]> {
  if (p.token !== undefined) yield [p.token, p];
  if (p.counters !== undefined) yield* p.counters;
}

/** A process exits: its counters go to KILLED_COUNT and leave their versions. */
export function killCounters(p: Proc): void {
  p.n = KILLED_COUNT;
  p.token?.counters.delete(p);
  p.token = undefined;
  if (p.counters !== undefined) {
    for (const c of p.counters.values()) {
      c.n = KILLED_COUNT;
      c.token?.counters.delete(c);
    }
    p.counters = undefined;
  }
}

/** Processes suspended in the version's code right now. */
export function usersOf(token: VersionToken): Proc[] {
  const users: Proc[] = [];
  for (const c of token.counters) if (c.n > 0 && c.proc?.alive) users.push(c.proc);
  return users;
}

export function hasUsers(token: VersionToken): boolean {
  for (const c of token.counters) if (c.n > 0 && c.proc?.alive) return true;
  return false;
}

export function isUsedBy(token: VersionToken, p: Proc): boolean {
  const c = getCounter(p, token);
  return c !== undefined && c.n > 0;
}

/** Forgets every counter of a purged version, so nothing keeps it alive (S4.5). */
export function dropToken(token: VersionToken): void {
  token.purged = true;
  for (const c of token.counters) {
    const p = c.proc;
    if (p === undefined) continue;
    if (p.token === token) {
      // the record's own slot is free for the next version (its count is 0: no user is left)
      p.token = undefined;
      p.n = 0;
    } else p.counters?.delete(token);
  }
  token.counters.clear();
}
