/**
 * Fairness (S0.6). JavaScript cannot preempt, and a receive that is answered
 * at once resolves a promise: two processes exchanging messages without pause
 * would run in one endless chain of microtasks, and no timer, socket or other
 * callback of the node would run until it ends. Erlang preempts a process
 * after a budget of reductions; hotcode yields at message delivery instead.
 *
 * Every resolution of a receive goes through {@link resolveFair}. Deliveries
 * are counted; every 128th reads the clock, and once the current slice has
 * run for {@link SLICE_MS} the resolution — and every later one, in order —
 * is deferred to a `setImmediate`, so the event loop turns (timers, I/O)
 * before the processes go on. A slice ends when the event loop gets to its
 * check phase. So a timer is late by about a slice plus the callback that is
 * running, far under the 10 ms the contract allows.
 */

/** Longest run of message deliveries between two turns of the event loop. */
export const SLICE_MS = 2;
const CHECK_EVERY = 128;

/** Who a deferred resolution is for: it is dropped if that process has exited meanwhile. */
export interface Receiver {
  readonly alive: boolean;
}

/**
 * The slice's state, one object so the hot path in the mailbox can test it
 * inline: `count` deliveries since the clock was last read; `deferred`, the
 * resolutions waiting for the event loop to turn (receiver, resolve, value,
 * …), or undefined.
 */
export const slice: { count: number; deferred: unknown[] | undefined } = {
  count: 0,
  deferred: undefined,
};
/** performance.now() when the current slice started; 0 when no slice is open. */
let sliceStart = 0;

/**
 * Whether a resolution may happen at once without asking the clock: the
 * mailbox's fast path (`slice.deferred === undefined && ++slice.count <
 * CHECK_EVERY`), else {@link resolveFair}.
 */
export const CHECK_EVERY_DELIVERIES = CHECK_EVERY;

/** Resolves a waiting receive with `value`, now or — past the slice — after the event loop has turned. */
export function resolveFair(to: Receiver, resolve: (value: unknown) => void, value: unknown): void {
  const deferred = slice.deferred;
  if (deferred !== undefined) {
    deferred.push(to, resolve, value);
    return;
  }
  if (slice.count >= CHECK_EVERY || ++slice.count === CHECK_EVERY) {
    slice.count = 0;
    const now = performance.now();
    if (sliceStart === 0) {
      sliceStart = now;
      setImmediate(endSlice);
    } else if (now - sliceStart > SLICE_MS) {
      slice.deferred = [to, resolve, value];
      setImmediate(flush);
      return;
    }
  }
  resolve(value);
}

/**
 * A message taken at once from the mailbox (`receive` found one queued): a
 * resolved promise now, or one resolved after the event loop has turned if
 * the slice is over.
 */
export function fairValue(to: Receiver, value: unknown): Promise<unknown> {
  if (slice.deferred === undefined && ++slice.count < CHECK_EVERY) return Promise.resolve(value);
  return new Promise((resolve) => resolveFair(to, resolve, value));
}

function endSlice(): void {
  sliceStart = 0;
  slice.count = 0;
}

function flush(): void {
  const d = slice.deferred!;
  slice.deferred = undefined;
  sliceStart = 0;
  slice.count = 0;
  for (let i = 0; i < d.length; i += 3) {
    if ((d[i] as Receiver).alive) (d[i + 1] as (value: unknown) => void)(d[i + 2]);
  }
}
