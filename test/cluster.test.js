// S11.1–S11.3: a group of nodes (child processes) on a real nats-server,
// deployed to with connectCluster: joining, releases in the bucket, objects
// by hash, deploy and rollback, a release upgrade, two deploys at once, and
// the bad input of S11.2 (unreachable NATS, wrong credentials, an empty
// group, a change that does not type-check, a damaged object).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { code, connectCluster, start, stop } from '../dist/index.js';
import {
  deployProject,
  natsMissing,
  releasesOf,
  startNats,
  startNode,
  startNodes,
  writeSource,
} from './clusterHelpers.js';
import { project } from './helpers.js';

const greet = (v) =>
  `export const vsn = 'v${v}';\nexport function hello(): string { return 'hello v${v}'; }\n`;
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

/** The raw JetStream view of the group, for checking what is stored. */
async function rawStore(nats) {
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const kv = await new Kvm(js).open('hotcode');
  const os = await new Objm(js).open('hotcode_objects');
  const json = async (k) => {
    const e = await kv.get(k);
    return e && e.operation === 'PUT' ? e.json() : undefined;
  };
  return { nc, kv, os, json, close: () => nc.close() };
}

async function hellos(nodes) {
  return Promise.all(
    nodes.map(async (n) => (await n.request('call', { module: 'greet', fn: 'hello' })).value),
  );
}

describe('S11 a group of three nodes', { timeout: 120_000, skip: natsMissing }, () => {
  let nats;
  let nodes;
  let client;
  let raw;
  const p = deployProject({ 'greet.ts': greet(1) });
  before(async () => {
    nats = await startNats();
    nodes = await startNodes(nats, 3);
    client = await connectCluster({ servers: nats.url });
    raw = await rawStore(nats);
  });
  after(async () => {
    await client?.close();
    await raw?.close();
    for (const n of nodes ?? []) await n.kill();
    await nats?.close();
    rmSync(p.dir, { recursive: true, force: true });
  });

  it('S11.1 nodes record their presence; nodes() lists them, live, on no release yet', async () => {
    const list = await client.nodes();
    assert.deepEqual(
      list.map((n) => [n.name, n.release, n.live]),
      [
        ['node-1', null, true],
        ['node-2', null, true],
        ['node-3', null, true],
      ],
    );
    assert.equal(await client.current(), undefined);
  });

  it('S11.2 a deploy switches every live node to the same release, one line per node', async () => {
    const r = await client.deploy(['greet'], { root: p.dir, src: p.src });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.release, 1);
    assert.equal(r.from, null);
    assert.deepEqual(r.modules, ['greet']);
    assert.deepEqual(
      r.nodes.map((n) => [n.name, n.result]),
      [
        ['node-1', 'switched'],
        ['node-2', 'switched'],
        ['node-3', 'switched'],
      ],
    );
    assert.ok(r.switchedWithinMs >= 0);
    assert.deepEqual(await releasesOf(nodes), [1, 1, 1]);
    assert.deepEqual(await hellos(nodes), ['hello v1', 'hello v1', 'hello v1']);
  });

  it('S11.1 releases and current live in the bucket; object files in the store, named by their SHA-256', async () => {
    const cur = await raw.json('default.current');
    assert.equal(cur.release, 1);
    const rel = await raw.json('default.release.1');
    assert.equal(rel.id, 1);
    assert.equal(rel.parent, null);
    assert.deepEqual(rel.changed, ['greet']);
    assert.equal(typeof rel.by, 'string');
    assert.equal(typeof rel.at, 'number');
    const hash = rel.modules.greet.hash;
    const bytes = await raw.os.getBlob(hash);
    assert.equal(sha256(bytes), hash);
    assert.match(Buffer.from(bytes).toString(), /hello v1/);
  });

  it('S11.3 after a deploy settles every live node runs the same release (a second deploy)', async () => {
    writeSource(p, 'greet.ts', greet(2));
    const r = await client.deploy([], { root: p.dir, src: p.src });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.release, 2);
    assert.equal(r.from, 1);
    assert.deepEqual(await releasesOf(nodes), [2, 2, 2]);
    assert.deepEqual(await hellos(nodes), ['hello v2', 'hello v2', 'hello v2']);
    const again = await client.deploy([], { root: p.dir, src: p.src });
    assert.equal(again.error, 'unchanged');
  });

  it('S11.1 a node started later loads the current release before start resolves', async () => {
    const late = await startNode(nats, { name: 'late' });
    try {
      assert.equal(late.ready.state.release, 2);
      assert.equal(late.ready.vsns.greet, 'v2');
    } finally {
      await late.stop();
    }
    // A clean stop leaves the group at once.
    assert.deepEqual(
      (await client.nodes()).map((n) => n.name),
      ['node-1', 'node-2', 'node-3'],
    );
  });

  it('S11.3 a rollback returns every node to the parent release', async () => {
    const r = await client.rollback();
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.kind, 'rollback');
    assert.equal(r.release, 1);
    assert.equal(r.from, 2);
    assert.deepEqual(await releasesOf(nodes), [1, 1, 1]);
    assert.deepEqual(await hellos(nodes), ['hello v1', 'hello v1', 'hello v1']);
    assert.equal((await client.current()).release, 1);
    const first = await client.rollback();
    assert.equal(first.error, 'no_parent');
    assert.match(first.message, /release 1 is the group's first/);
  });

  it('S11.3 two deploys at once: one wins, the other fails with conflict and changes nothing', async () => {
    const other = await connectCluster({ servers: nats.url });
    try {
      const q = deployProject({ 'greet.ts': greet(3) });
      const s = deployProject({ 'greet.ts': greet(4) });
      // Both have read `current` and planned before either claims the group.
      let arrived = 0;
      let release;
      const barrier = new Promise((r) => {
        release = r;
      });
      const meet = async (e) => {
        if (e.phase !== 'planned') return;
        if (++arrived === 2) release();
        await barrier;
      };
      const [a, b] = await Promise.all([
        client.deploy(['greet'], { root: q.dir, src: q.src, onPhase: meet }),
        other.deploy(['greet'], { root: s.dir, src: s.src, onPhase: meet }),
      ]);
      const results = [a, b];
      const won = results.filter((r) => r.ok);
      const lost = results.filter((r) => r.error === 'conflict');
      assert.equal(won.length, 1, JSON.stringify(results));
      assert.equal(lost.length, 1, JSON.stringify(results));
      assert.match(lost[0].message, /nothing changed/);
      const winner = a.ok ? 'hello v3' : 'hello v4';
      assert.deepEqual(await hellos(nodes), [winner, winner, winner]);
      assert.deepEqual(await releasesOf(nodes), [won[0].release, won[0].release, won[0].release]);
      assert.equal((await client.current()).release, won[0].release);
      rmSync(q.dir, { recursive: true, force: true });
      rmSync(s.dir, { recursive: true, force: true });
    } finally {
      await other.close();
    }
  });

  it('S11.2 a module that does not type-check: diagnostics, nothing uploaded, no node changed', async () => {
    const before = (await raw.os.list()).length;
    const cur = (await client.current()).release;
    writeSource(
      p,
      'greet.ts',
      "export const vsn = 'bad';\nexport function hello(): string { return 42; }\n",
    );
    const r = await client.deploy(['greet'], { root: p.dir, src: p.src });
    assert.equal(r.error, 'compile');
    assert.match(r.diagnostics[0].message, /not assignable to type 'string'/);
    assert.equal(r.diagnostics[0].line, 2);
    writeSource(p, 'greet.ts', 'export function hello( {\n');
    const syntax = await client.deploy(['greet'], { root: p.dir, src: p.src, typecheck: false });
    assert.equal(syntax.error, 'compile');
    assert.equal((await raw.os.list()).length, before);
    assert.equal((await client.current()).release, cur);
    assert.deepEqual(await releasesOf(nodes), [cur, cur, cur]);
    const missing = await client.deploy(['nosuch'], { root: p.dir, src: p.src });
    assert.equal(missing.error, 'nofile');
  });

  it('S11.2 type-checks against the sources of the current release, not the disk', async () => {
    const q = deployProject({
      'lib.ts': 'export function twice(n: number): number { return 2 * n; }\n',
      'useLib.ts':
        "import { twice } from './lib';\nexport function four(): number { return twice(2); }\n",
    });
    const ok = await client.deploy(['lib', 'useLib'], { root: q.dir, src: q.src });
    assert.equal(ok.ok, true, JSON.stringify(ok));
    // useLib's source is gone from this machine; the release still records it.
    rmSync(`${q.src}/useLib.ts`);
    writeSource(q, 'lib.ts', 'export function twice(n: string): string { return n + n; }\n');
    const r = await client.deploy(['lib'], { root: q.dir, src: q.src });
    assert.equal(r.error, 'compile', JSON.stringify(r));
    assert.match(r.diagnostics.map((d) => `${d.file} ${d.message}`).join('\n'), /useLib/);
    assert.equal((await client.current()).release, ok.release);
    rmSync(q.dir, { recursive: true, force: true });
  });

  it('S11.2 a damaged object in the store is refused by hash on every node; the deploy aborts', async () => {
    const cur = (await client.current()).release;
    writeSource(p, 'greet.ts', greet(5));
    const r = await client.deploy(['greet'], {
      root: p.dir,
      src: p.src,
      onPhase: async (e) => {
        // Between upload and prepare: the store's copy is replaced by other bytes.
        if (e.phase === 'uploaded')
          for (const o of e.objects)
            await raw.os.putBlob({ name: o.hash }, new TextEncoder().encode('//hotcode damaged\n'));
      },
    });
    assert.equal(r.error, 'aborted', JSON.stringify(r));
    assert.ok(r.nodes.some((n) => n.result === 'refused' && n.error === 'hash'));
    for (const n of r.nodes) assert.notEqual(n.result, 'switched');
    assert.match(r.message, /hash/);
    assert.equal((await client.current()).release, cur);
    assert.deepEqual(await releasesOf(nodes), [cur, cur, cur]);
    assert.notEqual((await hellos(nodes))[0], 'hello v5');
  });

  it('S11.2 an empty group: a clear error, nothing written', async () => {
    const empty = await connectCluster({ servers: nats.url, group: 'nobody' });
    try {
      const r = await empty.deploy(['greet'], { root: p.dir, src: p.src });
      assert.equal(r.error, 'empty');
      assert.match(r.message, /group 'nobody' has no live nodes/);
      assert.equal(await raw.json('nobody.deploy'), undefined);
      assert.equal(await raw.json('nobody.release.1'), undefined);
      assert.equal((await empty.rollback()).error, 'no_parent');
    } finally {
      await empty.close();
    }
  });
});

describe(
  'S11.2 a release upgrade across the group (S8.4)',
  { timeout: 120_000, skip: natsMissing },
  () => {
    const counter = (v, body) => `import { genServer, type From } from 'hotcode';
export const vsn = 'c${v}';
export function startServer() { return genServer.start('counter', 0, { name: 'counter' }).then(String); }
export function init(n: number) { return n; }
${body}
export function bump() { return genServer.call('counter', 'bump'); }
`;
    const v1 = counter(
      1,
      `export function handleCall(_r: 'bump', _f: From, n: number) { return { reply: n + 1, state: n + 1 }; }`,
    );
    const v2 = counter(
      2,
      `type S = { count: number; by: string };
export function handleCall(_r: 'bump', _f: From, s: S) { const n = { count: s.count + 1, by: 'c2' }; return { reply: n, state: n }; }
export function codeChange(old: string | undefined, n: number) { return old === 'c1' ? { count: n, by: 'c2' } : n; }`,
    );
    const v3 = counter(
      3,
      `type S = { count: number; by: string };
export function handleCall(_r: 'bump', _f: From, s: S) { return { reply: s, state: s }; }
export function codeChange(old: string | undefined) { throw new Error('c3 cannot migrate ' + old); }`,
    );
    let nats;
    let nodes;
    let client;
    const p = deployProject({ 'counter.ts': v1 });
    before(async () => {
      nats = await startNats();
      nodes = await startNodes(nats, 2, { prefix: 'up' });
      client = await connectCluster({ servers: nats.url, group: 'default' });
    });
    after(async () => {
      await client?.close();
      for (const n of nodes ?? []) await n.kill();
      await nats?.close();
      rmSync(p.dir, { recursive: true, force: true });
    });

    it('change specs migrate the server state on every node as it switches', async () => {
      const r1 = await client.deploy(['counter'], { root: p.dir, src: p.src });
      assert.equal(r1.ok, true, JSON.stringify(r1));
      for (const n of nodes) await n.request('call', { module: 'counter', fn: 'startServer' });
      for (const n of nodes) await n.request('call', { module: 'counter', fn: 'bump' });
      writeSource(p, 'counter.ts', v2);
      const r2 = await client.deploy(['counter'], {
        root: p.dir,
        src: p.src,
        change: [{ server: 'counter', module: 'counter' }],
      });
      assert.equal(r2.ok, true, JSON.stringify(r2));
      for (const n of nodes)
        assert.deepEqual((await n.request('call', { module: 'counter', fn: 'bump' })).value, {
          count: 2,
          by: 'c2',
        });
    });

    it('a release whose codeChange fails on the nodes after commit: the group goes back to the parent', async () => {
      const before = (await client.current()).release;
      writeSource(p, 'counter.ts', v3);
      const r = await client.deploy(['counter'], {
        root: p.dir,
        src: p.src,
        change: [{ server: 'counter', module: 'counter' }],
      });
      assert.equal(r.error, 'failed', JSON.stringify(r));
      assert.equal(r.rolledBack, true);
      assert.match(r.message, /code_change_failed/);
      assert.equal((await client.current()).release, before);
      assert.deepEqual(await releasesOf(nodes), [before, before]);
      for (const n of nodes)
        assert.deepEqual((await n.request('call', { module: 'counter', fn: 'bump' })).value, {
          count: 3,
          by: 'c2',
        });
    });

    it('one node refuses in prepare while the other can prepare: aborted on both, neither changed', async () => {
      const before = (await client.current()).release;
      const [up1, up2] = nodes;
      // up-2 no longer runs the server the release migrates: it cannot prepare the change
      await up2.request('call', { module: 'genServer', fn: 'stop', args: ['counter'] });
      writeSource(p, 'counter.ts', v2.replace("vsn = 'c2'", "vsn = 'c4'"));
      const r = await client.deploy(['counter'], {
        root: p.dir,
        src: p.src,
        change: [{ server: 'counter', module: 'counter' }],
      });
      assert.equal(r.error, 'aborted', JSON.stringify(r));
      const by = Object.fromEntries(r.nodes.map((n) => [n.name, n]));
      // the first refusal aborts the deploy: up-1 had voted yes (dropped) or not yet (missing)
      assert.ok(['dropped', 'missing'].includes(by['up-1'].result), by['up-1'].result);
      assert.equal(by['up-2'].result, 'refused');
      assert.equal(by['up-2'].error, 'noproc');
      assert.equal((await client.current()).release, before);
      assert.deepEqual(await releasesOf(nodes), [before, before]);
      assert.equal((await up1.request('state')).vsns.counter, 'c2');
      assert.deepEqual((await up1.request('call', { module: 'counter', fn: 'bump' })).value, {
        count: 4,
        by: 'c2',
      });
    });
  },
);

describe('S11.1 nodes() while the nodes beat', { timeout: 120_000, skip: natsMissing }, () => {
  let nats;
  let client;
  let raw;
  before(async () => {
    nats = await startNats();
    client = await connectCluster({ servers: nats.url, group: 'busy' });
    raw = await rawStore(nats);
  });
  after(async () => {
    await client?.close();
    await raw?.close();
    await nats?.close();
  });

  // A listing that waits for the presence keys to stop changing never ends on a busy
  // group (nodes rewrite them every beat; `hotcode nodes` once hung in CI that way).
  it('lists every node even while their presence keys are rewritten without pause', async () => {
    const presence = (name, beat) => ({
      name,
      host: 'test',
      pid: 1,
      release: null,
      heartbeat: Date.now(),
      every: 1000,
      since: 0,
      beat,
      inUse: [],
    });
    const put = (name, beat) =>
      raw.kv.put(`busy.node.${name}`, JSON.stringify(presence(name, beat)));
    await Promise.all([put('a', 0), put('b', 0)]);
    let writing = true;
    const writers = ['a', 'b'].map(async (name) => {
      for (let beat = 1; writing; beat++) await put(name, beat);
    });
    try {
      for (let i = 0; i < 40; i++) {
        let timer;
        const late = new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`nodes() call ${i} did not answer in 4 s`)),
            4000,
          );
        });
        const list = await Promise.race([client.nodes(), late]).finally(() => clearTimeout(timer));
        assert.deepEqual(
          list.map((n) => n.name),
          ['a', 'b'],
        );
      }
    } finally {
      writing = false;
      await Promise.all(writers);
    }
  });
});

describe(
  'S11.2 bad input: unreachable NATS, wrong credentials',
  { timeout: 60_000, skip: natsMissing },
  () => {
    let nats;
    before(async () => {
      nats = await startNats({ user: 'hot', pass: 'code' });
    });
    after(() => nats?.close());

    it('unreachable NATS: nodedown, with the URL', async () => {
      await nats.stop();
      try {
        await assert.rejects(connectCluster({ servers: nats.url }), (e) => {
          assert.equal(e.code, 'nodedown');
          assert.ok(e.message.includes(nats.url), e.message);
          return true;
        });
      } finally {
        await nats.start();
      }
    });

    it('wrong credentials: auth; right ones connect', async () => {
      await assert.rejects(
        connectCluster({ servers: nats.url, user: 'hot', pass: 'wrong' }),
        (e) => e.code === 'auth' && !e.message.includes('wrong'),
      );
      const c = await connectCluster({ servers: nats.url, user: 'hot', pass: 'code' });
      assert.deepEqual(await c.nodes(), []);
      await c.close();
    });

    it('a node whose NATS is unreachable or refuses it does not start (and starts later without a cluster)', async () => {
      const q = project();
      await assert.rejects(
        start({ out: q.out, src: [q.src], cluster: { servers: 'nats://127.0.0.1:1' } }),
        (e) => e.code === 'nodedown' && e.message.includes('nats://127.0.0.1:1'),
      );
      await assert.rejects(
        start({ out: q.out, src: [q.src], cluster: { servers: nats.url, user: 'hot', pass: 'x' } }),
        (e) => e.code === 'auth',
      );
      await assert.rejects(
        start({ out: q.out, src: [q.src], cluster: { servers: [] } }),
        (e) => e.code === 'badarg',
      );
      await start({ out: q.out, src: [q.src] });
      assert.deepEqual(
        code.allLoaded().filter(([m]) => !code.isSticky(m)),
        [],
      );
      await stop();
    });

    it('a node that joins with the right credentials is listed', async () => {
      const n = await startNode(nats, { name: 'authed', creds: { user: 'hot', pass: 'code' } });
      const c = await connectCluster({ servers: nats.url, user: 'hot', pass: 'code' });
      try {
        assert.deepEqual(
          (await c.nodes()).map((x) => x.name),
          ['authed'],
        );
      } finally {
        await c.close();
        await n.stop();
      }
    });
  },
);

describe(
  'S11.2 the transition check sees the versions the nodes’ processes run (S6.2)',
  {
    timeout: 120_000,
    skip: natsMissing,
  },
  () => {
    let nats;
    let node;
    let client;
    const lib1 = 'export function f(n: number): number { return n + 1; }\n';
    const worker1 = `import { receive, spawn } from 'hotcode';
import { f } from './lib';
export const vsn = 'w1';
export function start(): string { return String(spawn(loop)); }
async function loop(): Promise<void> { const n = (await receive()) as number; f(n); }
`;
    const p = deployProject({ 'lib.ts': lib1, 'worker.ts': worker1 });
    before(async () => {
      nats = await startNats();
      node = await startNode(nats, { name: 'tn-1' });
      client = await connectCluster({ servers: nats.url });
    });
    after(async () => {
      await client?.close();
      await node?.kill();
      await nats?.close();
    });

    it('an old version in use on a node that the change would break: refused, naming it and its users', async () => {
      assert.equal((await client.deploy(['lib', 'worker'], { root: p.dir, src: p.src })).ok, true);
      const { value: pid } = await node.request('call', { module: 'worker', fn: 'start' });
      // worker v2 no longer calls f; the process stays in v1, now the old version.
      writeSource(p, 'worker.ts', "export const vsn = 'w2';\n");
      assert.equal((await client.deploy(['worker'], { root: p.dir, src: p.src })).ok, true);
      // lib's new signature is fine for every current version, not for worker v1 in use.
      writeSource(p, 'lib.ts', 'export function f(n: string): string { return n; }\n');
      const r = await client.deploy(['lib'], { root: p.dir, src: p.src });
      assert.equal(r.error, 'compile', JSON.stringify(r));
      const d = r.diagnostics.find((x) => x.transition !== undefined);
      assert.ok(d, JSON.stringify(r.diagnostics));
      assert.match(d.transition, new RegExp(`used by ${pid.replace(/[<>.]/g, '\\$&')}@tn-1`));
      assert.deepEqual(r.oldUsers, [{ module: 'worker', pids: [`${pid}@tn-1`] }]);
      assert.equal((await client.current()).release, 2);
    });
  },
);
