/**
 * The type gate's worker thread: owns one {@link createChecker} engine and
 * answers the main thread's messages one at a time (a message is handled to
 * the end before the next is read, so checks are serialized here too).
 *
 * Memory: every check makes a new TypeScript type checker, and the previous
 * one becomes garbage only once it has lived through the check (so it is
 * promoted to the old generation). Left to its defaults V8 lets that garbage
 * pile up to several times the live heap, and keeps the pages it freed pooled
 * (a warm node's RSS went from ~250 to ~600 MB over a thousand reloads). So
 * the worker runs a full collection itself, between checks, whenever the heap
 * has grown by more than {@link GC_SLACK_MB} (or half the live heap, if more)
 * since the last one; the young generation is kept small by the main thread
 * (`resourceLimits`), which bounds what a scavenge holds.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { createChecker } from './checker.js';
import type { FromWorker, ToWorker, WorkerConfig } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('typegate/worker.js must run in a worker thread');

const checker = createChecker(workerData as WorkerConfig);

/** Garbage allowed above the live heap before the worker collects it itself. */
const GC_SLACK_MB = 48;
const MB = 1024 * 1024;

/** A full GC, for honest heap numbers and bounded memory; `undefined` when none can be had. */
let fullGc: (() => void) | undefined | null = null;
function getGc(): (() => void) | undefined {
  if (fullGc !== null) return fullGc;
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return (fullGc = g);
  try {
    // nb: --expose-gc cannot be passed to a worker; set it, take `gc` from a
    // fresh context, and turn it off again so no other context gets it.
    setFlagsFromString('--expose-gc');
    fullGc = runInNewContext('gc') as () => void;
    setFlagsFromString('--no-expose-gc');
  } catch {
    fullGc = undefined;
  }
  return fullGc;
}

/** Heap in use after the last full collection the worker ran (0: none yet). */
let liveAfterGc = 0;
let gcs = 0;
let gcPending = false;

function collect(gc: () => void): void {
  gc();
  liveAfterGc = getHeapStatistics().used_heap_size;
}

/**
 * After a message is answered: collect when the heap has outgrown the live
 * heap by the slack. Runs from `setImmediate`, after the answer is posted and
 * after any message already waiting (those are handled first).
 */
function collectIfGrown(): void {
  if (gcPending) return;
  gcPending = true;
  setImmediate(() => {
    gcPending = false;
    const gc = getGc();
    if (!gc) return;
    const used = getHeapStatistics().used_heap_size;
    if (liveAfterGc === 0 || used > liveAfterGc + Math.max(GC_SLACK_MB * MB, liveAfterGc / 2)) {
      collect(gc);
      gcs++;
    }
  });
}

function send(msg: FromWorker): void {
  port!.postMessage(msg);
}

function fatal(id: number, err: unknown): void {
  // The engine's state is suspect after a throw: the main thread
  // terminates this worker and starts a fresh one for the next check.
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  send({ type: 'fatal', id, message });
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'check':
      try {
        send({ type: 'result', id: msg.id, result: checker.check(msg.req) });
      } catch (err) {
        fatal(msg.id, err);
        return;
      }
      collectIfGrown();
      break;
    case 'warm':
      try {
        checker.warm();
      } catch (err) {
        fatal(msg.id, err);
        return;
      }
      {
        // Collect the warm-up's garbage now, before answering: a check sent
        // right after warm() resolves must not wait for it.
        const gc = getGc();
        if (gc) collect(gc);
      }
      send({ type: 'warmed', id: msg.id });
      break;
    case 'stats': {
      const { checks, programFiles, transitionsChecked } = checker.stats();
      const gc = getGc();
      if (gc) collect(gc);
      send({
        type: 'stats',
        id: msg.id,
        stats: {
          heapUsed: getHeapStatistics().used_heap_size,
          gcForced: !!gc,
          checks,
          programFiles,
          transitionsChecked,
          gcs,
        },
      });
      break;
    }
    case 'crash':
      process.exit(70);
  }
});
