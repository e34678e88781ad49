// S11.3 under faults, with real child-process nodes and a real nats-server:
// a node killed during prepare (the deploy aborts, or with allowMissing goes
// on without it; the node catches up when restarted), a node down during a
// deploy (it catches up at start), nats-server restarted during a deploy
// (the group converges on `current`). Nodes hold their change queue on
// request ("block"), so a test acts between two phases deterministically.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { connectCluster } from '../dist/index.js';
import {
  deployProject,
  natsMissing,
  releasesOf,
  startNats,
  startNode,
  startNodes,
  writeSource,
} from './clusterHelpers.js';

const greet = (v) =>
  `export const vsn = 'v${v}';\nexport function hello(): string { return 'hello v${v}'; }\n`;

/** Resolves when `node` runs `release` (asking it, then waiting for what it reports). */
async function runs(node, release) {
  for (;;) {
    const changed = new Promise((resolve) => {
      const done = () => {
        for (const ev of ['switched', 'caught-up', 'dropped', 'failed']) node.events.off(ev, done);
        resolve();
      };
      for (const ev of ['switched', 'caught-up', 'dropped', 'failed']) node.events.on(ev, done);
    });
    if ((await node.state()).state.release === release) return;
    await changed;
  }
}

/** A group of three nodes on its own nats-server, with release 1 (greet v1) deployed. */
function group(prefix) {
  const g = { p: deployProject({ 'greet.ts': greet(1) }) };
  before(async () => {
    g.nats = await startNats();
    g.nodes = await startNodes(g.nats, 3, { prefix });
    g.client = await connectCluster({ servers: g.nats.url });
    const r = await g.client.deploy(['greet'], { root: g.p.dir, src: g.p.src });
    assert.equal(r.ok, true, JSON.stringify(r));
  });
  after(async () => {
    await g.client?.close();
    for (const n of g.nodes ?? []) await n.kill();
    await g.nats?.close();
    rmSync(g.p.dir, { recursive: true, force: true });
  });
  return g;
}

describe('S11.3 a node killed during prepare', { timeout: 120_000, skip: natsMissing }, () => {
  const g = group('k');

  it('the deploy aborts, nothing changes on the others, and the node catches up when restarted', async () => {
    const [a, b, victim] = g.nodes;
    // The victim cannot vote: its queue is held; it is killed once the prepare phase began.
    await victim.request('block');
    writeSource(g.p, 'greet.ts', greet(2));
    const r = await g.client.deploy(['greet'], {
      root: g.p.dir,
      src: g.p.src,
      timeoutMs: 8000,
      onPhase: async (e) => {
        if (e.phase === 'prepare') await victim.kill();
      },
    });
    assert.equal(r.error, 'aborted', JSON.stringify(r));
    assert.match(r.message, /k-3 did not vote/);
    assert.equal(r.nodes.find((n) => n.name === 'k-3').result, 'missing');
    assert.equal((await g.client.current()).release, 1);
    assert.deepEqual(await releasesOf([a, b]), [1, 1]);
    const back = await startNode(g.nats, { name: 'k-3', out: victim.out });
    g.nodes[2] = back;
    assert.equal(back.ready.state.release, 1);
    assert.equal(back.ready.vsns.greet, 'v1');
  });

  it('with allowMissing it goes on without the node, which catches up at restart', async () => {
    const [a, b, victim] = g.nodes;
    await victim.request('block');
    const r = await g.client.deploy(['greet'], {
      root: g.p.dir,
      src: g.p.src,
      timeoutMs: 8000,
      allowMissing: true,
      onPhase: async (e) => {
        if (e.phase === 'prepare') await victim.kill();
      },
    });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(r.missing, ['k-3']);
    assert.deepEqual(await releasesOf([a, b]), [r.release, r.release]);
    const back = await startNode(g.nats, { name: 'k-3', out: victim.out });
    g.nodes[2] = back;
    assert.equal(back.ready.state.release, r.release);
    assert.equal(back.ready.vsns.greet, 'v2');
  });

  it('a node that was down during a deploy catches up at start', async () => {
    const [a, b, down] = g.nodes;
    await down.stop();
    writeSource(g.p, 'greet.ts', greet(3));
    const r = await g.client.deploy(['greet'], { root: g.p.dir, src: g.p.src });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(
      r.nodes.map((n) => n.name),
      ['k-1', 'k-2'],
    );
    assert.deepEqual(await releasesOf([a, b]), [r.release, r.release]);
    const back = await startNode(g.nats, { name: 'k-3', out: down.out });
    g.nodes[2] = back;
    assert.equal(back.ready.state.release, r.release);
    assert.equal(back.ready.vsns.greet, 'v3');
  });
});

describe(
  'S11.3 nats-server restarted during a deploy',
  { timeout: 120_000, skip: natsMissing },
  () => {
    const g = group('r');

    async function converged() {
      const c = await connectCluster({ servers: g.nats.url });
      try {
        const cur = (await c.current()).release;
        await Promise.all(g.nodes.map((n) => runs(n, cur)));
        const vsns = await Promise.all(g.nodes.map(async (n) => (await n.state()).vsns.greet));
        return { cur, vsns };
      } finally {
        await c.close();
      }
    }

    it('restarted in the prepare phase: the group converges on current', async () => {
      const held = g.nodes[2];
      await held.request('block');
      writeSource(g.p, 'greet.ts', greet(2));
      const r = await g.client
        .deploy(['greet'], {
          root: g.p.dir,
          src: g.p.src,
          timeoutMs: 4000,
          onPhase: async (e) => {
            if (e.phase === 'prepare') {
              await g.nats.restart();
              await held.request('unblock');
            }
          },
        })
        .catch((e) => ({ thrown: e }));
      const { cur, vsns } = await converged();
      assert.deepEqual(await releasesOf(g.nodes), [cur, cur, cur]);
      const want = cur === 1 ? 'v1' : 'v2';
      assert.deepEqual(vsns, [want, want, want]);
      if (r.ok) assert.equal(cur, r.release);
    });

    it('restarted just after the commit: every node ends on the new release', async () => {
      writeSource(g.p, 'greet.ts', greet(3));
      const r = await g.client
        .deploy(['greet'], {
          root: g.p.dir,
          src: g.p.src,
          timeoutMs: 4000,
          onPhase: async (e) => {
            if (e.phase === 'commit') await g.nats.restart();
          },
        })
        .catch((e) => ({ thrown: e }));
      const { cur, vsns } = await converged();
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(cur, r.release);
      assert.deepEqual(vsns, ['v3', 'v3', 'v3']);
    });
  },
);
