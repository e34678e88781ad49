// Watch-mode benchmarks (issue 6): the median time from writing a changed
// source file to the new code answering a qualified call.
//   watch.edit_to_live_ms         type gate off   (target ≤ 10 ms)
//   watch.edit_to_live_typed_ms   type gate on    (target ≤ 60 ms)
//
// Each run boots its own node (start … stop) on a temp project of a 50-line
// module and one importer, starts the watcher, and for each edit: writes the
// file, then polls `mod('bench_mod').value()` (a qualified call) on every turn
// of the event loop until it answers the edit's number. No node may be
// running when benchWatch() is called.
//
// `node bench/watch.js` prints both.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const WARMUP = 5;
const RUNS = 21;
const TIMEOUT_MS = 20_000;

/** A 50-line module whose value() answers `n`. */
function benchModule(n) {
  const lines = [
    'export interface Point {',
    '  x: number;',
    '  y: number;',
    '}',
    '',
    "export type Shape = { kind: 'circle'; center: Point; radius: number } | { kind: 'rect'; corner: Point; w: number; h: number };",
    '',
    'export function value(): number {',
    `  return ${n};`,
    '}',
    '',
    'export function area(s: Shape): number {',
    "  if (s.kind === 'circle') return Math.PI * s.radius * s.radius;",
    '  return s.w * s.h;',
    '}',
    '',
    'export function translate(p: Point, dx: number, dy: number): Point {',
    '  return { x: p.x + dx, y: p.y + dy };',
    '}',
    '',
  ];
  for (let i = 0; lines.length < 50; i++)
    lines.push(`export function helper${i}(x: number): number {`, `  return x * ${i + 2};`, '}');
  return `${lines.join('\n')}\n`;
}

const USER = [
  "import { area, translate, value, type Shape } from './bench_mod';",
  '',
  'export function total(shapes: Shape[]): number {',
  '  return shapes.reduce((sum, s) => sum + area(s), 0) + value();',
  '}',
  '',
  'export function moved(): number {',
  '  return translate({ x: 1, y: 2 }, 3, 4).x;',
  '}',
  '',
].join('\n');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function measure(typecheck) {
  const api = await import('../dist/index.js');
  const { watch } = await import('../dist/watch/index.js');
  const root = mkdtempSync(join(tmpdir(), 'hotcode-bench-watch-'));
  const src = join(root, 'src');
  mkdirSync(src);
  const file = join(src, 'bench_mod.ts');
  writeFileSync(file, benchModule(0));
  writeFileSync(join(src, 'bench_user.ts'), USER);
  await api.start({ root, src: 'src', out: 'ebin', typecheck });
  const failures = [];
  let w;
  try {
    const first = await api.c(['bench_mod', 'bench_user']);
    if (!('modules' in first))
      throw new Error(`bench: the first compile failed: ${JSON.stringify(first)}`);
    w = watch({ src: [src], onReport: (r) => r.type !== 'loaded' && failures.push(r) });
    const handle = api.mod('bench_mod');
    const times = [];
    for (let i = 1; i <= WARMUP + RUNS; i++) {
      const t0 = performance.now();
      writeFileSync(file, benchModule(i));
      while (handle.value() !== i) {
        if (failures.length)
          throw new Error(`bench: a reload failed: ${JSON.stringify(failures[0])}`);
        if (performance.now() - t0 > TIMEOUT_MS)
          throw new Error('bench: the edit did not go live in 20 s');
        await new Promise((r) => setImmediate(r));
      }
      const dt = performance.now() - t0;
      if (i > WARMUP) times.push(dt);
      await w.idle();
    }
    return median(times);
  } finally {
    w?.close();
    await api.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

/** Both watch benchmarks, as `{ id, value, unit }` entries for bench/results.json. */
export async function benchWatch() {
  const plain = await measure(false);
  const typed = await measure(true);
  return [
    { id: 'watch.edit_to_live_ms', value: Number(plain.toFixed(2)), unit: 'ms' },
    { id: 'watch.edit_to_live_typed_ms', value: Number(typed.toFixed(2)), unit: 'ms' },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchWatch()) console.log(`${r.id.padEnd(32)} ${r.value} ${r.unit}`);
}
