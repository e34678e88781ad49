/**
 * A process's mailbox: an array-backed queue with a moving head, plus the one
 * pending `receive` of its owner (a process waits in one receive at a time).
 * Selective receive scans from the oldest message and leaves the others in
 * order (SPEC S5.2).
 */
export type Match = (msg: unknown) => boolean;

export interface Waiter {
  resolve: (msg: unknown) => void;
  match: Match | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class Mailbox {
  private items: unknown[] = [];
  private head = 0;
  /** The owner's pending receive, if it is blocked in one. */
  waiter: Waiter | undefined = undefined;

  get length(): number {
    return this.items.length - this.head;
  }

  /** Delivers to the waiting receive if it matches, else queues. */
  deliver(msg: unknown): void {
    const w = this.waiter;
    if (w !== undefined && (w.match === undefined || w.match(msg))) {
      this.waiter = undefined;
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.resolve(msg);
      return;
    }
    this.items.push(msg);
  }

  /** Takes the oldest (matching) message; `NONE` if there is none. */
  take(match: Match | undefined): unknown {
    const items = this.items;
    if (match === undefined) {
      if (this.head >= items.length) return NONE;
      const msg = items[this.head];
      items[this.head++] = undefined;
      if (this.head > 64 && this.head * 2 > items.length) {
        this.items = items.slice(this.head);
        this.head = 0;
      } else if (this.head === items.length) {
        items.length = 0;
        this.head = 0;
      }
      return msg;
    }
    for (let i = this.head; i < items.length; i++) {
      const msg = items[i];
      if (match(msg)) {
        if (i === this.head) {
          items[this.head++] = undefined;
          if (this.head === items.length) {
            items.length = 0;
            this.head = 0;
          }
        } else items.splice(i, 1);
        return msg;
      }
    }
    return NONE;
  }

  /** Messages in order (for flush and inspection). */
  toArray(): unknown[] {
    return this.items.slice(this.head);
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    const w = this.waiter;
    if (w?.timer !== undefined) clearTimeout(w.timer);
    this.waiter = undefined;
  }
}

export const NONE: unique symbol = Symbol('none');
