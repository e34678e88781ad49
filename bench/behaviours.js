// Behaviour benchmarks (S8, S0.6):
//   genserver.call_per_s     sequential genServer.call round trips per second, from a process,
//                            default timeout (5000 ms), synchronous handleCall (target ≥ 1,000,000)
//   procs.timer_lateness_ms  how late a repeating 10 ms timer fires during those call storms
//                            (the median round's worst tick; target ≤ 10, S0.6 fairness)
//   upgrade.pause_ms         how long the demo service is suspended during its v1→v2 upgrade (target ≤ 5)
//   upgrade.requests_failed  failed requests of the demo under load (target 0)
//
// Each measure runs in a child process of its own (one node per OS process).
// `node bench/behaviours.js` prints them all.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
const root = join(dirname(here), '..');

const CALLS = 300_000;
const ROUNDS = 5;

/** In the child: the median of ROUNDS rounds of CALLS sequential calls. */
async function measureCalls() {
  const { c, genServer, run, start, stop } = await import('../dist/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'hotcode-bench-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(
    join(dir, 'src', 'echo.ts'),
    [
      'export function init(n: number) { return n; }',
      'export function handleCall(req: number, _from: unknown, n: number) { return { reply: req, state: n + 1 }; }',
      'export function handleCast(_msg: unknown, n: number) { return { state: n }; }',
    ].join('\n'),
  );
  await start({ src: join(dir, 'src'), out: join(dir, 'ebin'), typecheck: false });
  try {
    await c('echo');
    const pid = await genServer.start('echo', 0);
    const rates = [];
    const lateness = [];
    for (let r = 0; r < ROUNDS + 1; r++) {
      // A 10 ms timer ticking through the storm: how late is its worst tick?
      let worst = 0;
      let due = performance.now() + 10;
      let timer;
      const tick = () => {
        const now = performance.now();
        worst = Math.max(worst, now - due);
        due = now + 10;
        timer = setTimeout(tick, 10);
      };
      timer = setTimeout(tick, 10);
      const rate = await run(async () => {
        const t0 = performance.now();
        for (let i = 0; i < CALLS; i++) await genServer.call(pid, i);
        return CALLS / ((performance.now() - t0) / 1000);
      });
      clearTimeout(timer);
      worst = Math.max(worst, performance.now() - due); // a tick still owed when the storm ended
      if (r > 0) {
        // the first round warms up
        rates.push(rate);
        lateness.push(worst);
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    return { callsPerS: median(rates), latenessMs: median(lateness), latenessAll: lateness };
  } finally {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function child(args) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: root, timeout: 120_000, maxBuffer: 1 << 24 },
      (error, stdout, stderr) => {
        if (error && !stdout)
          reject(new Error(`${args.join(' ')} failed: ${stderr || error.message}`));
        else resolve(stdout);
      },
    );
  });
}

export async function benchBehaviours() {
  const calls = JSON.parse((await child([here, '--child-calls'])).trim().split('\n').at(-1));
  const demoOut = (
    await child([
      join(root, 'scripts', 'demo-upgrade.js'),
      '--clients',
      '8',
      '--seconds',
      '3',
      '--json',
    ])
  )
    .trim()
    .split('\n');
  const demo = JSON.parse(demoOut.at(-2));
  return [
    { id: 'genserver.call_per_s', value: Math.round(calls.callsPerS), unit: 'calls/s' },
    {
      id: 'procs.timer_lateness_ms',
      value: Number(calls.latenessMs.toFixed(2)),
      unit: 'ms',
      detail: { perRoundMs: calls.latenessAll.map((x) => Number(x.toFixed(2))), calls: CALLS },
    },
    { id: 'upgrade.pause_ms', value: Number(demo.pausedMs.toFixed(3)), unit: 'ms' },
    {
      id: 'upgrade.requests_failed',
      value: demo.failed,
      unit: 'requests',
      note: `${demo.requests} requests, last line: ${demoOut.at(-1)}`,
    },
  ];
}

if (process.argv[2] === '--child-calls') {
  process.stdout.write(`${JSON.stringify(await measureCalls())}\n`);
} else if (process.argv[1] === here) {
  for (const r of await benchBehaviours())
    console.log(`${r.id}: ${r.value} ${r.unit}${r.note ? ` (${r.note})` : ''}`);
}
