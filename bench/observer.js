// The observer's numbers (issue 13, S10):
//   observer.update_ms      from a code change on the node to the page's DOM showing it,
//                           measured in the browser (the worst of 10 changes; target ≤ 2,000)
//   observer.node_overhead  ping-pong on the node without an observer ÷ with one attached
//                           (its page open in chromium): how much slower the node runs
//                           (target ≤ 1.05)
//
// The node is a child process (one hotcode node per OS process) driven over IPC; the
// page is opened in Debian chromium with playwright-core. The two phases of the
// overhead alternate in the same node, five times each, and the medians are compared,
// so that drift of a shared machine falls on both.
//
// `node bench/observer.js` prints both.
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, round } from './util.js';

const here = fileURLToPath(import.meta.url);
const CHROMIUM = '/usr/bin/chromium';
const CHANGES = 10;
const PAIRS = 20;
const ROUND_TRIPS = 1_000_000;

const PINGPONG = `
import { receive, send, self, type Pid } from 'hotcode';
export async function pong(): Promise<void> {
  for (;;) {
    const from = await receive<Pid>();
    send(from, 0);
  }
}
export async function ping(peer: Pid, n: number): Promise<number> {
  const me = self();
  for (let i = 0; i < n; i++) {
    send(peer, me);
    await receive<number>();
  }
  return n;
}
`;

const benchModule = (k) =>
  `export const vsn = 'b${k}';\nexport function value(): number {\n  return ${k};\n}\n`;

// ---- the node (a child process) ---------------------------------------------------------

async function nodeMain() {
  const dist = new URL('../dist/', import.meta.url);
  const api = await import(new URL('index.js', dist).href);
  const { localSource } = await import(new URL('observer/source.js', dist).href);
  const { serveObserver } = await import(new URL('observer/server.js', dist).href);
  const observe = await import(new URL('observe/index.js', dist).href);
  const dir = mkdtempSync(join(tmpdir(), 'hotcode-bench-observer-'));
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'pp.ts'), PINGPONG);
  writeFileSync(join(src, 'bench_mod.ts'), benchModule(0));
  await api.start({ root: dir, src, out: join(dir, 'ebin'), typecheck: false });
  await api.c(['pp', 'bench_mod']);
  const pp = api.mod('pp');
  const peer = api.spawn(pp.pong);
  await api.run(() => pp.ping(peer, 300_000)); // warm-up
  let source;
  let server;
  const handlers = {
    async serve() {
      source = pausable(await localSource('bench'));
      server = await serveObserver(source, { port: 0, lingerMs: 0 });
      return { url: server.url };
    },
    // The page stays connected; the node stops (or resumes) observing itself: no sampler,
    // no snapshot, nothing sent.
    async pause() {
      source.pause();
      observe.stopSampler();
      return {};
    },
    async resume() {
      source.resume();
      return {};
    },
    async unserve() {
      await server?.close();
      await source?.close();
      server = source = undefined;
      return {};
    },
    // Round trips per second of the node's own CPU time (what the observer costs the node,
    // whatever else the machine runs), and per second of wall time.
    async measure({ n }) {
      const t = performance.now();
      const cpu = process.cpuUsage();
      await api.run(() => pp.ping(peer, n));
      const used = process.cpuUsage(cpu);
      return {
        rate: n / ((used.user + used.system) / 1e6),
        wallRate: n / ((performance.now() - t) / 1000),
      };
    },
    async change({ k }) {
      writeFileSync(join(src, 'bench_mod.ts'), benchModule(k));
      const r = await api.c('bench_mod');
      if (!('module' in r)) throw new Error(`c(bench_mod) failed: ${JSON.stringify(r)}`);
      return { t0: Date.now(), number: api.code.versions('bench_mod').current.vsn };
    },
    async quit() {
      await handlers.unserve();
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
      setImmediate(() => process.exit(0));
      return {};
    },
  };
  process.on('message', async (m) => {
    try {
      process.send({ id: m.id, value: await handlers[m.cmd](m) });
    } catch (e) {
      process.send({ id: m.id, error: String(e?.stack ?? e) });
    }
  });
  process.send({ ready: true });
}

/** A source whose subscriptions can be paused (the bench's "without" phase). */
function pausable(source) {
  const subs = new Set();
  const wrapped = {
    ...source,
    name: source.name,
    closed: source.closed,
    subscribe(onSnapshot, onError, options) {
      const sub = {
        args: [onSnapshot, onError, options],
        stop: source.subscribe(onSnapshot, onError, options),
      };
      subs.add(sub);
      return () => {
        sub.stop?.();
        subs.delete(sub);
      };
    },
    pause() {
      for (const sub of subs) {
        sub.stop?.();
        sub.stop = undefined;
      }
    },
    resume() {
      for (const sub of subs) sub.stop ??= source.subscribe(...sub.args);
    },
  };
  return wrapped;
}

function startNode() {
  const child = fork(here, ['--observer-node'], {
    execPath: process.execPath,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const pending = new Map();
  let ready;
  const isReady = new Promise((r) => {
    ready = r;
  });
  child.on('message', (m) => {
    if (m.ready) return ready();
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.error) p?.reject(new Error(m.error));
    else p?.resolve(m.value);
  });
  child.on('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`the node exited (${code})`));
  });
  const ask = (cmd, args = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ id, cmd, ...args });
    });
  return { child, ask, isReady };
}

async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

async function openObserver(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(url);
  await page.locator('#live.on').waitFor({ timeout: 20_000 });
  return page;
}

// ---- the measurements ---------------------------------------------------------------------

async function updateMs(node, browser) {
  const { url } = await node.ask('serve');
  const page = await openObserver(browser, url);
  const cell = '#modules tbody tr[data-module="bench_mod"] td.c-current';
  await page.locator(cell).waitFor({ timeout: 20_000 });
  const times = [];
  for (let k = 1; k <= CHANGES; k++) {
    // The page notes (by the wall clock, as the node does) when the row shows version k+1.
    const seen = page.evaluate(
      ({ cell, want }) =>
        new Promise((resolve) => {
          const check = () => {
            const el = document.querySelector(cell);
            if (el?.textContent.startsWith(want)) {
              observer.disconnect();
              resolve(Date.now());
              return true;
            }
            return false;
          };
          const observer = new MutationObserver(check);
          observer.observe(document.getElementById('modules'), {
            subtree: true,
            childList: true,
            characterData: true,
          });
          check();
        }),
      { cell, want: `v${k + 1}` },
    );
    const { t0 } = await node.ask('change', { k });
    const t1 = await seen;
    times.push(t1 - t0);
    // Changes at different phases of the push interval.
    await new Promise((r) => setTimeout(r, 137 * k));
  }
  await page.close();
  await node.ask('unserve');
  return {
    id: 'observer.update_ms',
    value: Math.max(...times),
    unit: 'ms',
    detail: {
      changes: CHANGES,
      medianMs: median(times),
      allMs: times,
      what: 'c(M) resolved on the node → the modules row shows the new version (MutationObserver), same clock',
    },
  };
}

const settle = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The page stays open throughout; the observer is attached (the node samples itself,
 * collects a snapshot every second and pushes it to the page) and detached in turn,
 * in ABBA order, PAIRS times, so that the load of a shared machine falls on both
 * phases alike. Each phase runs ROUND_TRIPS round trips; times are summed per phase.
 * The node's CPU time is reported too.
 */
async function nodeOverhead(node, browser) {
  const { url } = await node.ask('serve');
  const page = await openObserver(browser, url);
  await settle(1500);
  const sum = { with: { n: 0, cpu: 0, wall: 0 }, without: { n: 0, cpu: 0, wall: 0 } };
  const run = async (phase) => {
    await node.ask(phase === 'with' ? 'resume' : 'pause');
    const r = await node.ask('measure', { n: ROUND_TRIPS });
    sum[phase].n += ROUND_TRIPS;
    sum[phase].cpu += ROUND_TRIPS / r.rate;
    sum[phase].wall += ROUND_TRIPS / r.wallRate;
  };
  for (let i = 0; i < PAIRS; i++) {
    const order = i % 2 === 0 ? ['without', 'with'] : ['with', 'without'];
    for (const phase of order) await run(phase);
  }
  const snapshots = await page.evaluate(() => window.__snapshots ?? null);
  await page.close();
  await node.ask('unserve');
  const cpuRate = (x) => x.n / x.cpu;
  const wallRate = (x) => x.n / x.wall;
  return {
    id: 'observer.node_overhead',
    value: round(wallRate(sum.without) / wallRate(sum.with), 3),
    unit: '×',
    detail: {
      what: 'ping-pong round trips per second: without the observer ÷ with it attached (its page open in chromium), phases interleaved ABBA, summed over all phases',
      pairs: PAIRS,
      roundTripsPerPhase: ROUND_TRIPS,
      withoutRtPerS: Math.round(wallRate(sum.without)),
      withRtPerS: Math.round(wallRate(sum.with)),
      throughputWithOverWithout: round(wallRate(sum.with) / wallRate(sum.without), 3),
      nodeCpuTime: {
        withoutRtPerCpuS: Math.round(cpuRate(sum.without)),
        withRtPerCpuS: Math.round(cpuRate(sum.with)),
        ratio: round(cpuRate(sum.without) / cpuRate(sum.with), 3),
      },
      secondsObserved: round(sum.with.wall, 1),
      snapshots,
      observer: 'in the node process (hotcode shell --observer)',
    },
  };
}

export async function benchObserver() {
  if (!existsSync(CHROMIUM))
    return ['observer.update_ms', 'observer.node_overhead'].map((id) => ({
      id,
      value: null,
      unit: '',
      error: `chromium is not installed at ${CHROMIUM} (apt-get install chromium)`,
    }));
  const node = startNode();
  await node.isReady;
  const browser = await launchBrowser();
  try {
    return [await updateMs(node, browser), await nodeOverhead(node, browser)];
  } finally {
    await browser.close();
    await node.ask('quit').catch(() => {});
  }
}

if (process.argv.includes('--observer-node')) await nodeMain();
else if (process.argv[1] === here)
  for (const r of await benchObserver()) console.log(JSON.stringify(r));
