// Benchmarks of the core runtime (issue 3) and of processes and purge (issue 4).
// Each group runs in a fresh child process (`node --expose-gc bench/core.js --child <group>`),
// so that heaps are clean and one hotcode node runs per OS process.
// `node bench/core.js [group]` runs and prints them standalone.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bigModule,
  boot,
  childMain,
  fiftyLines,
  heapUsed,
  inChild,
  manyLines,
  median,
  round,
  shutdown,
  tick,
} from './util.js';

const here = fileURLToPath(import.meta.url);

// ---- calls ------------------------------------------------------------------------

// ~10–20 ns of integer work, the same in the callee module and the local copy.
const WORK_BODY = `
  let h = x | 0;
  for (let i = 0; i < 12; i++) h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) + i;
  return h;`;

const CALL_MODULES = {
  work: `export function f(x: number): number {${WORK_BODY}\n}\n`,
  caller: `import * as work from './work';
function local(x: number): number {${WORK_BODY}
}
/** Qualified calls through the handle: compiles to cell.v.f(i). */
export function qualified(n: number): number {
  let acc = 0;
  for (let i = 0; i < n; i++) acc = (acc + work.f(i)) | 0;
  return acc;
}
/** The same loop calling a local function of the same work. */
export function direct(n: number): number {
  let acc = 0;
  for (let i = 0; i < n; i++) acc = (acc + local(i)) | 0;
  return acc;
}
/** An external reference: a function value read from the handle (its trampoline). */
export function external(n: number): number {
  const f = work.f;
  let acc = 0;
  for (let i = 0; i < n; i++) acc = (acc + f(i)) | 0;
  return acc;
}
`,
};

/** Times `fn(n)` and returns ns per iteration. */
function nsPer(fn, n) {
  const t = process.hrtime.bigint();
  const r = fn(n);
  const dt = Number(process.hrtime.bigint() - t);
  if (r === 0.5) console.log(r); // keep the result alive
  return dt / n;
}

async function groupCalls() {
  const ctx = await boot(CALL_MODULES);
  const { api } = ctx;
  try {
    for (const m of ['work', 'caller']) {
      const r = await api.c(m);
      if (r.error) throw new Error(`c(${m}): ${JSON.stringify(r)}`);
    }
    const caller = api.mod('caller');
    const N = 2_000_000;
    const ROUNDS = 15;
    // Warm-up: every variant until optimised.
    for (let i = 0; i < 5; i++) {
      nsPer(caller.qualified, N / 4);
      nsPer(caller.direct, N / 4);
      nsPer(caller.external, N / 4);
    }
    const q = [];
    const d = [];
    const e = [];
    const rq = [];
    const re = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Side by side, order alternating, so drift hits both alike.
      const order = r % 2 ? ['d', 'q', 'e'] : ['e', 'q', 'd'];
      const t = {};
      for (const k of order)
        t[k] = nsPer(k === 'q' ? caller.qualified : k === 'd' ? caller.direct : caller.external, N);
      q.push(t.q);
      d.push(t.d);
      e.push(t.e);
      rq.push(t.q / t.d);
      re.push(t.e / t.d);
    }
    return [
      {
        id: 'call.qualified',
        value: round(median(rq)),
        unit: '×',
        detail: {
          qualifiedNs: round(median(q)),
          directNs: round(median(d)),
          rounds: ROUNDS,
          callsPerRound: N,
        },
      },
      {
        id: 'call.external_ref',
        value: round(median(re)),
        unit: '×',
        detail: {
          externalNs: round(median(e)),
          directNs: round(median(d)),
          rounds: ROUNDS,
          callsPerRound: N,
        },
      },
    ];
  } finally {
    await shutdown(ctx);
  }
}

// ---- loading and compiling --------------------------------------------------------

async function groupLoad() {
  const ctx = await boot({ shapes: fiftyLines(0) });
  const { api, project } = ctx;
  try {
    // Distinct versions, compiled once: 50 lines of TypeScript each.
    const VARIANTS = 40;
    const versions = [];
    for (let n = 0; n < VARIANTS; n++) {
      project.write('shapes', fiftyLines(n));
      const r = await api.compile.file('shapes', { typecheck: false });
      if (r.error) throw new Error(JSON.stringify(r));
      versions.push(readFileSync(join(project.out, 'shapes.js'), 'utf8'));
    }
    const file = join(project.out, 'shapes.js');
    const times = [];
    const LOADS = 400;
    for (let i = 0; i < LOADS + 100; i++) {
      const bytes = versions[i % VARIANTS];
      const t = performance.now();
      const r = api.code.loadBinary('shapes', file, bytes);
      api.code.purge('shapes');
      const dt = performance.now() - t;
      if (r.error) throw new Error(`loadBinary: ${JSON.stringify(r)}`);
      if (i >= 100) times.push(dt);
    }
    return [
      {
        id: 'load.object_file_ms',
        value: round(median(times), 4),
        unit: 'ms',
        detail: { method: 'code.loadBinary + code.purge', loads: LOADS, bytes: versions[0].length },
      },
    ];
  } finally {
    await shutdown(ctx);
  }
}

async function timeCompiles(api, project, name, make, warm, runs) {
  const times = [];
  for (let i = 0; i < warm + runs; i++) {
    project.write(name, make(i + 1));
    const t = performance.now();
    const r = await api.compile.file(name, { typecheck: false });
    const dt = performance.now() - t;
    if (r.error) throw new Error(`compile.file(${name}): ${JSON.stringify(r)}`);
    if (i >= warm) times.push(dt);
  }
  return median(times);
}

async function groupCompile() {
  const ctx = await boot({ m50: fiftyLines(0), m1000: manyLines(1000, 0) });
  const { api, project } = ctx;
  try {
    const lines1000 = manyLines(1000, 0).split('\n').length;
    const t50 = await timeCompiles(api, project, 'm50', (n) => fiftyLines(n), 10, 41);
    const t1000 = await timeCompiles(api, project, 'm1000', (n) => manyLines(1000, n), 5, 21);
    return [
      {
        id: 'compile.file_50_lines_ms',
        value: round(t50),
        unit: 'ms',
        detail: { lines: fiftyLines(0).split('\n').length, runs: 41 },
      },
      {
        id: 'compile.file_1000_lines_ms',
        value: round(t1000),
        unit: 'ms',
        detail: { lines: lines1000, runs: 21 },
      },
    ];
  } finally {
    await shutdown(ctx);
  }
}

// ---- await ------------------------------------------------------------------------

const AWAIT_MODULE = `
export async function awaits(n: number): Promise<number> {
  let acc = 0;
  for (let i = 0; i < n; i++) acc = (acc + (await i)) | 0;
  return acc;
}
`;

// The bare baseline: the same loop in plain JavaScript (not compiled by hotcode).
async function bareAwaits(n) {
  let acc = 0;
  for (let i = 0; i < n; i++) acc = (acc + (await i)) | 0;
  return acc;
}

async function groupAwait() {
  const ctx = await boot({ aw: AWAIT_MODULE });
  const { api } = ctx;
  try {
    await api.c('aw');
    const aw = api.mod('aw');
    const N = 200_000;
    const ROUNDS = 31;
    // Both loops run inside a process (the usual case: the ALS context is set).
    return await api.run(async () => {
      const time = async (fn, n) => {
        const t = process.hrtime.bigint();
        await fn(n);
        return Number(process.hrtime.bigint() - t) / n;
      };
      for (let i = 0; i < 5; i++) {
        await time(aw.awaits, N / 5);
        await time(bareAwaits, N / 5);
      }
      const ratios = [];
      const inst = [];
      const bare = [];
      for (let r = 0; r < ROUNDS; r++) {
        let a;
        let b;
        if (r % 2) {
          a = await time(aw.awaits, N);
          b = await time(bareAwaits, N);
        } else {
          b = await time(bareAwaits, N);
          a = await time(aw.awaits, N);
        }
        inst.push(a);
        bare.push(b);
        ratios.push(a / b);
      }
      return [
        {
          id: 'await.instrumented',
          value: round(median(ratios)),
          unit: '×',
          detail: {
            instrumentedNs: round(median(inst)),
            bareNs: round(median(bare)),
            rounds: ROUNDS,
            awaitsPerRound: N,
          },
        },
      ];
    });
  } finally {
    await shutdown(ctx);
  }
}

// ---- processes --------------------------------------------------------------------

/** The ping-pong module, shared with bench/observer.js (its overhead is measured on the same pattern). */
export const PINGPONG_MODULE = `
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

/**
 * The floor on this machine: the same round trip in plain JavaScript (a one-slot
 * mailbox, one promise per waiting receive, no runtime, no ALS). `round(n)` runs
 * n round trips; `stop()` ends its pong.
 */
function plainPingpong() {
  const box = () => ({ q: [], w: undefined });
  const send = (b, m) => {
    if (b.w) {
      const r = b.w;
      b.w = undefined;
      r(m);
    } else b.q.push(m);
  };
  const recv = (b) => (b.q.length ? Promise.resolve(b.q.shift()) : new Promise((r) => (b.w = r)));
  const A = box();
  const B = box();
  let stopped = false;
  const pong = async () => {
    while (!stopped) send(await recv(B), 0);
  };
  void pong();
  return {
    async round(k) {
      for (let i = 0; i < k; i++) {
        send(B, A);
        await recv(A);
      }
    },
    stop() {
      stopped = true;
      send(B, box());
    },
  };
}

/** Round trips per second of `f(n)`. */
async function rate(n, f) {
  const t = performance.now();
  await f(n);
  return n / ((performance.now() - t) / 1000);
}

async function groupPingpong() {
  const ctx = await boot({ pp: PINGPONG_MODULE });
  const { api } = ctx;
  try {
    await api.c('pp');
    const pp = api.mod('pp');
    const peer = api.spawn(pp.pong);
    const plain = plainPingpong();
    const RUNS = 7;
    const N = 2_000_000;
    await api.run(() => pp.ping(peer, 200_000)); // warm-up
    await plain.round(200_000);
    // Side by side: each hotcode run is followed by a plain one, so a change of the
    // machine's speed during the group (this VM's varies by up to 2x) moves both.
    const rates = [];
    const floors = [];
    const ratios = [];
    for (let r = 0; r < RUNS; r++) {
      rates.push(await rate(N, (n) => api.run(() => pp.ping(peer, n))));
      floors.push(await rate(N, (n) => plain.round(n)));
      ratios.push(rates[r] / floors[r]);
    }
    plain.stop();
    api.exit(peer, 'kill');
    const floor = median(floors);
    return [
      {
        id: 'procs.pingpong_rt_per_s',
        value: Math.round(median(rates)),
        unit: 'rt/s',
        detail: {
          roundTripsPerRun: N,
          runs: RUNS,
          plainJsFloorRtPerS: Math.round(floor),
          ofFloor: round(median(ratios)),
        },
      },
      {
        id: 'procs.pingpong_of_floor',
        value: round(median(ratios), 3),
        unit: '×',
        detail: {
          plainJsFloorRtPerS: Math.round(floor),
          runRatios: ratios.map((x) => round(x, 3)),
        },
      },
    ];
  } finally {
    await shutdown(ctx);
  }
}

const IDLE_MODULE = `
import { receive } from 'hotcode';
export async function idle(): Promise<unknown> {
  return await receive();
}
`;

const N100K = 100_000;

function spawnMany(api, fn, n) {
  const pids = new Array(n);
  for (let i = 0; i < n; i++) pids[i] = api.spawn(fn);
  return pids;
}

async function groupSpawn() {
  const ctx = await boot({ idle: IDLE_MODULE });
  const { api } = ctx;
  try {
    await api.c('idle');
    const idle = api.mod('idle').idle;
    // Warm-up batch, then killed.
    for (const p of spawnMany(api, idle, 20_000)) api.exit(p, 'kill');
    await tick();
    const us = [];
    const bytes = [];
    const ROUNDS = 3;
    for (let r = 0; r < ROUNDS; r++) {
      const before = heapUsed();
      const t = performance.now();
      let pids = spawnMany(api, idle, N100K);
      const dt = performance.now() - t;
      const pidArray = N100K * 8 + 16; // the array holding the pids, not part of a process
      const after = heapUsed();
      if (api.processes().length < N100K) throw new Error('spawned processes are missing');
      us.push((dt * 1000) / N100K);
      bytes.push((after - before - pidArray) / N100K);
      for (const p of pids) api.exit(p, 'kill');
      pids = undefined;
      await tick();
    }
    return [
      {
        id: 'procs.spawn_us',
        value: round(median(us)),
        unit: 'µs',
        detail: { processes: N100K, rounds: ROUNDS },
      },
      {
        id: 'procs.spawn_bytes',
        value: Math.round(median(bytes)),
        unit: 'B',
        detail: {
          processes: N100K,
          rounds: ROUNDS,
          method: 'heapUsed after gc(), minus the pid array',
        },
      },
    ];
  } finally {
    await shutdown(ctx);
  }
}

async function groupKill() {
  const ctx = await boot({ idle: IDLE_MODULE });
  const { api, project } = ctx;
  try {
    await api.c('idle');
    const idle = api.mod('idle').idle;
    // Warm-up: the same scenario with 10 k processes.
    const ms = [];
    const settled = [];
    for (const n of [10_000, N100K, N100K, N100K]) {
      spawnMany(api, idle, n);
      project.write('idle', `${IDLE_MODULE}\n// ${Math.random()}\n`);
      const r = await api.c('idle');
      if (r.error) throw new Error(JSON.stringify(r));
      await tick();
      const alive = api.processes().length;
      const t = performance.now();
      const killed = api.code.purge('idle');
      const dt = performance.now() - t;
      await tick();
      const dtSettled = performance.now() - t;
      const left = api.processes().length;
      if (!killed || alive - left < n) throw new Error(`purge killed ${alive - left} of ${n}`);
      if (n === N100K) {
        ms.push(dt);
        settled.push(dtSettled);
      }
    }
    return [
      {
        id: 'purge.kill_100k_ms',
        value: round(median(ms)),
        unit: 'ms',
        detail: { processes: N100K, runs: ms.length, untilNextMacrotaskMs: round(median(settled)) },
      },
    ];
  } finally {
    await shutdown(ctx);
  }
}

async function groupSoft() {
  const ctx = await boot({
    idle: IDLE_MODULE,
    other: 'export function f(): number { return 1; }\n',
  });
  const { api, project } = ctx;
  try {
    await api.c('idle');
    await api.c('other');
    spawnMany(api, api.mod('idle').idle, N100K);
    const times = [];
    for (let i = 0; i < 25; i++) {
      project.write('other', `export function f(): number { return ${i + 2}; }\n`);
      const r = await api.c('other'); // the previous current version becomes old
      if (r.error) throw new Error(JSON.stringify(r));
      const t = performance.now();
      const ok = api.code.softPurge('other');
      const dt = performance.now() - t;
      if (!ok) throw new Error('softPurge refused with no process in the old code');
      if (i >= 5) times.push(dt);
    }
    if (api.processes().length < N100K) throw new Error('bystanders are missing');
    return [
      {
        id: 'purge.soft_100k_bystanders_ms',
        value: round(median(times), 4),
        unit: 'ms',
        detail: { bystanders: N100K, runs: times.length },
      },
    ];
  } finally {
    await shutdown(ctx);
  }
}

const RELOAD_KB = 100;
const RELOAD_WARM = 200;
export const RELOAD_CYCLES = Number(process.env.HOTCODE_BENCH_RELOADS ?? 10_000);

async function groupReload() {
  const ctx = await boot({ big: bigModule(RELOAD_KB) });
  const { api, project } = ctx;
  try {
    const r = await api.c('big');
    if (r.error) throw new Error(JSON.stringify(r));
    const file = join(project.out, 'big.js');
    const base = readFileSync(file, 'utf8');
    const marker = base.includes('"v0000000000"') ? '"v0000000000"' : "'v0000000000'";
    if (!base.includes(marker))
      throw new Error('the VARIANT marker is missing from the object file');
    const big = api.mod('big');
    // Every version is a distinct source (same length): the marker holds its number.
    const load = (i) => {
      const text = base.replace(marker, `${marker[0]}v${String(i).padStart(10, '0')}${marker[0]}`);
      const lr = api.code.loadBinary('big', file, text);
      if (lr.error) throw new Error(`loadBinary: ${JSON.stringify(lr)}`);
      api.code.purge('big');
      if (big.ping() !== `v${String(i).padStart(10, '0')}`)
        throw new Error('the new version does not run');
    };
    for (let i = 1; i <= RELOAD_WARM; i++) load(i);
    const before = heapUsed();
    const t = performance.now();
    for (let i = RELOAD_WARM + 1; i <= RELOAD_WARM + RELOAD_CYCLES; i++) load(i);
    const loadMs = (performance.now() - t) / RELOAD_CYCLES;
    const after = heapUsed();
    return [
      {
        id: 'reload.heap_per_version_kb',
        value: round((after - before) / 1024 / RELOAD_CYCLES, 4),
        unit: 'KB',
        detail: {
          cycles: RELOAD_CYCLES,
          moduleKb: round(base.length / 1024, 1),
          msPerCycle: round(loadMs),
          heapBeforeMb: round(before / 2 ** 20, 2),
          heapAfterMb: round(after / 2 ** 20, 2),
        },
      },
    ];
  } finally {
    await shutdown(ctx);
  }
}

const LOOP_MODULE = `
import { receive, send, type Pid } from 'hotcode';
import * as self from './looper';
export async function loop(s: number, owner: Pid): Promise<number> {
  const m = await receive<number>();
  if (m % 1000 === 0) send(owner, s);
  return self.loop(s + 1, owner);
}
`;

async function groupTailcall() {
  const ctx = await boot({ looper: LOOP_MODULE });
  const { api } = ctx;
  try {
    await api.c('looper');
    const looper = api.mod('looper');
    // The looper acks every 1,000th message to a relay process, which wakes the driver.
    const relayState = { waiting: undefined };
    const relay = api.spawn(async () => {
      for (;;) {
        await api.receive();
        relayState.waiting?.();
      }
    });
    const pid = api.spawn(looper.loop, 0, relay);
    const drive = async (from, count) => {
      for (let i = from; i < from + count; i += 1000) {
        const acked = new Promise((r) => {
          relayState.waiting = r;
        });
        for (let k = 0; k < 1000; k++) api.send(pid, i + k);
        await acked;
      }
    };
    await drive(0, 100_000); // warm-up
    const before = heapUsed();
    const M = 1_000_000;
    const t = performance.now();
    await drive(100_000, M);
    const dt = performance.now() - t;
    const after = heapUsed();
    if (!api.isProcessAlive(pid)) throw new Error('the looping process died');
    api.exit(pid, 'kill');
    api.exit(relay, 'kill');
    return [
      {
        id: 'procs.tailcall_bytes_per_msg',
        value: round((after - before) / M, 3),
        unit: 'B',
        detail: {
          messages: M,
          usPerMsg: round((dt * 1000) / M),
          heapGrowthKb: round((after - before) / 1024, 1),
        },
      },
    ];
  } finally {
    await shutdown(ctx);
  }
}

// ---- registry ---------------------------------------------------------------------

export const groups = {
  calls: { ids: ['call.qualified', 'call.external_ref'], fn: groupCalls },
  load: { ids: ['load.object_file_ms'], fn: groupLoad },
  compile: { ids: ['compile.file_50_lines_ms', 'compile.file_1000_lines_ms'], fn: groupCompile },
  // Its ratio depends on how V8 happens to optimise the two loops in one process
  // (1.02–1.26 seen run to run): the median of three child processes.
  await: { ids: ['await.instrumented'], fn: groupAwait, repeat: 3 },
  pingpong: { ids: ['procs.pingpong_rt_per_s', 'procs.pingpong_of_floor'], fn: groupPingpong },
  spawn: { ids: ['procs.spawn_us', 'procs.spawn_bytes'], fn: groupSpawn },
  kill: { ids: ['purge.kill_100k_ms'], fn: groupKill },
  soft: { ids: ['purge.soft_100k_bystanders_ms'], fn: groupSoft },
  reload: { ids: ['reload.heap_per_version_kb'], fn: groupReload },
  tailcall: { ids: ['procs.tailcall_bytes_per_msg'], fn: groupTailcall },
};

/** Per id, the result of the run with the median value; the values of all runs in detail. */
function medianRuns(runs) {
  return runs[0].map((first) => {
    const all = runs.map((rs) => rs.find((r) => r.id === first.id));
    const sorted = [...all].sort((a, b) => a.value - b.value);
    const mid = sorted[sorted.length >> 1];
    return { ...mid, detail: { ...mid.detail, childRuns: all.map((r) => r.value) } };
  });
}

/** Runs the groups whose ids match `wanted` (a predicate on ids), each in a child process. */
export async function benchCore(wanted = () => true, onResult = () => {}) {
  const results = [];
  for (const [name, g] of Object.entries(groups)) {
    if (!g.ids.some(wanted)) continue;
    try {
      const runs = [];
      for (let i = 0; i < (g.repeat ?? 1); i++) runs.push(await inChild(here, name));
      const rs = runs.length === 1 ? runs[0] : medianRuns(runs);
      for (const r of rs) onResult(r);
      results.push(...rs);
    } catch (e) {
      for (const id of g.ids) {
        const r = {
          id,
          value: null,
          unit: '',
          error: String(e.message ?? e)
            .split('\n')
            .slice(0, 6)
            .join(' | '),
        };
        onResult(r);
        results.push(r);
      }
    }
  }
  return results;
}

if (!(await childMain(Object.fromEntries(Object.entries(groups).map(([k, g]) => [k, g.fn]))))) {
  if (process.argv[1] === here) {
    const only = process.argv[2];
    const wanted =
      only in groups ? (id) => groups[only].ids.includes(id) : (id) => !only || id.startsWith(only);
    await benchCore(wanted, (r) => console.log(JSON.stringify(r)));
  }
}
