// npm run demo:cluster — one service on five nodes, upgraded as one (issue 14, S11).
//
// Starts nats-server (JetStream, a temp dir, a free port), five nodes of the
// HTTP example (examples/http) as child processes joined to one group, and a
// bounded round-robin load over the five (keep-alive clients for a fixed
// time). Meanwhile, from this process (the deploying side, which compiles
// and type-checks): release 1 = v1 of the service; then v2 of the handler as
// a release upgrade (its state migrated by codeChange on every node); then a
// broken release whose object file is damaged in the store — the nodes refuse
// it by its hash in the prepare phase and it is aborted everywhere; then a
// rollback to release 1. The last line is exactly:
//   requests: N, failed: F, nodes: 5, deployed: v1->v2, aborted: yes, rolled back: yes
//
// v1 gets a codeChange for the way down (as an appup's down instructions):
// a rollback migrates the handler's state back with the code it returns to.
//
// Options: --clients N (1–64, default 10), --seconds S (2–30, default 6), --json.
import { execFileSync, fork, spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clamp, freePort, get } from './demo-http.js';

const NODES = 5;
const GROUP = 'demo';
const here = fileURLToPath(import.meta.url);
const root = join(dirname(here), '..');
const example = join(root, 'examples', 'http');

// ---- node mode: one node of the group, driven over IPC ------------------------------------
if (process.env.HOTCODE_DEMO_NODE) {
  const cfg = JSON.parse(process.env.HOTCODE_DEMO_NODE);
  const { start, stop, supervisor } = await import('../dist/index.js');
  const { clusterEvents, clusterState } = await import('../dist/cluster/member.js');
  clusterEvents.on('switched', (x) => process.send?.({ event: 'switched', ...x }));
  try {
    await start({
      out: cfg.out,
      src: [],
      typecheck: false,
      name: cfg.name,
      cluster: { servers: cfg.servers, group: GROUP },
    });
  } catch (e) {
    process.send?.({ event: 'error', message: e.message });
    process.exit(1);
  }
  process.on('message', async (m) => {
    if (m.cmd === 'serve') {
      await supervisor.start('httpSup', m.port, { name: 'httpSup' });
      process.send?.({ id: m.id, ok: true });
    } else if (m.cmd === 'stop') {
      await stop();
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ event: 'ready', state: clusterState() });
  await new Promise(() => {});
}

// ---- the demo -------------------------------------------------------------------------------
const { connectCluster } = await import('../dist/index.js');
const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '6' },
    json: { type: 'boolean', default: false },
  },
});
const clients = Math.round(clamp(values.clients, 1, 64, 10));
const seconds = clamp(values.seconds, 2, 30, 6);
const log = (line) => process.stdout.write(`${line}\n`);

let natsVersion;
try {
  natsVersion = execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim();
} catch {
  log('demo:cluster needs nats-server on PATH (Debian/Ubuntu: apt-get install nats-server)');
  process.exit(1);
}

/** v1 with a codeChange for the way down: v2's state back to v1's shape. */
const V1_DOWN = `
/** v2 → v1 (a rollback): a new state object in v1's shape. */
export function codeChange(oldVsn: string | undefined, old: unknown, _extra: unknown): State {
  if (oldVsn !== 'v2') return old as State;
  const v2 = old as { total: number; connections: Map<number, { requests: number }> };
  const perConnection: Record<number, number> = {};
  for (const [conn, c] of v2.connections) perConnection[conn] = c.requests;
  return { requests: v2.total, perConnection };
}
`;

const dir = mkdtempSync(join(tmpdir(), 'hotcode-demo-cluster-'));
const src = join(dir, 'src');
mkdirSync(src);
for (const f of readdirSync(join(example, 'src')))
  copyFileSync(join(example, 'src', f), join(src, f));
writeFileSync(
  join(src, 'httpHandler.ts'),
  `${readFileSync(join(src, 'httpHandler.ts'), 'utf8')}${V1_DOWN}`,
);

const children = [];
let nats;
let cluster;
let raw;
let exitCode = 1;
try {
  // ---- nats-server and five nodes -------------------------------------------------------
  const natsPort = await freePort();
  const store = join(dir, 'jetstream');
  nats = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '-sd', store], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise((resolve, reject) => {
    let out = '';
    nats.stderr.on('data', (d) => {
      out += d;
      if (out.includes('Server is ready')) resolve();
    });
    nats.once('exit', (c) => reject(new Error(`nats-server exited (${c}): ${out}`)));
  });
  const url = `nats://127.0.0.1:${natsPort}`;
  log(`${natsVersion} on ${url} (JetStream in a temp dir)`);

  const nodes = await Promise.all(
    Array.from({ length: NODES }, async (_, i) => {
      const name = `node-${i + 1}`;
      const out = join(dir, name);
      mkdirSync(out);
      const child = fork(here, [], {
        env: { ...process.env, HOTCODE_DEMO_NODE: JSON.stringify({ servers: url, name, out }) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      const ready = await new Promise((resolve) => {
        child.on('message', (m) => {
          if (m.event === 'ready' || m.event === 'error') resolve(m);
        });
        child.once('exit', () => resolve({ event: 'error', message: `${name} exited` }));
      });
      if (ready.event !== 'ready') throw new Error(`${name}: ${ready.message}`);
      let next = 0;
      const request = (cmd, extra) =>
        new Promise((resolve) => {
          const id = ++next;
          const on = (m) => {
            if (m.id === id) {
              child.off('message', on);
              resolve(m);
            }
          };
          child.on('message', on);
          child.send({ id, cmd, ...extra });
        });
      return { name, child, request, port: await freePort() };
    }),
  );
  log(`${NODES} nodes joined group '${GROUP}' (child processes, no TypeScript on them)`);

  cluster = await connectCluster({ servers: url, group: GROUP });
  const at = { root: dir, src };
  const summary = (r) =>
    r.ok
      ? `release ${r.release} on ${r.nodes.filter((n) => n.result === 'switched').length} nodes, switched within ${(r.switchedWithinMs / 1000).toFixed(2)} s`
      : `${r.error}: ${r.message}`;

  // ---- release 1: the service, v1 -------------------------------------------------------
  const first = await cluster.deploy(['httpHandler', 'httpListener', 'httpSup'], at);
  if (!first.ok) throw new Error(`release 1: ${summary(first)}`);
  log(`deploy v1: ${summary(first)} (${first.modules.join(', ')})`);
  for (const n of nodes) await n.request('serve', { port: n.port });
  log(
    `service on ports ${nodes.map((n) => n.port).join(', ')}; load: ${clients} keep-alive clients, round-robin over the ${NODES} nodes, for ${seconds} s`,
  );

  // ---- the load ----------------------------------------------------------------------------
  let requests = 0;
  let failed = 0;
  const failures = [];
  const deadline = Date.now() + seconds * 1000;
  const agents = [];
  const client = async (i) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: NODES });
    agents.push(agent);
    let k = i;
    while (Date.now() < deadline) {
      const node = nodes[k++ % NODES];
      const r = await get(agent, node.port, `/client/${i}/${k}`);
      requests++;
      if (r.error || r.status !== 200 || !/^v\d /.test(r.body ?? '')) {
        failed++;
        if (failures.length < 5)
          failures.push(`${node.name}: ${r.error?.message ?? `${r.status} ${r.body}`}`);
      }
    }
  };
  const load = Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  const atFraction = (f) =>
    new Promise((r) =>
      setTimeout(r, Math.max(0, deadline - seconds * 1000 * (1 - f) - Date.now())),
    );
  /** What every node answers now: its version prefix. */
  const probe = async () => {
    const bodies = await Promise.all(nodes.map((n) => get(undefined, n.port, '/probe')));
    const versions = [...new Set(bodies.map((b) => (b.body ?? '').slice(0, 2)))];
    return { versions, sample: (bodies[0].body ?? '').trim() };
  };

  // ---- v1 → v2, a release upgrade on every node ---------------------------------------------
  await atFraction(1 / 4);
  const before = await probe();
  log(`every node answers ${before.versions.join(', ')}: ${before.sample}`);
  copyFileSync(join(example, 'releases', 'v2', 'httpHandler.ts'), join(src, 'httpHandler.ts'));
  const up = await cluster.deploy(['httpHandler'], {
    ...at,
    change: [{ server: 'httpHandler', module: 'httpHandler' }],
  });
  const after = await probe();
  log(`deploy v2 (codeChange on every node): ${summary(up)}`);
  log(`every node answers ${after.versions.join(', ')}: ${after.sample}`);

  // ---- a broken release: its object file damaged in the store ---------------------------------
  await atFraction(2 / 4);
  copyFileSync(join(example, 'releases', 'v3', 'httpHandler.ts'), join(src, 'httpHandler.ts'));
  const { jetstream } = await import('@nats-io/jetstream');
  const { Objm } = await import('@nats-io/obj');
  const { connect } = await import('@nats-io/transport-node');
  raw = await connect({ servers: url });
  const os = await new Objm(jetstream(raw)).open('hotcode_objects');
  const broken = await cluster.deploy(['httpHandler'], {
    ...at,
    change: [{ server: 'httpHandler', module: 'httpHandler' }],
    onPhase: async (e) => {
      if (e.phase !== 'uploaded') return;
      // As a bad disk or a bad upload would: other bytes under the object's name.
      for (const o of e.objects)
        await os.putBlob({ name: o.hash }, new TextEncoder().encode('//hotcode damaged\n'));
    },
  });
  const refusal = broken.nodes?.find((n) => n.result === 'refused');
  const still = await probe();
  log(
    `deploy v3, its object file damaged in the store: ${broken.error ?? 'deployed?!'}${refusal ? ` — ${refusal.name} refused it in prepare (${refusal.error}: ${refusal.reason})` : ''}; every node answers ${still.versions.join(', ')}`,
  );

  // ---- rollback to release 1 ----------------------------------------------------------------
  await atFraction(3 / 4);
  const back = await cluster.rollback();
  const rolled = await probe();
  log(`rollback: ${summary(back)}; every node answers ${rolled.versions.join(', ')}`);

  await load;
  for (const a of agents) a.destroy();
  const deployed =
    up.ok && before.versions.join() === 'v1' && after.versions.join() === 'v2'
      ? 'v1->v2'
      : `${before.versions.join('/')}->${after.versions.join('/')}`;
  const aborted =
    broken.error === 'aborted' && refusal !== undefined && still.versions.join() === 'v2'
      ? 'yes'
      : 'no';
  const rolledBack =
    back.ok && back.release === first.release && rolled.versions.join() === 'v1' ? 'yes' : 'no';
  if (failures.length) log(`failures: ${failures.join(' | ')}`);
  if (values.json)
    log(
      JSON.stringify({
        requests,
        failed,
        nodes: NODES,
        switchedWithinMs: { v2: up.switchedWithinMs, rollback: back.switchedWithinMs },
        deployMs: { v2: up.elapsedMs, rollback: back.elapsedMs },
        deployed,
        aborted,
        rolledBack,
      }),
    );
  log(
    `requests: ${requests}, failed: ${failed}, nodes: ${NODES}, deployed: ${deployed}, aborted: ${aborted}, rolled back: ${rolledBack}`,
  );
  exitCode =
    failed === 0 && deployed === 'v1->v2' && aborted === 'yes' && rolledBack === 'yes' ? 0 : 1;
} catch (e) {
  log(`demo failed: ${e?.stack ?? e}`);
} finally {
  await cluster?.close();
  await raw?.close();
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (nats && nats.exitCode === null) nats.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
