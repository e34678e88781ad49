// Type-gate benchmarks (issue 5) measured through the public `c(M)`, type gate on:
//   typegate.c_50_lines_ms         warm c(M) of a 50-line module with a body edit
//   typegate.signature_edit_ms     warm c(M) of an exported-signature edit (it widens the
//                                  signature, so it type-checks) used by 10 loaded importers
//   typegate.main_thread_pause_ms  longest lateness of a 1 ms interval timer during a warm typed c(M)
//   typegate.vs_tsc                typegate.c_50_lines_ms ÷ a cold `tsc --noEmit` of the same project
// Everything runs in one child process (`node --expose-gc bench/gate.js --child gate`).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { boot, childMain, fiftyLines, inChild, median, root, round, shutdown } from './util.js';

const here = fileURLToPath(import.meta.url);
const IMPORTERS = 10;
const WARMUP = 5;
const RUNS = 21;

/** The exported signature alternates between two shapes that every importer accepts. */
function scaler(n) {
  const extra = n % 2 === 0 ? '' : ', offset: number = 0';
  const use = n % 2 === 0 ? '' : ' + offset';
  return `export function scale(x: number, factor: number${extra}): number {\n  return x * factor${use};\n}\n`;
}

function importer(i) {
  return `import { scale } from './scaler';\n\nexport function run${i}(x: number): number {\n  return scale(x, ${i + 1});\n}\n`;
}

const REPORT = `import { describe, largest, type Shape } from './shapes';

export function report(shapes: Shape[]): string {
  const best = largest(shapes);
  return best ? describe(best) : 'no shapes';
}
`;

// The project's configuration: the gate's defaults written out, so that a cold tsc checks the same.
const TSCONFIG = {
  compilerOptions: {
    strict: true,
    target: 'es2023',
    lib: ['es2023'],
    module: 'esnext',
    moduleResolution: 'bundler',
    esModuleInterop: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [join(root, 'node_modules', '@types')],
    noEmit: true,
  },
  include: ['src'],
};

function modules() {
  const m = { shapes: fiftyLines(0), report: REPORT, scaler: scaler(0) };
  for (let i = 0; i < IMPORTERS; i++) m[`user${i}`] = importer(i);
  return m;
}

async function typedC(api, name, typecheck = true) {
  const r = await api.c(name, { typecheck });
  if (r.error) throw new Error(`c(${name}) refused: ${JSON.stringify(r).slice(0, 500)}`);
}

/** Times warm typed c(M) after writing `make(n)`; with `watchPause`, the longest timer lateness instead. */
async function timeC(api, project, name, make, { watchPause = false, counter, typecheck = true }) {
  const times = [];
  const pauses = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    project.write(name, make(++counter.n));
    let worst = 0;
    let last = performance.now();
    const timer = watchPause
      ? setInterval(() => {
          const now = performance.now();
          worst = Math.max(worst, now - last - 1);
          last = now;
        }, 1)
      : undefined;
    if (watchPause) await new Promise((r) => setTimeout(r, 5)); // the interval is running
    last = performance.now();
    const t = performance.now();
    await typedC(api, name, typecheck);
    const dt = performance.now() - t;
    if (timer) {
      // The stall that the call's last synchronous stretch caused shows at the next tick.
      await new Promise((r) => setTimeout(r, 2));
      clearInterval(timer);
    }
    if (process.env.HOTCODE_BENCH_VERBOSE) console.error(name, watchPause, round(dt), round(worst));
    if (i >= WARMUP) {
      times.push(dt);
      pauses.push(worst);
    }
  }
  return { ms: median(times), pause: median(pauses), worstPause: Math.max(...pauses) };
}

function coldTsc(projectRoot) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const t = performance.now();
  execFileSync(process.execPath, [tsc, '--noEmit', '-p', join(projectRoot, 'tsconfig.json')], {
    stdio: 'pipe',
  });
  return performance.now() - t;
}

async function groupGate() {
  const ctx = await boot(modules(), { typecheck: true });
  const { api, project } = ctx;
  writeFileSync(join(project.root, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  try {
    // The first typed c(M) starts the checker (worker, TypeScript, program).
    let t = performance.now();
    await typedC(api, 'shapes');
    const firstMs = performance.now() - t;
    t = performance.now();
    for (const m of [
      'report',
      'scaler',
      ...Array.from({ length: IMPORTERS }, (_, i) => `user${i}`),
    ])
      await typedC(api, m);
    const counter = { n: 0 };
    const body = await timeC(api, project, 'shapes', (n) => fiftyLines(n), { counter });
    const signature = await timeC(api, project, 'scaler', (n) => scaler(n), { counter });
    const paused = await timeC(api, project, 'shapes', (n) => fiftyLines(n), {
      watchPause: true,
      counter,
    });
    // The same with the gate off: the main thread's own share (compile, write, load).
    const untyped = await timeC(api, project, 'shapes', (n) => fiftyLines(n), {
      watchPause: true,
      counter,
      typecheck: false,
    });
    const tscRuns = [coldTsc(project.root), coldTsc(project.root), coldTsc(project.root)];
    const tscMs = median(tscRuns);
    return [
      {
        id: 'typegate.c_50_lines_ms',
        value: round(body.ms),
        unit: 'ms',
        detail: { runs: RUNS, firstTypedCMs: round(firstMs, 1), through: 'c(M), type gate on' },
      },
      {
        id: 'typegate.signature_edit_ms',
        value: round(signature.ms),
        unit: 'ms',
        detail: {
          runs: RUNS,
          importers: IMPORTERS,
          edit: 'widening (adds an optional parameter): type-checks and loads',
        },
      },
      {
        id: 'typegate.main_thread_pause_ms',
        value: round(paused.pause),
        unit: 'ms',
        detail: {
          runs: RUNS,
          worstMs: round(paused.worstPause),
          cMsWithTimer: round(paused.ms),
          untypedPauseMs: round(untyped.pause),
          untypedCMs: round(untyped.ms),
          method: 'median over warm typed c(M) of the largest 1 ms interval lateness',
        },
      },
      {
        id: 'typegate.vs_tsc',
        value: round(body.ms / tscMs, 4),
        unit: '×',
        detail: { coldTscMs: round(tscMs, 1), tscRuns: tscRuns.length },
      },
    ];
  } finally {
    await shutdown(ctx);
  }
}

export const groups = {
  gate: {
    ids: [
      'typegate.c_50_lines_ms',
      'typegate.signature_edit_ms',
      'typegate.main_thread_pause_ms',
      'typegate.vs_tsc',
    ],
    fn: groupGate,
  },
};

export async function benchGate() {
  return inChild(here, 'gate');
}

if (!(await childMain({ gate: groupGate })) && process.argv[1] === here) {
  for (const r of await benchGate()) console.log(JSON.stringify(r));
}
