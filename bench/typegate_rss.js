// Memory of a node whose type gate is warm (issue 11):
//   typegate.rss_mb_1000   RSS of the whole process after 1,000 typed reloads through the gate
//
// The gate is driven the way a node drives it: each check carries the changed module's new
// source and the other loaded module's current source; the edits alternate between the two
// modules of a small project (a 50-line module and its importer). Runs in a child process so
// that the RSS is that of a process doing nothing else (`node bench/typegate_rss.js`).
import { fileURLToPath, pathToFileURL } from 'node:url';
import { childMain, fiftyLines, inChild, makeProject, round } from './util.js';

const here = fileURLToPath(import.meta.url);
const moduleUrl = process.env.HOTCODE_TYPEGATE_MODULE
  ? pathToFileURL(process.env.HOTCODE_TYPEGATE_MODULE).href
  : new URL('../dist/compiler/typegate/index.js', import.meta.url).href;

const RELOADS = 1000;
const mb = (b) => round(b / (1024 * 1024), 1);

/** The importer; `n` changes a body only. */
function report(n) {
  return [
    "import { describe, largest, type Shape } from './shapes';",
    '',
    'export function report(shapes: Shape[]): string {',
    '  const best = largest(shapes);',
    `  return best ? describe(best) : 'no shapes ${n}';`,
    '}',
    '',
  ].join('\n');
}

async function rssAfterReloads(total = RELOADS) {
  const { createTypeGate } = await import(moduleUrl);
  const p = makeProject({ shapes: fiftyLines(0), report: report(0) }, 'typegate-rss-');
  const gate = createTypeGate({ root: p.root, srcDirs: [p.src] });
  const src = (module, text) => ({ module, file: `${p.src}/${module}.ts`, text });
  const samples = {};
  try {
    await gate.warm();
    samples.afterWarm = mb(process.memoryUsage().rss);
    let shapes = fiftyLines(0);
    let rep = report(0);
    for (let i = 1; i <= total; i++) {
      let req;
      if (i % 2 === 1) {
        shapes = fiftyLines(i);
        req = { changed: [src('shapes', shapes)], loaded: [src('report', rep)] };
      } else {
        rep = report(i);
        req = { changed: [src('report', rep)], loaded: [src('shapes', shapes)] };
      }
      const r = await gate.check(req);
      if (!r.ok) throw new Error(`reload ${i} refused: ${JSON.stringify(r)}`);
      if (i === 10 || i === 100 || i === 500) samples[`after${i}`] = mb(process.memoryUsage().rss);
    }
    const rss = process.memoryUsage().rss;
    const stats = await gate.stats();
    return {
      rss,
      detail: { ...samples, workerHeapMbAfterGc: mb(stats.heapUsed), checks: stats.checks },
    };
  } finally {
    await gate.close();
    p.remove();
  }
}

export const groups = {
  async rss() {
    const { rss, detail } = await rssAfterReloads();
    return { rss, detail };
  },
};

/** typegate.rss_mb_1000, measured in a fresh child process. */
export async function benchTypegateRss() {
  const { rss, detail } = await inChild(here, 'rss', { timeoutMs: 600_000 });
  return [{ id: 'typegate.rss_mb_1000', value: mb(rss), unit: 'MB', detail }];
}

if (!(await childMain(groups)) && process.argv[1] === here) {
  for (const r of await benchTypegateRss()) {
    console.log(`${r.id}\t${r.value} ${r.unit} ${JSON.stringify(r.detail)}`);
  }
}
