/**
 * The type gate's worker thread: owns one {@link createChecker} engine and
 * answers the main thread's messages one at a time (a message is handled to
 * the end before the next is read, so checks are serialized here too).
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { createChecker } from './checker.js';
import type { FromWorker, ToWorker, WorkerConfig } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('typegate/worker.js must run in a worker thread');

const checker = createChecker(workerData as WorkerConfig);

/** A full GC, for honest heap numbers; `undefined` when none can be had. */
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

function send(msg: FromWorker): void {
  port!.postMessage(msg);
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'check':
      try {
        send({ type: 'result', id: msg.id, result: checker.check(msg.req) });
      } catch (err) {
        // The engine's state is suspect after a throw: the main thread
        // terminates this worker and starts a fresh one for the next check.
        const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
        send({ type: 'fatal', id: msg.id, message });
      }
      break;
    case 'stats': {
      const gc = getGc();
      gc?.();
      const { checks, programFiles } = checker.stats();
      send({
        type: 'stats',
        id: msg.id,
        stats: {
          heapUsed: getHeapStatistics().used_heap_size,
          gcForced: !!gc,
          checks,
          programFiles,
        },
      });
      break;
    }
    case 'crash':
      process.exit(70);
  }
});
