// S10.2 the node's side of the observer: what one snapshot says about the node
// (measured on the node itself), and the actions it carries out — each checked
// against the node as it is at that moment.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { changeHistory } from '../dist/changes.js';
import {
  c,
  code,
  compile,
  exit,
  genServer,
  isProcessAlive,
  monitor,
  processes,
  receive,
  register,
  run,
  send,
  setLogger,
  spawn,
  start,
  stop,
  supervisor,
} from '../dist/index.js';
import { act, collectSnapshot, subscribe } from '../dist/observe/index.js';
import { FIXTURES, project } from './helpers.js';

const p = project();
const put = (file, as) => copyFileSync(join(FIXTURES, 'observer', file), join(p.src, `${as}.ts`));

async function withOldUser(m) {
  put('room.v1.ts', m);
  assert.deepEqual(await c(m), { module: m });
  const pid = spawn(m, 'loop', [0]);
  put('room.v2.ts', m);
  assert.deepEqual(await c(m), { module: m });
  return pid;
}

const row = (s, m) => s.modules.find((x) => x.module === m);
const proc = (s, pid) => s.processes.rows.find((x) => x.pid === String(pid));

describe('the observer, node side (S10.2)', () => {
  before(async () => {
    await start({ root: p.dir, src: p.src, out: p.out, typecheck: false });
    setLogger({ error() {} });
    for (const m of ['worker', 'top_sup', 'inner_sup']) put(`${m}.ts`, m);
    assert.ok('modules' in (await c(['worker', 'top_sup', 'inner_sup'])));
  });
  after(() => stop());

  it('a snapshot names the node and its versions: current and old, the old one with its users', async () => {
    const pid = await withOldUser('snap_a');
    const s = await collectSnapshot('n1');
    assert.equal(s.node.name, 'n1');
    assert.equal(s.node.osPid, process.pid);
    assert.equal(s.node.nodeVersion, process.version);
    const r = row(s, 'snap_a');
    assert.equal(r.runtime, false);
    assert.equal(r.current.number, 2);
    assert.equal(r.current.vsn, 'room-2');
    assert.equal(r.old.number, 1);
    assert.deepEqual(r.old.users, [String(pid)]);
    assert.equal(r.old.userCount, 1);
    assert.equal(r.modified, false);
    assert.equal(row(s, 'genServer').runtime, true);
    const pr = proc(s, pid);
    assert.deepEqual(pr.modules, [{ module: 'snap_a', version: 'old' }]);
    assert.equal(pr.initialCall, 'snap_a.loop/1');
    assert.equal(pr.status, 'waiting');
    assert.equal(s.processes.total, processes().length);
    // The whole snapshot is JSON (it crosses a control connection and HTTP unchanged).
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
    exit(pid, 'kill');
  });

  it('processes come longest mailbox first, and a module whose object file changed is marked modified', async () => {
    put('room.v1.ts', 'snap_b');
    await c('snap_b');
    const quiet = spawn('snap_b', 'loop', [0]);
    const busy = spawn(async () => {
      await receive((m) => m === 'never');
    });
    for (let i = 0; i < 7; i++) send(busy, i);
    put('room.v2.ts', 'snap_b');
    await compile.file('snap_b');
    const s = await collectSnapshot('n1');
    assert.equal(s.processes.rows[0].pid, String(busy));
    assert.equal(s.processes.rows[0].messageQueueLen, 7);
    assert.equal(row(s, 'snap_b').modified, true);
    exit(quiet, 'kill');
    exit(busy, 'kill');
  });

  it('beyond the row limit: the longest mailboxes, then every process in old code and every supervisor', async () => {
    const old = await withOldUser('snap_h');
    const sup = await supervisor.start('top_sup', null);
    const busy = [3, 9, 5].map((n) => {
      const pid = spawn(async () => {
        await receive((m) => m === 'never');
      });
      for (let i = 0; i < n; i++) send(pid, i);
      return pid;
    });
    const s = await collectSnapshot('n1', { processLimit: 2 });
    assert.equal(s.processes.limit, 2);
    assert.equal(s.processes.total, processes().length);
    const shown = s.processes.rows.map((r) => r.pid);
    assert.deepEqual(shown.slice(0, 2), [String(busy[1]), String(busy[2])]);
    assert.ok(!shown.includes(String(busy[0])), 'the third longest is left out');
    assert.ok(shown.includes(String(old)), 'the process in old code is sent');
    assert.ok(shown.includes(String(sup)), 'the supervisor is sent');
    assert.ok(s.trees.some((t) => t.pid === String(sup)));
    for (const pid of [old, ...busy]) exit(pid, 'kill');
    await genServer.stop(sup);
  });

  it('the header samples: memory, event-loop delay and messages per second, measured on the node', async () => {
    const pid = await withOldUser('snap_c');
    await collectSnapshot('n1'); // starts the sampler
    // Messages flow for a little over a second, so that one full sample counts them.
    const first = (await collectSnapshot('n1')).samples.at(-1).seq;
    await run(async () => {
      const end = Date.now() + 1300;
      while (Date.now() < end) {
        for (let i = 0; i < 100; i++) send(pid, i);
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    const s = await collectSnapshot('n1', { since: first });
    assert.ok(s.samples.length >= 1, 'a sample a second');
    assert.ok(
      s.samples.every((x) => x.seq > first),
      'only the samples after `since`',
    );
    const last = s.samples.at(-1);
    assert.ok(last.heapUsed > 0 && last.rss >= last.heapUsed);
    assert.equal(typeof last.eldP50, 'number');
    assert.ok(last.eldP99 >= last.eldP50);
    assert.ok(last.messagesPerSec > 1000, `messages per second: ${last.messagesPerSec}`);
    assert.ok(last.processes >= 1);
    exit(pid, 'kill');
  });

  it('supervision trees: a supervisor with its children, a nested supervisor inside its parent', async () => {
    const sup = await supervisor.start('top_sup', null, { name: 'top_t' });
    const s = await collectSnapshot('n1');
    const tree = s.trees.find((t) => t.pid === String(sup));
    assert.equal(tree.name, 'top_t');
    assert.equal(tree.module, 'top_sup');
    assert.equal(tree.strategy, 'one_for_one');
    assert.deepEqual(
      tree.children.map((x) => x.id),
      ['alpha', 'beta', 'inner'],
    );
    const inner = tree.children.find((x) => x.id === 'inner');
    assert.equal(inner.tree.module, 'inner_sup');
    assert.deepEqual(
      inner.tree.children.map((x) => x.id),
      ['gamma'],
    );
    assert.ok(!s.trees.some((t) => t.pid === inner.pid), 'the nested one is not a root');
    assert.equal(tree.children[0].name, 'alpha');
    await genServer.stop(sup);
  });

  it('purge kills exactly the users it was confirmed for; another count is refused and changes nothing', async () => {
    const pid = await withOldUser('snap_d');
    const refused = act({ type: 'purge', module: 'snap_d', expect: 2 });
    assert.equal(refused.ok, false);
    assert.equal(refused.error, 'changed');
    assert.equal(refused.users, 1);
    assert.ok(isProcessAlive(pid));
    assert.ok(code.checkOldCode('snap_d'));
    const r = act({ type: 'purge', module: 'snap_d', expect: 1 });
    assert.deepEqual(r, { ok: true, type: 'purge', killed: [String(pid)] });
    assert.equal(isProcessAlive(pid), false);
    assert.equal(code.checkOldCode('snap_d'), false);
    // The history has the page's purge, and not the refused one.
    const purges = changeHistory().filter(
      (h) => h.modules[0].module === 'snap_d' && h.kind === 'purge',
    );
    assert.deepEqual(
      purges.map((h) => [h.origin, h.result, h.killed]),
      [['observer', 'ok', [String(pid)]]],
    );
  });

  it('soft purge changes nothing while the old version is used; kill; inspect with and without the mailbox', async () => {
    const pid = await withOldUser('snap_e');
    register('snap_e_proc', pid);
    assert.deepEqual(act({ type: 'softPurge', module: 'snap_e' }), {
      ok: true,
      type: 'softPurge',
      purged: false,
      users: 1,
    });
    assert.ok(code.checkOldCode('snap_e'));
    send(pid, { hello: 'world' }); // taken by the loop: it stays in v1 (a local call)
    const plain = act({ type: 'inspect', pid: String(pid) });
    assert.equal(plain.ok, true);
    assert.equal(plain.detail.name, 'snap_e_proc');
    assert.equal(plain.detail.mailbox, undefined, 'no mailbox unless asked for');
    const watcher = spawn(async () => {
      monitor(pid);
      await receive((m) => m === 'never');
    });
    send(watcher, 'queued one');
    const w = act({ type: 'inspect', pid: String(watcher), mailbox: true });
    assert.deepEqual(
      w.detail.monitors.map((m) => m.pid),
      [String(pid)],
    );
    assert.deepEqual(w.detail.mailbox, { total: 1, messages: ['queued one'] });
    const seen = act({ type: 'inspect', pid: String(pid) });
    assert.deepEqual(
      seen.detail.monitoredBy.map((m) => m.pid),
      [String(watcher)],
    );
    assert.deepEqual(act({ type: 'kill', pid: String(pid) }), {
      ok: true,
      type: 'kill',
      pid: String(pid),
    });
    assert.equal(isProcessAlive(pid), false);
    assert.equal(act({ type: 'kill', pid: String(pid) }).error, 'noproc');
    assert.equal(act({ type: 'inspect', pid: '<0.1.0>' }).error, 'noproc');
    assert.equal(act({ type: 'softPurge', module: 'no_such_module' }).error, 'badarg');
    assert.equal(act({ type: 'explode' }).error, 'badarg');
    exit(watcher, 'kill');
  });

  it('load brings in the newer object file, killing the users of the old version it purges', async () => {
    const pid = await withOldUser('snap_f');
    put('room.v3.ts', 'snap_f');
    await compile.file('snap_f');
    assert.equal(act({ type: 'load', module: 'snap_f', expect: 0 }).error, 'changed');
    assert.ok(isProcessAlive(pid));
    const r = act({ type: 'load', module: 'snap_f', expect: 1 });
    assert.deepEqual(r, { ok: true, type: 'load', number: 3, killed: [String(pid)] });
    assert.equal(code.versions('snap_f').current.vsn, 'room-3');
    const last = changeHistory().at(-1);
    assert.deepEqual(
      [last.origin, last.kind, last.modules, last.result, last.killed],
      ['observer', 'l', [{ module: 'snap_f', from: 2, to: 3 }], 'ok', [String(pid)]],
    );
  });

  it('a subscription sends everything first, then only new samples, and the history only when it changed', async () => {
    const got = [];
    let wake;
    const sub = subscribe('n1', {}, (s) => {
      got.push(s);
      wake?.();
      return true;
    });
    const next = () =>
      new Promise((r) => {
        wake = r;
      });
    while (got.length < 1) await next();
    assert.ok(got[0].history.length > 0, 'the first carries the history');
    const lastSeq = got[0].samples.at(-1).seq;
    await next();
    assert.equal(got[1].history, undefined, 'unchanged history is not sent again');
    assert.ok(got[1].samples.every((x) => x.seq > lastSeq));
    put('room.v1.ts', 'snap_g');
    await c('snap_g');
    sub.poke();
    const has = () => got.some((x) => x.history?.at(-1)?.modules[0]?.module === 'snap_g');
    while (!has()) await next();
    sub.close();
  });
});
