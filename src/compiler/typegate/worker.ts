/**
 * The type gate's worker thread: owns one {@link createChecker} engine and
 * answers the main thread's messages one at a time (a message is handled to
 * the end before the next is read, so checks are serialized here too).
 *
 * Memory: every check makes a new TypeScript type checker, and the previous
 * one becomes garbage only once it has lived through the check (so it is
 * promoted to the old generation). Nothing leaks — the heap after a full
 * collection stays flat — but left to its defaults V8 lets that garbage pile
 * up to several times the live heap, and the old generation it then leaves
 * is fragmented pages it keeps (a warm node's RSS went from ~250 to ~600 MB
 * over a thousand reloads). So:
 * - the young generation is small (`resourceLimits`, set by the main thread);
 * - between checks, whenever the heap has grown by more than
 *   {@link GC_SLACK_MB} (or half the live heap, if more) since the last
 *   collection, the worker runs a full one itself;
 * - when the process's RSS has grown by more than {@link RSS_SLACK_MB} since
 *   the last compaction (the garbage slack above, plus pages that a plain
 *   collection keeps), that collection is V8's memory-reducing one (`flavor:
 *   'last-resort'`: compacts and gives free pages back) — also the first
 *   one after warm-up, whose program build is the peak.
 * Measured (bench/typegate_rss.js): RSS after 1,000 reloads 615 → ~260 MB; a
 * plain collection every ~60 checks, a compacting one every ~400.
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
const GC_SLACK_MB = 32;
/** RSS growth allowed since the last compaction before a collection also compacts (> the slack above). */
const RSS_SLACK_MB = 64;
const MB = 1024 * 1024;

/** V8's `gc()` (the gc extension): no argument = a full collection. */
type Gc = (opts?: { type: 'major'; execution: 'sync'; flavor: 'regular' | 'last-resort' }) => void;

/** A full GC, for honest heap numbers and bounded memory; `undefined` when none can be had. */
let fullGc: Gc | undefined | null = null;
function getGc(): Gc | undefined {
  if (fullGc !== null) return fullGc;
  const g = (globalThis as { gc?: Gc }).gc;
  if (typeof g === 'function') return (fullGc = g);
  try {
    // nb: --expose-gc cannot be passed to a worker; set it, take `gc` from a
    // fresh context, and turn it off again so no other context gets it.
    setFlagsFromString('--expose-gc');
    fullGc = runInNewContext('gc') as Gc;
    setFlagsFromString('--no-expose-gc');
  } catch {
    fullGc = undefined;
  }
  return fullGc;
}

/** This thread's CPU time, µs (Node ≥ 23.9), or undefined. */
const threadCpu = (
  process as { threadCpuUsage?: () => { user: number; system: number } }
).threadCpuUsage?.bind(process);
let cpuMicros = 0;

/** Runs `f`, adding the thread CPU time it took to {@link cpuMicros}. */
function counted<T>(f: () => T): T {
  const a = threadCpu?.();
  try {
    return f();
  } finally {
    const b = threadCpu?.();
    if (a && b) cpuMicros += b.user - a.user + (b.system - a.system);
  }
}

/** Heap in use after the last full collection the worker ran (0: none yet). */
let liveAfterGc = 0;
/** The process's RSS after the last compacting collection (0: none yet). */
let rssAfterCompaction = 0;
let gcs = 0;
let gcPending = false;

/** A full collection; a compacting one when asked or when the RSS has grown since the last. */
function collect(
  gc: Gc,
  compact = process.memoryUsage.rss() > rssAfterCompaction + RSS_SLACK_MB * MB,
): void {
  if (compact) {
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    rssAfterCompaction = process.memoryUsage.rss();
  } else {
    gc();
  }
  liveAfterGc = getHeapStatistics().used_heap_size;
}

/**
 * After a check is answered: collect when the heap has outgrown the live
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
        send({ type: 'result', id: msg.id, result: counted(() => checker.check(msg.req)) });
      } catch (err) {
        fatal(msg.id, err);
        return;
      }
      collectIfGrown();
      break;
    case 'warm':
      try {
        counted(() => checker.warm());
      } catch (err) {
        fatal(msg.id, err);
        return;
      }
      {
        // Collect the warm-up's garbage now, before answering: a check sent
        // right after warm() resolves must not wait for it. (The compacting
        // collection that gives back the pages of the warm-up's peak, the
        // program's first build, comes with the first collection between
        // checks: it would add ~250 ms here.)
        const gc = getGc();
        if (gc) collect(gc, false);
      }
      send({ type: 'warmed', id: msg.id });
      break;
    case 'stats': {
      const { checks, programFiles, transitionsChecked } = checker.stats();
      const gc = getGc();
      if (gc) collect(gc, false);
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
          cpuMs: cpuMicros / 1000,
        },
      });
      break;
    }
    case 'crash':
      process.exit(70);
  }
});
