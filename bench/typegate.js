// Type gate benchmarks (S6.2, issue 5), measured through createTypeGate().check():
//   typegate.c_50_lines_ms       warm median round trip, body edit of a 50-line module
//   typegate.signature_edit_ms   warm median round trip, exported-signature edit used by 10 importers
//   typegate.heap_growth_mb_1000 checker heap after 1,000 recompiles minus after 10 (benchTypegateHeap)
// The lead re-measures the first two through c(M); these are the gate's share.
//
// `node bench/typegate.js` prints all of them (and the first check's time).
// HOTCODE_TYPEGATE_MODULE may point at another build of the module (default: ../dist).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fiftyLines } from './util.js';

const moduleUrl = process.env.HOTCODE_TYPEGATE_MODULE
  ? pathToFileURL(process.env.HOTCODE_TYPEGATE_MODULE).href
  : new URL('../dist/compiler/typegate/index.js', import.meta.url).href;

const WARMUP = 5;
const RUNS = 31;
const IMPORTERS = 10;

/** An exported signature that alternates between two shapes all importers accept. */
function scaler(n) {
  const extra = n % 2 === 0 ? '' : ', offset: number = 0';
  const use = n % 2 === 0 ? '' : ' + offset';
  return `export function scale(x: number, factor: number${extra}): number {\n  return x * factor${use};\n}\n`;
}

function importer(i) {
  return [
    "import { scale } from './scaler';",
    '',
    `export function run${i}(x: number): number {`,
    `  return scale(x, ${i + 1});`,
    '}',
    '',
  ].join('\n');
}

/** The 50-line module's one importer. */
const report = [
  "import { describe, largest, type Shape } from './shapes.js';",
  '',
  'export function report(shapes: Shape[]): string {',
  '  const best = largest(shapes);',
  "  return best ? describe(best) : 'no shapes';",
  '}',
  '',
].join('\n');

function makeProject() {
  const root = mkdtempSync(join(tmpdir(), 'typegate-bench-'));
  const src = join(root, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'shapes.ts'), fiftyLines(0));
  writeFileSync(join(src, 'report.ts'), report);
  writeFileSync(join(src, 'scaler.ts'), scaler(0));
  for (let i = 0; i < IMPORTERS; i++) writeFileSync(join(src, `user${i}.ts`), importer(i));
  return { root, src };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};

async function timeChecks(gate, make) {
  const times = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const req = make(i + 1);
    const t = performance.now();
    const r = await gate.check(req);
    const dt = performance.now() - t;
    if (!r.ok) throw new Error(`bench check refused: ${JSON.stringify(r)}`);
    if (i >= WARMUP) times.push(dt);
  }
  return median(times);
}

async function withGate(fn) {
  const { createTypeGate } = await import(moduleUrl);
  const { root, src } = makeProject();
  const gate = createTypeGate({ root, srcDirs: [src] });
  try {
    return await fn(gate, src);
  } finally {
    await gate.close();
    rmSync(root, { recursive: true, force: true });
  }
}

const shapes = (src, n) => ({
  module: 'shapes',
  file: join(src, 'shapes.ts'),
  text: fiftyLines(n),
});
const scalerSource = (src, n) => ({
  module: 'scaler',
  file: join(src, 'scaler.ts'),
  text: scaler(n),
});

/** The first check's round trip (worker start, TypeScript load, program build, check). */
export async function benchTypegateFirst() {
  return withGate(async (gate, src) => {
    const t = performance.now();
    await gate.check({ changed: [shapes(src, 1)], loaded: [] });
    return [{ id: 'typegate.first_check_ms', value: performance.now() - t, unit: 'ms' }];
  });
}

export async function benchTypegate() {
  return withGate(async (gate, src) => {
    await gate.check({ changed: [shapes(src, 0)], loaded: [] });
    const body = await timeChecks(gate, (n) => ({ changed: [shapes(src, n)], loaded: [] }));
    const signature = await timeChecks(gate, (n) => ({
      changed: [scalerSource(src, n)],
      loaded: [],
    }));
    return [
      { id: 'typegate.c_50_lines_ms', value: body, unit: 'ms' },
      { id: 'typegate.signature_edit_ms', value: signature, unit: 'ms' },
    ];
  });
}

/** Heap of the checker worker after 10 and after 1,000 recompiles of the same module. */
export async function benchTypegateHeap(total = 1000) {
  return withGate(async (gate, src) => {
    let after10 = 0;
    for (let i = 1; i <= total; i++) {
      // Alternate body and signature edits: both kinds of program update.
      const changed = i % 2 === 0 ? [shapes(src, i)] : [scalerSource(src, i)];
      const r = await gate.check({ changed, loaded: [] });
      if (!r.ok) throw new Error(`bench check refused: ${JSON.stringify(r)}`);
      if (i === 10) after10 = (await gate.stats()).heapUsed;
    }
    const stats = await gate.stats();
    const mb = (b) => b / (1024 * 1024);
    return [
      {
        id: 'typegate.heap_growth_mb_1000',
        value: mb(stats.heapUsed - after10),
        unit: 'MB',
        detail: { after10Mb: mb(after10), afterMb: mb(stats.heapUsed), gcForced: stats.gcForced },
      },
    ];
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = [
    ...(await benchTypegateFirst()),
    ...(await benchTypegate()),
    ...(await benchTypegateHeap()),
  ];
  for (const r of results) {
    const detail = r.detail ? ` ${JSON.stringify(r.detail)}` : '';
    console.log(`${r.id}\t${r.value.toFixed(2)} ${r.unit}${detail}`);
  }
}
