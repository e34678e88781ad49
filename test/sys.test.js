// S8.2 sys: suspend, resume, changeCode, getState, getStatus (and replaceState).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { c, genServer, processInfo, setLogger, start, stop, sys } from '../dist/index.js';
import {
  behavioursProject,
  observer,
  quietLogger,
  useBehaviourFixture,
} from './behavioursHelpers.js';

const p = behavioursProject({ 'counter.ts': 'counter_v1.ts', 'plain.ts': 'plain_v1.ts' });
let obs;
before(async () => {
  await start({ src: p.src, out: p.out, typecheck: false });
  setLogger(quietLogger());
  assert.deepEqual(await c('counter'), { module: 'counter' });
  assert.deepEqual(await c('plain'), { module: 'plain' });
  obs = observer();
});
after(() => stop());

describe('S8.2 sys', () => {
  it('getState and getStatus (with the registered name)', async () => {
    const pid = await genServer.start('counter', 3, { name: 'st' });
    assert.equal(await sys.getState('st'), 3);
    assert.deepEqual(await sys.getStatus(pid), {
      status: 'running',
      module: 'counter',
      state: 3,
      pid,
      name: 'st',
    });
    const anon = await genServer.start('counter', 1);
    assert.deepEqual(await sys.getStatus(anon), {
      status: 'running',
      module: 'counter',
      state: 1,
      pid: anon,
    });
    await genServer.stop(pid);
    await genServer.stop(anon);
  });

  it('a suspended server handles only system requests; calls wait until resume, in order', async () => {
    const pid = await genServer.start('counter', 0);
    await sys.suspend(pid);
    assert.equal(processInfo(pid).status, 'suspended');
    assert.equal((await sys.getStatus(pid)).status, 'suspended');
    const first = genServer.call(pid, { op: 'add', by: 1 });
    const second = genServer.call(pid, { op: 'add', by: 10 });
    await assert.rejects(genServer.call(pid, { op: 'get' }, 10), (e) => e.code === 'timeout');
    assert.equal(await sys.getState(pid), 0, 'nothing handled while suspended');
    await sys.resume(pid);
    assert.deepEqual(await Promise.all([first, second]), [1, 11]);
    assert.equal((await sys.getStatus(pid)).status, 'running');
    assert.notEqual(processInfo(pid).status, 'suspended');
    await genServer.stop(pid);
  });

  it('changeCode outside a suspension → not_suspended, state untouched', async () => {
    const pid = await genServer.start('counter', 4);
    assert.deepEqual(await sys.changeCode(pid, 'counter', 'v1', 2), { error: 'not_suspended' });
    assert.equal(await sys.getState(pid), 4);
    await genServer.stop(pid);
  });

  it("changeCode runs the current version's codeChange(oldVsn, state, extra) and keeps its state", async () => {
    const pid = await genServer.start('counter', 4);
    useBehaviourFixture(p, 'counter_v2.ts', 'counter.ts');
    assert.deepEqual(await c('counter'), { module: 'counter' });
    await sys.suspend(pid);
    assert.deepEqual(await sys.changeCode(pid, 'counter', 'v1', 3), { ok: true });
    assert.ok(obs.seen.some((m) => m.codeChange === 'v1' && m.extra === 3));
    assert.equal(await sys.getState(pid), 12);
    await sys.resume(pid);
    assert.equal(await genServer.call(pid, { op: 'version' }), 2);
    await genServer.stop(pid);
  });

  it('a codeChange that throws: code_change_failed with the thrown value, state unchanged', async () => {
    const pid = await genServer.start('counter', 5);
    await sys.suspend(pid);
    const r = await sys.changeCode(pid, 'counter', 'v1', 'fail');
    assert.equal(r.error, 'code_change_failed');
    assert.equal(r.reason.message, 'codeChange refused');
    assert.equal(await sys.getState(pid), 5);
    await sys.resume(pid);
    assert.equal(await genServer.call(pid, { op: 'get' }), 5);
    await genServer.stop(pid);
    useBehaviourFixture(p, 'counter_v1.ts', 'counter.ts');
    assert.deepEqual(await c('counter'), { module: 'counter' });
  });

  it('a module without codeChange keeps its state', async () => {
    const state = { items: ['a'] };
    const pid = await genServer.start('plain', state);
    await sys.suspend(pid);
    assert.deepEqual(await sys.changeCode(pid, 'plain', 'p0', {}), { ok: true });
    assert.equal(await sys.getState(pid), state);
    await sys.resume(pid);
    await genServer.stop(pid);
  });

  it('replaceState replaces the state; a throwing function leaves it', async () => {
    const pid = await genServer.start('counter', 1);
    assert.equal(await sys.replaceState(pid, (n) => n + 41), 42);
    await assert.rejects(
      sys.replaceState(pid, () => {
        throw new Error('nope');
      }),
      /nope/,
    );
    assert.equal(await sys.getState(pid), 42);
    await genServer.stop(pid);
  });

  it('every sys call rejects noproc for a missing server and timeout for a busy one', async () => {
    for (const f of [sys.suspend, sys.resume, sys.getState, sys.getStatus])
      await assert.rejects(f('ghost'), (e) => e.code === 'noproc');
    await assert.rejects(sys.changeCode('ghost', 'counter', 'v1'), (e) => e.code === 'noproc');
    const pid = await genServer.start('counter', 0);
    const busy = genServer.call(pid, { op: 'sleep', ms: 200 });
    await assert.rejects(sys.getState(pid, 10), (e) => e.code === 'timeout');
    await assert.rejects(sys.suspend(pid, 10), (e) => e.code === 'timeout');
    assert.equal(await busy, 'slept');
    await genServer.stop(pid);
  });

  it('stop works on a suspended server', async () => {
    const pid = await genServer.start('counter', 0);
    await sys.suspend(pid);
    await genServer.stop(pid);
    assert.equal(processInfo(pid), undefined);
  });
});
