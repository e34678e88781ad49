/**
 * A process's mailbox: an array-backed queue with a moving head, plus the one
 * pending `receive` of its owner (a process waits in one receive at a time).
 * Selective receive scans from the oldest message and leaves the others in
 * order (S5.2). The queue array is created on first use: most idle
 * processes never hold a message (spawn cost, docs/architecture.md).
 */
import { CHECK_EVERY_DELIVERIES, resolveFair, slice } from './fairness.js';

export type Match = (msg: unknown) => boolean;

/** Messages delivered to any mailbox of this OS process (the observer's messages/s, S10.2). */
let delivered = 0;

/** How many messages were delivered to mailboxes so far (a plain counter: one increment per message). */
export function deliveredMessages(): number {
  return delivered;
}

/**
 * Does `match` accept `msg`? A match that throws (on a message whose
 * properties throw when read, say) counts as no match (S5.2).
 */
function accepts(match: Match | undefined, msg: unknown): boolean {
  if (match === undefined) return true;
  try {
    return !!match(msg);
  } catch {
    return false;
  }
}

export interface Waiter {
  resolve: (msg: unknown) => void;
  match: Match | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** What a pending receive has beyond its resolve function: rare, so kept out of line. */
interface WaitExtras {
  /** The first pending receive's match (undefined: any message). */
  match: Match | undefined;
  /** The first pending receive's timeout timer. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Further receives pending at the same time, oldest first. Erlang code has
   * one receive at a time; Node callbacks run as their process, so a process
   * may have several (each takes the first message it matches).
   */
  more: Waiter[] | undefined;
}

export abstract class Mailbox {
  /** Is the owner alive? (A dropped receive resolution is for a live owner only.) */
  abstract get alive(): boolean;
  private items: unknown[] | undefined = undefined;
  private head = 0;
  // The owner's pending receive, if it is blocked in one. Most waiting processes wait in
  // a plain `receive()` — no match, no timeout, no other receive pending — and keep only
  // its resolve function: every field here is 8 bytes in each of 100 k idle processes.
  private wResolve: ((msg: unknown) => void) | undefined = undefined;
  private wx: WaitExtras | undefined = undefined;

  /** Is the owner blocked in a receive? */
  get waiting(): boolean {
    return this.wResolve !== undefined;
  }

  /** The next pending receive moves up (or none is left). */
  private promote(): void {
    const more = this.wx?.more;
    const next = more?.shift();
    this.wResolve = next?.resolve;
    const rest = more !== undefined && more.length > 0 ? more : undefined;
    this.wx =
      next !== undefined && (next.match !== undefined || next.timer !== undefined || rest)
        ? { match: next.match, timer: next.timer, more: rest }
        : undefined;
  }

  /** Registers a pending receive (after `take` found nothing for it). */
  wait(resolve: (msg: unknown) => void, match: Match | undefined): void {
    if (this.wResolve === undefined) {
      this.wResolve = resolve;
      this.wx = match === undefined ? undefined : { match, timer: undefined, more: undefined };
    } else {
      const x = (this.wx ??= { match: undefined, timer: undefined, more: undefined });
      (x.more ??= []).push({ resolve, match, timer: undefined });
    }
  }

  /** Sets the timeout timer of the receive registered last by `wait`. */
  setTimer(resolve: (msg: unknown) => void, timer: ReturnType<typeof setTimeout>): void {
    if (this.wResolve === resolve)
      (this.wx ??= { match: undefined, timer: undefined, more: undefined }).timer = timer;
    else {
      const w = this.wx?.more?.find((x) => x.resolve === resolve);
      if (w) w.timer = timer;
    }
  }

  /** Withdraws a pending receive (its timeout fired); false if it was already answered. */
  unwait(resolve: (msg: unknown) => void): boolean {
    if (this.wResolve === resolve) {
      this.promote();
      return true;
    }
    const more = this.wx?.more;
    const i = more?.findIndex((x) => x.resolve === resolve) ?? -1;
    if (i < 0) return false;
    more!.splice(i, 1);
    return true;
  }

  get length(): number {
    return this.items === undefined ? 0 : this.items.length - this.head;
  }

  /** Delivers to the waiting receive if it matches, else queues. */
  deliver(msg: unknown): void {
    delivered++;
    const resolve = this.wResolve;
    if (resolve !== undefined) {
      const x = this.wx;
      if (x === undefined || x.match === undefined || accepts(x.match, msg)) {
        if (x === undefined) this.wResolve = undefined;
        else {
          if (x.timer !== undefined) clearTimeout(x.timer);
          this.promote();
        }
        // the common case inline: no resolution waits for the event loop, and the clock is not due
        if (slice.deferred === undefined && ++slice.count < CHECK_EVERY_DELIVERIES) resolve(msg);
        else resolveFair(this, resolve, msg);
        return;
      }
      const more = x.more;
      if (more !== undefined) {
        for (let i = 0; i < more.length; i++) {
          const m = more[i]!;
          if (accepts(m.match, msg)) {
            more.splice(i, 1);
            if (m.timer !== undefined) clearTimeout(m.timer);
            resolveFair(this, m.resolve, msg);
            return;
          }
        }
      }
    }
    if (this.items === undefined) this.items = [msg];
    else this.items.push(msg);
  }

  /** Takes the oldest (matching) message; `NONE` if there is none. */
  take(match: Match | undefined): unknown {
    const items = this.items;
    if (items === undefined || this.head >= items.length) return NONE;
    if (match === undefined) return this.takeAt(items, this.head);
    for (let i = this.head; i < items.length; i++)
      if (accepts(match, items[i])) return this.takeAt(items, i);
    return NONE;
  }

  private takeAt(items: unknown[], i: number): unknown {
    const msg = items[i];
    if (i !== this.head) {
      items.splice(i, 1);
      return msg;
    }
    items[this.head++] = undefined;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    return msg;
  }

  /** Takes every queued message, oldest first (the shell's flush). */
  drain(): unknown[] {
    const out = this.toArray();
    this.items = undefined;
    this.head = 0;
    return out;
  }

  /** Withdraws every pending receive (their promises never settle). */
  cancelWaits(): void {
    const x = this.wx;
    if (x !== undefined) {
      if (x.timer !== undefined) clearTimeout(x.timer);
      if (x.more !== undefined)
        for (const w of x.more) if (w.timer !== undefined) clearTimeout(w.timer);
    }
    this.wResolve = undefined;
    this.wx = undefined;
  }

  /** Messages in order (for flush and inspection). */
  toArray(): unknown[] {
    return this.items === undefined ? [] : this.items.slice(this.head);
  }

  /** The oldest `n` queued messages, left in place (the observer's mailbox preview). */
  peek(n: number): unknown[] {
    return this.items === undefined ? [] : this.items.slice(this.head, this.head + n);
  }

  /** The owner exited: its messages and pending receives are dropped (S4.4). */
  clear(): void {
    this.items = undefined;
    this.head = 0;
    this.cancelWaits();
  }
}

export const NONE: unique symbol = Symbol('none');
