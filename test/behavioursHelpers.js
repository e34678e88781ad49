// Helpers of the behaviour tests (S8): fixture projects and an observer
// process that collects the reports of fixture modules.
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exit, isProcessAlive, receive, register, spawn, whereis } from '../dist/index.js';

export const BEHAVIOURS = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'behaviours');

/** A temp project { dir, src, out } with fixtures copied in: { 'counter.ts': 'counter_v1.ts' }. */
export function behavioursProject(files = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hotcode-behaviours-'));
  const src = join(dir, 'src');
  mkdirSync(src);
  for (const [as, fixture] of Object.entries(files))
    copyFileSync(join(BEHAVIOURS, fixture), join(src, as));
  return { dir, src, out: join(dir, 'ebin') };
}

export function useBehaviourFixture(p, fixture, as) {
  copyFileSync(join(BEHAVIOURS, fixture), join(p.src, as));
}

/**
 * A process registered as 'observer' that keeps every message it gets;
 * `until(pred)` resolves with the first message matching pred (waiting for it).
 */
export function observer() {
  const old = whereis('observer');
  if (old !== undefined && isProcessAlive(old)) exit(old, 'kill');
  const seen = [];
  const waiters = [];
  const pid = spawn(async () => {
    for (;;) {
      seen.push(await receive());
      for (const w of waiters.splice(0)) w();
    }
  });
  register('observer', pid);
  return {
    pid,
    seen,
    async until(pred) {
      for (;;) {
        const m = seen.find(pred);
        if (m !== undefined) return m;
        await new Promise((r) => waiters.push(r));
      }
    },
    close() {
      if (isProcessAlive(pid)) exit(pid, 'kill');
    },
  };
}

/** Waits (by monitor) until `pid` has exited; resolves with its exit reason. */
export async function downOf(runFn, monitorFn, pid) {
  return runFn(async () => {
    const ref = monitorFn(pid);
    const m = await receive((x) => x?.type === 'DOWN' && x.ref === ref);
    return m.reason;
  });
}

/** A logger that keeps crash reports instead of printing them. */
export function quietLogger() {
  const reports = [];
  return { reports, error: (message, meta) => reports.push({ message, ...meta }) };
}
