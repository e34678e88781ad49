// Cluster-wide releases (S11, issue 14), measured on this machine:
//
//   cluster.deploy_20_s       a 50-line module deployed to 20 local nodes (child processes)
//                             through connectCluster, from the deploy call to every node's
//                             acknowledgement; the deploying process keeps its type gate warm
//                             (a first deploy warmed it); median of 3 (target ≤ 2). The
//                             detail also has `hotcode deploy --cluster` end to end (a new
//                             process: its type gate starts cold).
//   cluster.switch_spread_ms  between the first and the last of the 20 nodes' switch, in
//                             those deploys (median; max in the detail; target ≤ 1,000)
//   cluster.requests_failed   failed HTTP requests of npm run demo:cluster (5 nodes of the
//                             HTTP example under round-robin load: a release upgrade, an
//                             aborted release and a rollback; target 0)
//
// Needs nats-server on PATH. `node bench/cluster.js` prints them.
import { execFile, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectCluster } from '../dist/index.js';
import { deployProject, startNats, startNodes, writeSource } from '../test/clusterHelpers.js';
import { median, round } from './util.js';

const here = fileURLToPath(import.meta.url);
const root = join(dirname(here), '..');
const NODES = 20;
const RUNS = 3;

/** A module of 50 lines: 48 small typed functions and a vsn. */
function fifty(v) {
  const lines = [`export const vsn = '${v}';`];
  for (let i = 0; i < 48; i++)
    lines.push(`export function f${i}(x: number): number { return x * ${i} + ${v.length}; }`);
  lines.push(`export function version(): string { return vsn; }`);
  return `${lines.join('\n')}\n`;
}

async function deployTo20() {
  const nats = await startNats();
  const p = deployProject({ 'fifty.ts': fifty('v0') });
  let nodes = [];
  let client;
  try {
    // Five at a time: 20 node processes starting at once on 2 cores only measure the scheduler.
    for (let i = 0; i < NODES; i += 5)
      nodes = nodes.concat(await startNodes(nats, Math.min(5, NODES - i), { prefix: `b${i / 5}` }));
    client = await connectCluster({ servers: nats.url });
    const warm = await client.deploy(['fifty'], { root: p.dir, src: p.src });
    if (!warm.ok) throw new Error(`first deploy: ${warm.message}`);
    const seconds = [];
    const spreads = [];
    for (let i = 1; i <= RUNS; i++) {
      writeSource(p, 'fifty.ts', fifty(`v${i}`));
      const t = performance.now();
      const r = await client.deploy(['fifty'], { root: p.dir, src: p.src });
      const s = (performance.now() - t) / 1000;
      if (!r.ok) throw new Error(`deploy ${i}: ${r.message}`);
      if (r.nodes.filter((n) => n.result === 'switched').length !== NODES)
        throw new Error(`deploy ${i}: not every node switched`);
      seconds.push(s);
      spreads.push(r.switchedWithinMs);
    }
    // The same from a terminal: a new process, a cold type gate.
    writeSource(p, 'fifty.ts', fifty('v-cli'));
    const t = performance.now();
    const cli = spawnSync(
      process.execPath,
      [join(root, 'dist', 'cli', 'main.js'), 'deploy', '--cluster', nats.url, 'fifty'],
      { cwd: p.dir, encoding: 'utf8' },
    );
    const cliSeconds = (performance.now() - t) / 1000;
    if (cli.status !== 0) throw new Error(`hotcode deploy --cluster: ${cli.stderr}`);
    const cliSpread = Number(/switched within ([\d.]+) s/.exec(cli.stdout)?.[1] ?? Number.NaN);
    return { seconds, spreads, cliSeconds, cliSpreadMs: cliSpread * 1000 };
  } finally {
    await client?.close();
    await Promise.all(nodes.map((n) => n.kill()));
    await nats.close();
    rmSync(p.dir, { recursive: true, force: true });
  }
}

function demo() {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(root, 'scripts', 'demo-cluster.js'), '--json', '--seconds', '4'],
      { cwd: root, timeout: 120_000 },
      (error, stdout) => {
        const lines = stdout.trim().split('\n');
        const json = lines.findLast((l) => l.startsWith('{'));
        if (!json) return reject(new Error(`demo:cluster: ${error?.message ?? ''}\n${stdout}`));
        resolve({ ...JSON.parse(json), last: lines.at(-1) });
      },
    );
  });
}

export async function benchCluster() {
  const d = await deployTo20();
  const web = await demo();
  return [
    {
      id: 'cluster.deploy_20_s',
      value: round(median(d.seconds), 3),
      unit: 's',
      detail: {
        runs: d.seconds.map((s) => round(s, 3)),
        nodes: NODES,
        cliColdGateS: round(d.cliSeconds, 3),
      },
    },
    {
      id: 'cluster.switch_spread_ms',
      value: round(median(d.spreads), 1),
      unit: 'ms',
      detail: { runs: d.spreads, maxMs: Math.max(...d.spreads), cliMs: d.cliSpreadMs },
    },
    {
      id: 'cluster.requests_failed',
      value: web.failed,
      unit: 'requests',
      note: `${web.requests} requests over 5 nodes, last line: ${web.last}`,
      detail: { deployMs: web.deployMs, switchedWithinMs: web.switchedWithinMs },
    },
  ];
}

if (process.argv[1] === here)
  for (const r of await benchCluster())
    console.log(
      `${r.id}: ${r.value} ${r.unit}${r.note ? ` (${r.note})` : ''} ${JSON.stringify(r.detail ?? {})}`,
    );
