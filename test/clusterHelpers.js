// Helpers of the cluster tests (S11): a real nats-server per test on a free
// port in a temp dir, stopped by its pid; nodes as child processes that
// report their events over IPC (test/fixtures/cluster/node.mjs).
import { fork, spawn, spawnSync } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../scripts/demo-http.js';

/** A TCP port nobody listens on right now (the demos' helper). */
export { freePort };

export const NODE_FIXTURE = fileURLToPath(new URL('./fixtures/cluster/node.mjs', import.meta.url));

/**
 * Why the cluster tests cannot run here, or false: they need nats-server on
 * PATH (.ci/run installs it; `apt-get install nats-server`).
 */
export const natsMissing =
  spawnSync('nats-server', ['--version']).status === 0
    ? false
    : 'nats-server is not installed (apt-get install nats-server)';

/** Temp dirs of this test file (node `out`s, projects), removed when it exits. */
const temps = new Set();
process.on('exit', () => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});
function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.add(d);
  return d;
}

/**
 * Starts `nats-server -js` on a free port with its store in a temp dir;
 * resolves when it says it is ready. `restart()` stops it (by pid) and starts
 * it again on the same port and store.
 */
export async function startNats({ user, pass, token } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hotcode-nats-'));
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir];
  if (user !== undefined) args.push('--user', user, '--pass', pass);
  if (token !== undefined) args.push('--auth', token);
  const nats = { port, dir, url: `nats://127.0.0.1:${port}`, proc: undefined, log: '' };
  nats.start = async () => {
    const proc = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    nats.proc = proc;
    await new Promise((resolve, reject) => {
      const onData = (d) => {
        nats.log += d;
        if (nats.log.includes('Server is ready')) {
          proc.stderr.off('data', onData);
          proc.stderr.on('data', (x) => {
            nats.log += x;
          });
          resolve();
        }
      };
      proc.stderr.on('data', onData);
      proc.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${nats.log}`)));
      proc.once('error', reject);
    });
    nats.log = '';
  };
  nats.stop = async () => {
    const proc = nats.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    process.kill(proc.pid, 'SIGKILL');
    await exited;
  };
  nats.restart = async () => {
    await nats.stop();
    await nats.start();
  };
  nats.close = async () => {
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  await nats.start();
  return nats;
}

let seq = 0;

/**
 * Starts a node of `group` as a child process; resolves when it has joined
 * (its `ready` event, after it loaded the group's current release) — or
 * rejects with the error `start` gave. `node.events` re-emits what the member
 * reports; `node.request(cmd, extra)` asks it something.
 */
export async function startNode(nats, { name, group = 'default', out, creds = {}, env = {} } = {}) {
  const nodeName = name ?? `n${++seq}`;
  const dir = out ?? tempDir(`hotcode-node-${nodeName}-`);
  mkdirSync(dir, { recursive: true });
  const cfg = { servers: nats.url, group, name: nodeName, out: dir, ...creds };
  const child = fork(NODE_FIXTURE, [], {
    env: { ...process.env, ...env, HOTCODE_TEST_NODE: JSON.stringify(cfg) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const node = {
    name: nodeName,
    out: dir,
    child,
    pid: child.pid,
    events: new EventEmitter(),
    log: '',
    ready: undefined,
  };
  child.stdout.on('data', (d) => {
    node.log += d;
  });
  child.stderr.on('data', (d) => {
    node.log += d;
  });
  let next = 0;
  const waiting = new Map();
  child.on('message', (m) => {
    if (m.id !== undefined) {
      const w = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.error) w?.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else w?.resolve(m.ok);
    } else node.events.emit(m.event, m);
  });
  child.on('exit', (code, signal) => {
    for (const w of waiting.values()) w.reject(new Error(`node ${nodeName} exited`));
    waiting.clear();
    node.events.emit('exit', { code, signal });
  });
  node.request = (cmd, extra = {}) =>
    new Promise((resolve, reject) => {
      const id = ++next;
      waiting.set(id, { resolve, reject });
      child.send({ id, cmd, ...extra });
    });
  node.state = () => node.request('state');
  /** Waits for the next event `ev` for which `pred` holds. */
  node.next = (ev, pred = () => true) =>
    new Promise((resolve) => {
      const on = (m) => {
        if (pred(m)) {
          node.events.off(ev, on);
          resolve(m);
        }
      };
      node.events.on(ev, on);
    });
  node.kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    process.kill(child.pid, 'SIGKILL');
    await exited;
  };
  node.stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    await node.request('stop').catch(() => {});
    await exited;
  };
  const first = await new Promise((resolve) => {
    node.events.once('ready', resolve);
    node.events.once('error', resolve);
    node.events.once('exit', (x) => resolve({ event: 'exit', ...x }));
  });
  if (first.event !== 'ready') {
    await node.kill();
    throw Object.assign(new Error(first.message ?? `node ${nodeName} exited: ${node.log}`), {
      code: first.code,
    });
  }
  node.ready = first;
  return node;
}

/**
 * Starts `n` nodes at once. If one fails to start, those that did are killed
 * before the error is thrown: a test's `after` never sees them, and a live
 * child would keep the test file's process (and the whole run) waiting.
 */
export async function startNodes(nats, n, opts = {}) {
  const started = await Promise.allSettled(
    Array.from({ length: n }, (_, i) =>
      startNode(nats, { ...opts, name: `${opts.prefix ?? 'node'}-${i + 1}` }),
    ),
  );
  const failed = started.find((r) => r.status === 'rejected');
  if (failed === undefined) return started.map((r) => r.value);
  for (const r of started) if (r.status === 'fulfilled') await r.value.kill();
  throw failed.reason;
}

/** The release each node runs, by asking it. */
export async function releasesOf(nodes) {
  return Promise.all(nodes.map(async (n) => (await n.state()).state.release));
}

/** A temp project for the deploying side: { dir, src }, with `files` written into src. */
export function deployProject(files = {}) {
  const dir = tempDir('hotcode-deploy-');
  const src = join(dir, 'src');
  mkdirSync(src);
  for (const [name, text] of Object.entries(files)) writeSource({ src }, name, text);
  return { dir, src };
}

export function writeSource(p, name, text) {
  writeFileSync(join(p.src, name), text);
}
