// S11.2 from the command line: `hotcode deploy|rollback|nodes --cluster URL`
// print one line per node and a summary and exit 0, or say what is wrong and
// exit 1; S11.1 `"cluster"` in hotcode.config.json makes `hotcode run` join
// the group.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import {
  deployProject,
  natsMissing,
  startNats,
  startNodes,
  writeSource,
} from './clusterHelpers.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const greet = (v) =>
  `export const vsn = 'v${v}';\nexport function hello(): string { return 'hello v${v}'; }\n`;

/** Runs the CLI; a run that does not end within `timeout` is killed and fails with what it printed. */
function hotcode(args, { cwd, env = {}, timeout = 60_000 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `hotcode ${args.join(' ')} did not end in ${timeout} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, timeout);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe(
  'S11.2 hotcode deploy|rollback|nodes --cluster',
  { timeout: 120_000, skip: natsMissing },
  () => {
    let nats;
    let nodes;
    const p = deployProject({ 'greet.ts': greet(1) });
    const creds = { HOTCODE_NATS_USER: 'ops', HOTCODE_NATS_PASS: 'secret' };
    const run = (...args) => hotcode(args, { cwd: p.dir, env: creds });
    before(async () => {
      nats = await startNats({ user: 'ops', pass: 'secret' });
      nodes = await startNodes(nats, 2, { prefix: 'web', creds: { user: 'ops', pass: 'secret' } });
    });
    after(async () => {
      for (const n of nodes ?? []) await n.kill();
      await nats?.close();
      rmSync(p.dir, { recursive: true, force: true });
    });

    it('deploy: one line per node and a summary, exit 0', async () => {
      const r = await run('deploy', '--cluster', nats.url, 'greet');
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.match(lines[0], /^web-1: release 1, prepared in \d+ ms, switched at \+\d+\.\d\d s$/);
      assert.match(lines[1], /^web-2: release 1, /);
      assert.match(lines[2], /^release 1 on 2 nodes, switched within \d+\.\d\d s \(greet\)$/);
    });

    it('deploy with no modules: the ones whose source differs from the release; nodes lists them', async () => {
      writeSource(p, 'greet.ts', greet(2));
      const r = await run('deploy', '--cluster', nats.url, '--timeout', '5');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /release 2 on 2 nodes, switched within [\d.]+ s \(greet\)/);
      const same = await run('deploy', '--cluster', nats.url);
      assert.equal(same.status, 0);
      assert.match(same.stdout, /nothing to deploy/);
      const n = await run('nodes', '--cluster', nats.url);
      assert.equal(n.status, 0, n.stderr);
      assert.match(n.stdout, /^group default: release 2 \(parent 1\) by /);
      assert.match(
        n.stdout,
        /\nweb-1 {2}release 2 {2}live, heartbeat \d+\.\d\d s ago, pid \d+ on /,
      );
      assert.match(n.stdout, /\nweb-2 {2}release 2 {2}live/);
    });

    it('rollback: every node back on the parent, exit 0', async () => {
      const r = await run('rollback', '--cluster', nats.url);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^web-1: release 1,/m);
      assert.match(r.stdout, /rolled back to release 1 \(from 2\) on 2 nodes, switched within/);
    });

    it('a refusal on the nodes: each node says why, the deploy is aborted, exit 1', async () => {
      writeSource(p, 'greet.ts', greet(3));
      const r = await run('deploy', '--cluster', nats.url, '--change', 'nosuch:greet', 'greet');
      assert.equal(r.status, 1);
      assert.match(r.stdout, /^web-\d: refused — noproc: no server nosuch runs on this node$/m);
      assert.match(r.stderr, /deploy of release \d+ aborted: .*nothing changed/);
      const n = await run('nodes', '--cluster', nats.url);
      assert.match(n.stdout, /^group default: release 1 /);
    });

    it('a module that does not type-check: diagnostics, exit 1, nothing uploaded', async () => {
      writeSource(p, 'greet.ts', 'export function hello(): string { return 42; }\n');
      const r = await run('deploy', '--cluster', nats.url, 'greet');
      assert.equal(r.status, 1);
      assert.match(r.stderr, /src\/greet\.ts:1:\d+ - error TS2322/);
      assert.match(r.stderr, /nothing was uploaded, no node changed/);
    });

    it('an empty group, an unreachable NATS, wrong credentials: a clear message, exit 1', async () => {
      const empty = await run('deploy', '--cluster', nats.url, '--group', 'none', 'greet');
      assert.equal(empty.status, 1);
      assert.match(empty.stderr, /group 'none' has no live nodes on nats:\/\/127\.0\.0\.1:\d+/);
      const down = await run('deploy', '--cluster', 'nats://127.0.0.1:1', 'greet');
      assert.equal(down.status, 1);
      assert.match(down.stderr, /cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
      const auth = await hotcode(['nodes', '--cluster', nats.url], {
        cwd: p.dir,
        env: { HOTCODE_NATS_USER: 'ops', HOTCODE_NATS_PASS: 'guess' },
      });
      assert.equal(auth.status, 1);
      assert.match(auth.stderr, /refused the credentials/);
      assert.doesNotMatch(auth.stderr, /guess/);
      const usage = await run('deploy', '--cluster', nats.url, '--timeout', 'soon');
      assert.equal(usage.status, 1);
      assert.match(usage.stderr, /--timeout takes seconds/);
    });
  },
);

describe(
  'S11.1 "cluster" in hotcode.config.json: hotcode run joins the group',
  { timeout: 60_000, skip: natsMissing },
  () => {
    let nats;
    let child;
    const p = deployProject({
      'svc.ts':
        "import { receive } from 'hotcode';\nexport async function main(): Promise<void> { await receive(); }\n",
      'extra.ts': "export const vsn = 'x1';\n",
    });
    before(async () => {
      nats = await startNats();
    });
    after(async () => {
      if (child && child.exitCode === null) {
        const exited = once(child, 'exit');
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
      await nats?.close();
      rmSync(p.dir, { recursive: true, force: true });
    });

    it('the node joins at start and switches with the group', async () => {
      writeFileSync(
        join(p.dir, 'hotcode.config.json'),
        JSON.stringify({ src: 'src', out: 'ebin', cluster: { servers: nats.url, group: 'cfg' } }),
      );
      const nc = await connect({ servers: nats.url });
      try {
        const kv = await new Kvm(jetstream(nc)).create('hotcode');
        const presence = await kv.watch({ key: 'cfg.node.*' });
        child = spawn(process.execPath, [CLI, 'run', 'svc', 'main'], {
          cwd: p.dir,
          stdio: 'ignore',
        });
        for await (const e of presence) {
          if (e.operation === 'PUT' && e.json().pid === child.pid) break;
        }
        presence.stop();
        const r = await hotcode(['deploy', '--cluster', nats.url, '--group', 'cfg', 'extra'], {
          cwd: p.dir,
        });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /release 1 on 1 node, switched within/);
        const cur = await kv.get('cfg.current');
        assert.equal(cur.json().release, 1);
      } finally {
        await nc.close();
      }
    });
  },
);
