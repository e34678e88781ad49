// `npm run bench` — builds, then runs every benchmark, prints a table and writes
// bench/results.json = { node, results: [{ id, value, unit, target, met, detail }] }.
//
//   node --expose-gc bench/run.js                 everything (results.json rewritten)
//   node --expose-gc bench/run.js procs. purge.   only ids starting with one of the prefixes
//                                                 (their entries are replaced in results.json)
//
// Groups that need a hotcode node run in child processes (one node per OS process,
// clean heaps). See docs/benchmarks.md for what each id measures.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchCore, groups as coreGroups } from './core.js';
import { benchGate, groups as gateGroups } from './gate.js';
import { benchDir, round } from './util.js';

/** Targets (docs/architecture.md and the issues): [op, bound]. */
const TARGETS = {
  'call.qualified': ['<=', 1.1],
  'call.external_ref': ['<=', 3],
  'load.object_file_ms': ['<=', 0.5],
  'compile.file_50_lines_ms': ['<=', 10],
  'compile.file_1000_lines_ms': ['<=', 40],
  'compile.file_5mb_s': ['<=', 5],
  'await.instrumented': ['<=', 1.2],
  'procs.pingpong_rt_per_s': ['>=', 4_000_000],
  'procs.pingpong_of_floor': ['>=', 0.5],
  'procs.timer_lateness_ms': ['<=', 10],
  'procs.spawn_us': ['<=', 3],
  'procs.spawn_bytes': ['<=', 1024],
  'purge.kill_100k_ms': ['<=', 100],
  'purge.soft_100k_bystanders_ms': ['<=', 1],
  'reload.heap_per_version_kb': ['<=', 1],
  'procs.tailcall_bytes_per_msg': ['<=', 1],
  'typegate.c_50_lines_ms': ['<=', 50],
  'typegate.signature_edit_ms': ['<=', 80],
  'typegate.vs_tsc': ['<=', 0.1],
  'typegate.heap_growth_mb_1000': ['<=', 20],
  'typegate.main_thread_pause_ms': ['<=', 5],
  'typegate.transition_ms': ['<=', 20],
  'typegate.rss_mb_1000': ['<=', 300],
  'genserver.call_per_s': ['>=', 1_000_000],
  'upgrade.pause_ms': ['<=', 5],
  'upgrade.requests_failed': ['<=', 0],
  'watch.edit_to_live_ms': ['<=', 10],
  'watch.edit_to_live_typed_ms': ['<=', 60],
  'observer.update_ms': ['<=', 2000],
  'observer.node_overhead': ['<=', 1.05],
  'remote.rpc_us': ['<=', 300],
  'remote.deploy_ms': ['<=', 150],
  'remote.node_rss_mb': ['<=', 120],
  'cluster.deploy_20_s': ['<=', 2],
  'cluster.switch_spread_ms': ['<=', 1000],
  'cluster.requests_failed': ['<=', 0],
};

/**
 * The ids the issues name: the only ones results.json holds (as { id, value, unit }).
 * Anything else measured here (typegate.vs_tsc, …) is printed, and kept in
 * bench/details.json with targets and details.
 */
const NAMED = new Set([
  'call.qualified',
  'call.external_ref',
  'load.object_file_ms',
  'compile.file_50_lines_ms',
  'compile.file_1000_lines_ms',
  'compile.file_5mb_s',
  'await.instrumented',
  'procs.pingpong_rt_per_s',
  'procs.pingpong_of_floor',
  'procs.timer_lateness_ms',
  'procs.spawn_us',
  'procs.spawn_bytes',
  'purge.kill_100k_ms',
  'purge.soft_100k_bystanders_ms',
  'reload.heap_per_version_kb',
  'procs.tailcall_bytes_per_msg',
  'typegate.c_50_lines_ms',
  'typegate.signature_edit_ms',
  'typegate.transition_ms',
  'typegate.rss_mb_1000',
  'watch.edit_to_live_ms',
  'watch.edit_to_live_typed_ms',
  'genserver.call_per_s',
  'upgrade.pause_ms',
  'upgrade.requests_failed',
  'observer.update_ms',
  'observer.node_overhead',
  'remote.rpc_us',
  'remote.deploy_ms',
  'remote.node_rss_mb',
  'cluster.deploy_20_s',
  'cluster.switch_spread_ms',
  'cluster.requests_failed',
]);

const prefixes = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const wanted = (id) => prefixes.length === 0 || prefixes.some((p) => id.startsWith(p));
/** Whether a source whose ids start with one of `idPrefixes` may have wanted ids. */
const mayWant = (idPrefixes) =>
  prefixes.length === 0 ||
  prefixes.some((p) => idPrefixes.some((q) => q.startsWith(p) || p.startsWith(q)));

const results = [];
const notes = [];

function fmt(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return String(round(v, Math.abs(v) < 0.1 ? 4 : 3));
}

function add(r) {
  if (!wanted(r.id)) return;
  const t = TARGETS[r.id];
  const entry = { id: r.id, value: r.value, unit: r.unit };
  if (t) {
    entry.target = `${t[0]} ${t[1]}`;
    entry.met =
      typeof r.value === 'number' ? (t[0] === '<=' ? r.value <= t[1] : r.value >= t[1]) : false;
  }
  if (r.detail) entry.detail = r.detail;
  if (r.note) entry.note = r.note;
  if (r.error) entry.error = r.error;
  const i = results.findIndex((x) => x.id === r.id);
  if (i >= 0) results[i] = entry;
  else results.push(entry);
  const mark = entry.met === undefined ? ' ' : entry.met ? '✓' : '✗';
  console.log(
    `${mark} ${r.id.padEnd(32)} ${fmt(r.value).padStart(12)} ${String(r.unit ?? '').padEnd(6)} ${entry.target ?? ''}${r.error ? `  ERROR ${r.error}` : ''}`,
  );
}

async function timed(label, fn) {
  const t = performance.now();
  try {
    await fn();
  } catch (e) {
    notes.push(`${label}: failed: ${String(e?.message ?? e).split('\n')[0]}`);
    console.log(`  ${label} failed: ${e?.stack ?? e}`);
  }
  console.log(`  (${label}: ${((performance.now() - t) / 1000).toFixed(1)} s)`);
}

/** A benchmark file owned by someone else: imported if it exists. */
async function optional(file, fn) {
  const path = join(benchDir, file);
  if (!existsSync(path)) {
    notes.push(`bench/${file} does not exist yet: skipped`);
    console.log(`  bench/${file} does not exist yet: skipped`);
    return;
  }
  await timed(file, async () => fn(await import(pathToFileURL(path).href)));
}

const t0 = performance.now();
console.log(
  `hotcode benchmarks on Node ${process.version}${prefixes.length ? ` (only ${prefixes.join(' ')})` : ''}\n`,
);

const coreIds = Object.values(coreGroups).flatMap((g) => g.ids);
if (coreIds.some(wanted)) await timed('core', () => benchCore(wanted, add));

// Large modules (bench/compile.js): compile time linear in a module's size (S6.8).
if (mayWant(['compile.file_5mb', 'compile.stall'])) {
  await optional('compile.js', async (m) => (await m.benchCompile(wanted)).forEach(add));
}

const gateIds = Object.values(gateGroups).flatMap((g) => g.ids);
if (gateIds.some(wanted)) await timed('gate', async () => (await benchGate()).forEach(add));

// The type gate engine measured directly (bench/typegate.js): its heap growth is an
// issue id; its check times are the engine's share of typegate.c_50_lines_ms and
// typegate.signature_edit_ms, attached to those entries as detail.engineMs.
if (mayWant(['typegate.'])) {
  await optional('typegate.js', async (m) => {
    if (typeof m.benchTypegateHeap === 'function' && wanted('typegate.heap_growth_mb_1000'))
      (await m.benchTypegateHeap()).forEach(add);
    if (
      typeof m.benchTypegate === 'function' &&
      (wanted('typegate.c_50') || wanted('typegate.signature'))
    ) {
      for (const r of await m.benchTypegate()) {
        const mine = results.find((x) => x.id === r.id);
        if (mine) {
          mine.detail = { ...mine.detail, engineMs: round(r.value) };
          console.log(`  ${r.id} engine only (createTypeGate().check): ${fmt(r.value)} ${r.unit}`);
        } else add(r);
      }
    }
  });
}

// Issue 11: transition checks (gate level) and the memory of a warm gate (a child process).
if (mayWant(['typegate.transition'])) {
  await optional('typegate_transition.js', async (m) => {
    if (wanted('typegate.transition_ms')) (await m.benchTypegateTransition()).forEach(add);
  });
}
if (mayWant(['typegate.rss'])) {
  await optional('typegate_rss.js', async (m) => {
    if (wanted('typegate.rss_mb_1000')) (await m.benchTypegateRss()).forEach(add);
  });
}

if (mayWant(['watch.'])) {
  await optional('watch.js', async (m) => {
    if (typeof m.benchWatch !== 'function')
      throw new Error('bench/watch.js exports no benchWatch()');
    (await m.benchWatch()).forEach(add);
  });
}

if (mayWant(['genserver.', 'upgrade.', 'procs.timer'])) {
  await optional('behaviours.js', async (m) => {
    if (typeof m.benchBehaviours !== 'function')
      throw new Error('bench/behaviours.js exports no benchBehaviours()');
    (await m.benchBehaviours()).forEach(add);
  });
}

// Issue 13: the observer, in chromium (bench/observer.js).
if (mayWant(['observer.'])) {
  await optional('observer.js', async (m) => (await m.benchObserver()).forEach(add));
}

if (mayWant(['remote.'])) {
  await optional('remote.js', async (m) => {
    if (typeof m.benchRemote !== 'function')
      throw new Error('bench/remote.js exports no benchRemote()');
    (await m.benchRemote()).forEach(add);
  });
}

if (mayWant(['cluster.'])) {
  await optional('cluster.js', async (m) => {
    if (typeof m.benchCluster !== 'function')
      throw new Error('bench/cluster.js exports no benchCluster()');
    (await m.benchCluster()).forEach(add);
  });
}

// ---- results.json -------------------------------------------------------------------

const file = join(benchDir, 'results.json');
const detailsFile = join(benchDir, 'details.json');
let out = results;
if (prefixes.length && existsSync(detailsFile)) {
  // A subset run replaces its own ids and keeps the others.
  try {
    const old = JSON.parse(readFileSync(detailsFile, 'utf8')).results ?? [];
    out = [...old.filter((r) => !results.some((x) => x.id === r.id)), ...results];
  } catch {
    out = results;
  }
}
const order = Object.keys(TARGETS);
const rank = (id) => (order.includes(id) ? order.indexOf(id) : order.length);
out.sort((a, b) => rank(a.id) - rank(b.id));
const named = out
  .filter((r) => NAMED.has(r.id))
  .map(({ id, value, unit }) => ({ id, value, unit }));
writeFileSync(file, `${JSON.stringify({ node: process.version, results: named }, null, 2)}\n`);
writeFileSync(detailsFile, `${JSON.stringify({ node: process.version, results: out }, null, 2)}\n`);

const missed = results.filter((r) => r.met === false);
console.log(
  `\n${results.length} results, ${missed.length} missed target${missed.length === 1 ? '' : 's'}${missed.length ? `: ${missed.map((r) => r.id).join(', ')}` : ''}`,
);
for (const n of notes) console.log(`note: ${n}`);
console.log(`wrote bench/results.json in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
