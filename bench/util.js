// Shared helpers of the benchmark harness: statistics, temp projects, generated
// modules, child processes (one hotcode node per OS process), heap sampling.
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = dirname(fileURLToPath(import.meta.url));
export const root = join(benchDir, '..');
export const distUrl = new URL('../dist/index.js', import.meta.url).href;

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

export const round = (x, digits = 3) => {
  if (!Number.isFinite(x)) return x;
  const p = 10 ** digits;
  return Math.round(x * p) / p;
};

/** A temp project `{ root, src, out }` with the given `{ name: source }` modules. */
export function makeProject(modules = {}, prefix = 'hotcode-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const src = join(dir, 'src');
  const out = join(dir, 'ebin');
  mkdirSync(src);
  for (const [name, text] of Object.entries(modules)) writeFileSync(join(src, `${name}.ts`), text);
  return {
    root: dir,
    src,
    out,
    write(name, text) {
      writeFileSync(join(src, `${name}.ts`), text);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Heap in use after full collections (needs --expose-gc). */
export function heapUsed() {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) globalThis.gc();
  return process.memoryUsage().heapUsed;
}

/** Lets pending microtasks and immediates run. */
export const tick = () => new Promise((r) => setImmediate(r));

// ---- generated modules ------------------------------------------------------------

/** A realistic 50-line module; `n` changes only function bodies. */
export function fiftyLines(n = 0, prefix = '') {
  const P = prefix;
  return [
    `export interface ${P}Point {`,
    '  x: number;',
    '  y: number;',
    '}',
    '',
    `export type ${P}Shape =`,
    `  | { kind: 'circle'; center: ${P}Point; radius: number }`,
    `  | { kind: 'rect'; corner: ${P}Point; width: number; height: number };`,
    '',
    `export function ${P}area(s: ${P}Shape): number {`,
    '  switch (s.kind) {',
    "    case 'circle':",
    `      return Math.PI * s.radius * s.radius + ${n} * 0;`,
    "    case 'rect':",
    '      return s.width * s.height;',
    '  }',
    '}',
    '',
    `export function ${P}perimeter(s: ${P}Shape): number {`,
    "  if (s.kind === 'circle') return 2 * Math.PI * s.radius;",
    '  return 2 * (s.width + s.height);',
    '}',
    '',
    `export function ${P}translate(p: ${P}Point, dx: number, dy: number): ${P}Point {`,
    `  const moved = { x: p.x + dx, y: p.y + dy + ${n} * 0 };`,
    '  return moved;',
    '}',
    '',
    `export function ${P}centroid(points: readonly ${P}Point[]): ${P}Point {`,
    '  let x = 0;',
    '  let y = 0;',
    '  for (const p of points) {',
    '    x += p.x;',
    '    y += p.y;',
    '  }',
    '  return { x: x / points.length, y: y / points.length };',
    '}',
    '',
    `export function ${P}describe(s: ${P}Shape): string {`,
    `  const a = ${P}area(s).toFixed(2);`,
    `  const p = ${P}perimeter(s).toFixed(2);`,
    "  return s.kind + ': area ' + a + ', perimeter ' + p;",
    '}',
    '',
    `export function ${P}largest(shapes: ${P}Shape[]): ${P}Shape | undefined {`,
    `  let best: ${P}Shape | undefined;`,
    `  for (const s of shapes) if (!best || ${P}area(s) > ${P}area(best)) best = s;`,
    '  return best;',
    '}',
    '',
  ].join('\n');
}

/** About `lines` lines: 50-line blocks with distinct names. */
export function manyLines(lines, n = 0) {
  const blocks = [];
  for (let b = 0; b < Math.ceil(lines / 50); b++) blocks.push(fiftyLines(n + b, `b${b}_`));
  return blocks.join('\n');
}

/**
 * A module of about `kb` KB: one function with a large body of distinct
 * statements, plus `ping()` to call after each load and a VARIANT marker that
 * the reload benchmark rewrites in the object file.
 */
export function bigModule(kb) {
  const lines = [
    "export const VARIANT = 'v0000000000';",
    'export function ping(): string { return VARIANT; }',
  ];
  let size = 0;
  let i = 0;
  while (size < kb * 1024) {
    const line = `export function f${i}(x: number): number { const y = x * ${i} + ${i % 7}; return y > ${i} ? y - ${i} : y + ${i * 3}; }`;
    lines.push(line);
    size += line.length + 1;
    i++;
  }
  return lines.join('\n');
}

// ---- child processes --------------------------------------------------------------

/**
 * Runs `node --expose-gc <file> --child <id>` with the same Node binary and
 * resolves with the value the child sends (`process.send`). Each id gets a
 * fresh process: one hotcode node per OS process, clean heaps.
 */
export function inChild(file, id, { timeoutMs = 180_000, execArgv = [] } = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(file, ['--child', id], {
      execPath: process.execPath,
      execArgv: ['--expose-gc', ...execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${id}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', (m) => {
      result = m;
    });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (result?.error) reject(new Error(`${id}: ${result.error}`));
      else if (result !== undefined) resolve(result.value);
      else reject(new Error(`${id}: child exited (${code ?? sig}) without a result`));
    });
  });
}

/** In a child started by inChild: runs `groups[id]()` and sends back its value. */
export async function childMain(groups) {
  const i = process.argv.indexOf('--child');
  if (i < 0) return false;
  const id = process.argv[i + 1];
  try {
    const fn = groups[id];
    if (!fn) throw new Error(`unknown group ${id}`);
    const value = await fn();
    process.send({ value });
  } catch (e) {
    process.send({ error: e?.stack ?? String(e) });
  }
  // Processes and timers of the node may keep the loop alive; the result is sent.
  process.disconnect?.();
  setTimeout(() => process.exit(0), 50).unref();
  return true;
}

/** Boots a node on a temp project; returns the API and the project. */
export async function boot(modules, startOptions = {}) {
  const api = await import(distUrl);
  const project = makeProject(modules);
  await api.start({
    src: project.src,
    out: project.out,
    typecheck: false,
    root: project.root,
    ...startOptions,
  });
  return { api, project };
}

export async function shutdown({ api, project }) {
  await api.stop();
  project.remove();
}
