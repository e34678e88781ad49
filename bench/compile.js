// Compile time of large modules (S6.8: compile time grows linearly with
// the size of a module; issue 10 finding 9).
//
//   compile.file_5mb_s            `c(M, { typecheck: false })` of a 5 MB module of
//                                 one-line exported functions (~48 k exports), in seconds,
//                                 compile + write + load (target ≤ 5 s)
//   compile.stall_12k_exports_ms  the longest the main thread is blocked during
//                                 `c(M, { typecheck: false })` of a 12 k-export module
//                                 (printed and kept in details.json, not an issue id)
//
// Each runs in a fresh child process (one hotcode node per OS process). The detail
// of compile.file_5mb_s holds the time of each stage of the pipeline on the same
// source (esbuild, rewrite, source-map composition, the syntax check of the body, the
// object file's text; compileSource does the same steps) and the
// 5 MB time against a 1.25 MB module's (÷ 4: ~1 when linear).
//
// `node bench/compile.js [big|stall]` prints them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { bigModule, boot, childMain, inChild, round, shutdown, tick } from './util.js';

const here = fileURLToPath(import.meta.url);

/** Seconds for `c(name)` of `source` (written first), and the object file's size. */
async function timeC(api, project, name, source) {
  project.write(name, source);
  const t = performance.now();
  const r = await api.c(name, { typecheck: false });
  const s = (performance.now() - t) / 1000;
  if (r.error) throw new Error(`c(${name}): ${JSON.stringify(r).slice(0, 500)}`);
  return s;
}

/** The compiler's stages, timed one by one on `source` (the same code `c` runs). */
async function stages(source, file) {
  const { transform } = await import('esbuild');
  const { rewrite } = await import('../dist/compiler/rewrite.js');
  const { syntaxErrorOf, transformOptions } = await import('../dist/compiler/compile.js');
  const { lineStarts, segmentOffsets } = await import('../dist/compiler/stage.js');
  const { TraceMap } = await import('@jridgewell/trace-mapping');
  const { default: remapping } = await import('@jridgewell/remapping');
  const { formatObjectFile } = await import('../dist/code/objectFile.js');
  const ms = {};
  let t = performance.now();
  const out = await transform(source, transformOptions(file));
  ms.esbuild = performance.now() - t;
  t = performance.now();
  const esMap = new TraceMap(out.map);
  const rw = rewrite(out.code, 'big', segmentOffsets(esMap, lineStarts(out.code)));
  ms.rewrite = performance.now() - t;
  t = performance.now();
  const map = remapping([rw.map, esMap], () => null);
  ms.remap = performance.now() - t;
  t = performance.now();
  if (syntaxErrorOf(rw.code, file) !== undefined) throw new Error('the body does not parse');
  ms.syntaxCheck = performance.now() - t;
  t = performance.now();
  const objectFile = formatObjectFile(
    { format: 1, module: 'big', exports: rw.exports, imports: [], md5: '', vsn: '' },
    rw.code,
    JSON.stringify(map),
  );
  ms.objectFile = performance.now() - t;
  ms.objectFileBytes = objectFile.length;
  return Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, round(v, 1)]));
}

async function group5mb() {
  const ctx = await boot({});
  const { api, project } = ctx;
  try {
    const big = bigModule(5 * 1024);
    const quarter = bigModule(1.25 * 1024);
    // Warm the pipeline (esbuild's service, V8's code) on a small module first.
    await timeC(api, project, 'warm', bigModule(64));
    const tQuarter = await timeC(api, project, 'quarter', quarter);
    const t = await timeC(api, project, 'big', big);
    const exports = JSON.parse(
      readFileSync(join(project.out, 'big.js'), 'utf8').split('\n', 1)[0].slice(10),
    ).exports.length;
    if (typeof api.mod('big').f0 !== 'function') throw new Error('big.f0 is not loaded');
    const detail = {
      sourceBytes: big.length,
      exports,
      quarterS: round(tQuarter),
      ratioToQuarterTimes4: round(t / (tQuarter * 4)),
      stagesMs: await stages(big, join(project.src, 'big.ts')),
    };
    return [{ id: 'compile.file_5mb_s', value: round(t), unit: 's', detail }];
  } finally {
    await shutdown(ctx);
  }
}

async function groupStall() {
  const ctx = await boot({});
  const { api, project } = ctx;
  try {
    const lines = [];
    for (let i = 0; i < 12_000; i++)
      lines.push(
        `export function f${i}(x: number): number { const y = x * ${i} + ${i % 7}; return y > ${i} ? y - ${i} : y + ${i * 3}; }`,
      );
    const source = lines.join('\n');
    await timeC(api, project, 'warm', bigModule(64));
    project.write('m12k', source);
    await tick();
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const t = performance.now();
    const r = await api.c('m12k', { typecheck: false });
    const total = performance.now() - t;
    // The work after esbuild's answer runs in one macrotask: let the monitor see it end.
    await new Promise((resolve) => setTimeout(resolve, 5));
    h.disable();
    if (r.error) throw new Error(JSON.stringify(r).slice(0, 500));
    return [
      {
        id: 'compile.stall_12k_exports_ms',
        value: round(h.max / 1e6, 1),
        unit: 'ms',
        detail: { exports: 12_000, sourceBytes: source.length, cTotalMs: round(total, 1) },
      },
    ];
  } finally {
    await shutdown(ctx);
  }
}

export const groups = {
  big: { ids: ['compile.file_5mb_s'], fn: group5mb },
  stall: { ids: ['compile.stall_12k_exports_ms'], fn: groupStall },
};

/** Runs the groups whose ids match `wanted`, each in a child process (bounded: 120 s each). */
export async function benchCompile(wanted = () => true) {
  const results = [];
  for (const [name, g] of Object.entries(groups)) {
    if (!g.ids.some(wanted)) continue;
    try {
      results.push(...(await inChild(here, name, { timeoutMs: 120_000 })));
    } catch (e) {
      for (const id of g.ids)
        results.push({ id, value: null, unit: '', error: String(e.message ?? e).split('\n')[0] });
    }
  }
  return results;
}

if (!(await childMain(Object.fromEntries(Object.entries(groups).map(([k, g]) => [k, g.fn]))))) {
  if (process.argv[1] === here) {
    const only = process.argv[2];
    const wanted = only in groups ? (id) => groups[only].ids.includes(id) : () => true;
    for (const r of await benchCompile(wanted)) console.log(JSON.stringify(r));
  }
}
