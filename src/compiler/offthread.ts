/**
 * Runs the compiler's rewrite stage (stage.ts) of a large module in a worker
 * thread, so compiling it does not block the event loop: the running system
 * keeps serving while a 12 k-export module compiles (docs/benchmarks.md,
 * `compile.stall_12k_exports_ms`). Small modules are rewritten in place —
 * a worker round trip would cost more than their rewrite.
 *
 * One worker, started on the first large module and stopped after
 * {@link IDLE_MS} without work (large modules are rare, and its isolate is
 * tens of MB); unref'd, so it never holds the process open. If it cannot
 * start or dies, the stage runs on the main thread instead: slower to the
 * event loop, same object file.
 */
import { Worker } from 'node:worker_threads';
import { rewriteStage, type StageInput, type StageOutput } from './stage.js';

/** Above this size (esbuild's output, in characters) the stage runs in the worker. */
export const OFF_THREAD_CHARS = 256 * 1024;

const WORKER_URL = new URL('./stage-worker.js', import.meta.url);

/** How long the worker waits for the next large module before it is stopped. */
const IDLE_MS = 10_000;

interface Running {
  worker: Worker;
  pending: Map<number, { resolve: (o: StageOutput) => void; reject: (e: Error) => void }>;
  idle: ReturnType<typeof setTimeout> | undefined;
}
let running: Running | undefined;
let nextId = 1;

function worker(): Running {
  if (running) return running;
  const r: Running = {
    // (a worker inherits the process's execArgv by default, and some flags make it fail to start)
    worker: new Worker(WORKER_URL, { execArgv: [] }),
    pending: new Map(),
    idle: undefined,
  };
  const fail = (why: Error) => {
    if (running === r) running = undefined;
    clearTimeout(r.idle);
    for (const p of r.pending.values()) p.reject(why);
    r.pending.clear();
  };
  r.worker.on('message', (m: { id: number; output?: StageOutput; error?: string }) => {
    const p = r.pending.get(m.id);
    if (!p) return;
    r.pending.delete(m.id);
    if (r.pending.size === 0) {
      r.worker.unref();
      r.idle = setTimeout(() => {
        if (running === r && r.pending.size === 0) {
          running = undefined;
          void r.worker.terminate();
        }
      }, IDLE_MS).unref();
    }
    if (m.output !== undefined) p.resolve(m.output);
    else p.reject(new Error(m.error ?? 'the compiler worker failed'));
  });
  r.worker.on('error', (e) => fail(e));
  r.worker.on('exit', (code) => fail(new Error(`the compiler worker exited (${code})`)));
  r.worker.unref();
  running = r;
  return r;
}

/** The rewrite stage of `input`, in the worker when the module is large (rejects only where rewriteStage itself would throw). */
export async function rewriteStageOffThread(input: StageInput): Promise<StageOutput> {
  if (input.code.length <= OFF_THREAD_CHARS) return rewriteStage(input);
  try {
    const r = worker();
    clearTimeout(r.idle);
    const id = nextId++;
    const answer = new Promise<StageOutput>((resolve, reject) =>
      r.pending.set(id, { resolve, reject }),
    );
    // While a request is pending the worker keeps the process alive, as any compile would.
    r.worker.ref();
    r.worker.postMessage({ id, input });
    return await answer;
  } catch {
    return rewriteStage(input);
  }
}

/** Stops the worker (for tests and a clean exit); the next large module starts a new one. */
export async function stopCompilerWorker(): Promise<void> {
  const r = running;
  running = undefined;
  await r?.worker.terminate();
}
