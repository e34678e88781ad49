/**
 * The worker thread that runs {@link rewriteStage} for large modules
 * (offthread.ts): one request at a time, answered by id.
 */
import { parentPort } from 'node:worker_threads';
import { rewriteStage, type StageInput } from './stage.js';

const port = parentPort;
if (!port) throw new Error('compiler/stage-worker.js must run in a worker thread');

port.on('message', (m: { id: number; input: StageInput }) => {
  let answer: { id: number; output?: unknown; error?: string };
  try {
    answer = { id: m.id, output: rewriteStage(m.input) };
  } catch (e) {
    answer = { id: m.id, error: String((e as Error)?.stack ?? e) };
  }
  port.postMessage(answer);
});
