// S8.3 supervisor: strategies, restart types, shutdown, intensity, the child
// API, and children killed by a purge restarted on the current code.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  c,
  code,
  genServer,
  isProcessAlive,
  monitor,
  processInfo,
  receive,
  run,
  self,
  send,
  setLogger,
  start,
  stop,
  supervisor,
  whereis,
} from '../dist/index.js';
import {
  behavioursProject,
  downOf,
  observer,
  quietLogger,
  useBehaviourFixture,
} from './behavioursHelpers.js';

const p = behavioursProject({
  'worker.ts': 'worker.ts',
  'sup.ts': 'sup.ts',
  'flaky.ts': 'flaky.ts',
  'looper.ts': 'looper_v1.ts',
});
let obs;
before(async () => {
  await start({ src: p.src, out: p.out, typecheck: false });
  setLogger(quietLogger());
  for (const m of ['worker', 'sup', 'flaky', 'looper']) assert.deepEqual(await c(m), { module: m });
});
beforeEach(() => {
  obs = observer();
  globalThis.__flakyFail = false;
});
after(() => stop());

const down = (pid) => downOf(run, monitor, pid);
/** A child started through genServer.startLink directly (S8: behaviours are callable as modules). */
const child = (id, extra = {}) => ({
  id,
  start: ['genServer', 'startLink', ['worker', { id }, { name: id }]],
  ...extra,
});
const flags = (strategy, children, more = {}) => ({
  strategy,
  intensity: 10,
  period: 5,
  children,
  ...more,
});
const pids = async (sup) =>
  Object.fromEntries((await supervisor.whichChildren(sup)).map((x) => [x.id, x.pid]));

/** Kills a child by a crash and waits until the supervisor has restarted it (a new 'started' report). */
async function crash(id) {
  const before = obs.seen.filter((m) => m.started === id).length;
  genServer.cast(id, { op: 'crash' });
  await obs.until(() => obs.seen.filter((m) => m.started === id).length > before);
}

describe('S8.3 starting', () => {
  it('starts children in order; whichChildren lists them in start order', async () => {
    const sup = await supervisor.start(
      'sup',
      flags('one_for_one', [
        child('a'),
        child('b', { restart: 'transient' }),
        child('c', { restart: 'temporary' }),
      ]),
      { name: 'sup1' },
    );
    assert.equal(whereis('sup1'), sup);
    assert.deepEqual(
      obs.seen.filter((m) => m.started).map((m) => m.started),
      ['a', 'b', 'c'],
    );
    const which = await supervisor.whichChildren('sup1');
    assert.deepEqual(which, [
      { id: 'a', pid: whereis('a'), restart: 'permanent' },
      { id: 'b', pid: whereis('b'), restart: 'transient' },
      { id: 'c', pid: whereis('c'), restart: 'temporary' },
    ]);
    assert.ok(processInfo(sup).trapExit, 'the supervisor traps exits');
    for (const x of which) assert.ok(processInfo(sup).links.includes(x.pid), 'children are linked');
    await genServer.stop(sup, 'shutdown');
    for (const x of which) assert.equal(isProcessAlive(x.pid), false);
  });

  it('a child that fails to start stops the start; the children started are shut down', async () => {
    globalThis.__flakyFail = true;
    await assert.rejects(
      supervisor.start(
        'sup',
        flags('one_for_one', [
          child('a'),
          { id: 'f', start: ['flaky', 'startLink', ['f']] },
          child('z'),
        ]),
      ),
      (e) =>
        e.code === 'failed_to_start_child' && e.id === 'f' && e.reason.message === 'start refused',
    );
    assert.equal(whereis('a'), undefined);
    assert.equal(
      obs.seen.some((m) => m.started === 'z'),
      false,
    );
  });

  it('a start function that does not return a pid is a start failure', async () => {
    await assert.rejects(
      supervisor.start('sup', flags('one_for_one', [{ id: 'n', start: ['flaky', 'notAPid', []] }])),
      (e) => e.code === 'failed_to_start_child' && e.reason.code === 'bad_start_value',
    );
  });

  it('an init that throws rejects the start', async () => {
    await assert.rejects(supervisor.start('sup', { fail: 'no flags' }), /no flags/);
  });
});

describe('S8.3 strategies', () => {
  it('one_for_one restarts only the child that died', async () => {
    const sup = await supervisor.start(
      'sup',
      flags('one_for_one', [child('a'), child('b'), child('c')]),
    );
    const before = await pids(sup);
    await crash('b');
    const now = await pids(sup);
    assert.equal(now.a, before.a);
    assert.notEqual(now.b, before.b);
    assert.equal(now.c, before.c);
    assert.equal(now.b, whereis('b'));
    await genServer.stop(sup);
  });

  it('one_for_all restarts every child (the others shut down in reverse order first)', async () => {
    const sup = await supervisor.start(
      'sup',
      flags('one_for_all', [child('a'), child('b'), child('c')]),
    );
    const before = await pids(sup);
    const n = obs.seen.length;
    genServer.cast('b', { op: 'crash' });
    await obs.until(() => obs.seen.slice(n).filter((m) => m.started).length === 3);
    const now = await pids(sup);
    for (const id of ['a', 'b', 'c']) assert.notEqual(now[id], before[id], id);
    assert.deepEqual(
      obs.seen
        .slice(n)
        .filter((m) => m.started)
        .map((m) => m.started),
      ['a', 'b', 'c'],
    );
    await genServer.stop(sup);
  });

  it('rest_for_one restarts the child and those started after it', async () => {
    const sup = await supervisor.start(
      'sup',
      flags('rest_for_one', [child('a'), child('b'), child('c')]),
    );
    const before = await pids(sup);
    const n = obs.seen.length;
    genServer.cast('b', { op: 'crash' });
    await obs.until(() => obs.seen.slice(n).filter((m) => m.started).length === 2);
    const now = await pids(sup);
    assert.equal(now.a, before.a);
    assert.notEqual(now.b, before.b);
    assert.notEqual(now.c, before.c);
    assert.deepEqual(
      obs.seen
        .slice(n)
        .filter((m) => m.started)
        .map((m) => m.started),
      ['b', 'c'],
    );
    await genServer.stop(sup);
  });
});

describe('S8.3 restart types', () => {
  it('permanent: restarted even after a normal exit', async () => {
    const sup = await supervisor.start('sup', flags('one_for_one', [child('p')]));
    const first = whereis('p');
    const before = obs.seen.filter((m) => m.started === 'p').length;
    const gone = down(first);
    genServer.cast('p', { op: 'exit', reason: 'normal' });
    assert.equal(await gone, 'normal');
    await obs.until(() => obs.seen.filter((m) => m.started === 'p').length > before);
    const second = whereis('p');
    assert.ok(second !== undefined && second !== first, 'a new process took the name');
    assert.equal(isProcessAlive(second), true);
    assert.deepEqual(await supervisor.whichChildren(sup), [
      { id: 'p', pid: second, restart: 'permanent' },
    ]);
    await genServer.stop(sup);
  });

  it('transient: not restarted after normal or shutdown, restarted after a crash', async () => {
    const sup = await supervisor.start(
      'sup',
      flags('one_for_one', [child('t', { restart: 'transient' })]),
    );
    await crash('t');
    const pid = whereis('t');
    const gone = down(pid);
    genServer.cast('t', { op: 'exit', reason: 'normal' });
    assert.equal(await gone, 'normal');
    assert.deepEqual(await supervisor.whichChildren(sup), [{ id: 't', restart: 'transient' }]);
    assert.deepEqual(await supervisor.restartChild(sup, 't'), { ok: true, pid: whereis('t') });
    const gone2 = down(whereis('t'));
    genServer.cast('t', { op: 'exit', reason: 'shutdown' });
    await gone2;
    assert.deepEqual(await supervisor.whichChildren(sup), [{ id: 't', restart: 'transient' }]);
    await genServer.stop(sup);
  });

  it('temporary: never restarted, and it leaves whichChildren when it exits', async () => {
    const sup = await supervisor.start(
      'sup',
      flags('one_for_one', [child('a'), child('tmp', { restart: 'temporary' })]),
    );
    const gone = down(whereis('tmp'));
    genServer.cast('tmp', { op: 'crash' });
    await gone;
    assert.deepEqual(
      (await supervisor.whichChildren(sup)).map((x) => x.id),
      ['a'],
    );
    await genServer.stop(sup);
  });
});

describe('S8.3 shutdown', () => {
  it('children are shut down in reverse start order with reason shutdown', async () => {
    const mk = (id) => ({ id, start: ['worker', 'startLink', [id, { trap: true }]] });
    const sup = await supervisor.start('sup', flags('one_for_one', [mk('a'), mk('b'), mk('c')]));
    await genServer.stop(sup, 'shutdown');
    assert.deepEqual(
      obs.seen.filter((m) => m.terminated).map((m) => [m.terminated, m.reason]),
      [
        ['c', 'shutdown'],
        ['b', 'shutdown'],
        ['a', 'shutdown'],
      ],
    );
  });

  it('a child that does not stop within its shutdown time is killed; brutal_kill kills at once', async () => {
    const sup = await supervisor.start(
      'sup',
      flags('one_for_one', [
        { id: 'h', start: ['worker', 'startLink', ['h', { hang: true }]], shutdown: 20 },
        { id: 'k', start: ['worker', 'startLink', ['k', { trap: true }]], shutdown: 'brutal_kill' },
      ]),
    );
    const h = down(whereis('h'));
    const k = down(whereis('k'));
    assert.deepEqual(await supervisor.terminateChild(sup, 'h'), { ok: true });
    assert.equal(await h, 'killed');
    assert.ok(
      obs.seen.some((m) => m.terminated === 'h'),
      'it got the shutdown signal first',
    );
    assert.deepEqual(await supervisor.terminateChild(sup, 'k'), { ok: true });
    assert.equal(await k, 'killed');
    assert.equal(
      obs.seen.some((m) => m.terminated === 'k'),
      false,
      'brutal_kill: no terminate',
    );
    await genServer.stop(sup);
  });
});

describe('S8.3 intensity', () => {
  it('more than intensity restarts within period: children shut down in reverse, supervisor exits shutdown', async () => {
    const mk = (id) => ({ id, start: ['worker', 'startLink', [id, { trap: true }]] });
    const sup = await supervisor.start(
      'sup',
      flags('one_for_one', [mk('a'), mk('b'), mk('c')], { intensity: 1, period: 60 }),
    );
    const supDown = down(sup);
    await crash('b'); // 1 restart: allowed
    const n = obs.seen.length;
    genServer.cast('b', { op: 'crash' }); // 2nd within the period: too many
    assert.equal(await supDown, 'shutdown');
    assert.deepEqual(
      obs.seen
        .slice(n)
        .filter((m) => m.terminated && m.reason === 'shutdown')
        .map((m) => m.terminated),
      ['c', 'a'],
    );
    assert.equal(whereis('a'), undefined);
  });

  it('intensity 0: the first exit shuts the supervisor down', async () => {
    const sup = await supervisor.start('sup', flags('one_for_one', [child('a')], { intensity: 0 }));
    const supDown = down(sup);
    genServer.cast('a', { op: 'crash' });
    assert.equal(await supDown, 'shutdown');
  });

  it('failed restart attempts count too', async () => {
    const sup = await supervisor.start(
      'sup',
      flags('one_for_one', [{ id: 'f', start: ['flaky', 'startLink', ['f']] }], {
        intensity: 3,
        period: 60,
      }),
    );
    const supDown = down(sup);
    globalThis.__flakyFail = true;
    genServer.cast('f', { op: 'crash' });
    assert.equal(await supDown, 'shutdown');
  });

  it('a supervisor started by startLink ends when its parent exits', async () => {
    const r = await run(async () => {
      const parent = self();
      const { spawn } = await import('../dist/index.js');
      const holder = spawn(async () => {
        const sup = await supervisor.startLink('sup', flags('one_for_one', [child('x')]));
        send(parent, { sup });
        await receive();
      });
      const { sup } = await receive((m) => m?.sup);
      const ref = monitor(sup);
      (await import('../dist/index.js')).exit(holder, 'shutdown');
      return (await receive((m) => m?.type === 'DOWN' && m.ref === ref)).reason;
    });
    assert.equal(r, 'shutdown');
    assert.equal(whereis('x'), undefined);
  });
});

describe('S8.3 child API', () => {
  it('terminateChild, restartChild, startChild, deleteChild', async () => {
    const sup = await supervisor.start('sup', flags('one_for_one', [child('a')]));
    assert.deepEqual(await supervisor.terminateChild(sup, 'nope'), { error: 'not_found' });
    assert.deepEqual(await supervisor.restartChild(sup, 'a'), { error: 'running' });
    assert.deepEqual(await supervisor.deleteChild(sup, 'a'), { error: 'running' });
    const a = whereis('a');
    assert.deepEqual(await supervisor.terminateChild(sup, 'a'), { ok: true });
    assert.equal(isProcessAlive(a), false);
    assert.deepEqual(await supervisor.whichChildren(sup), [{ id: 'a', restart: 'permanent' }]);
    const r = await supervisor.restartChild(sup, 'a');
    assert.equal(r.ok, true);
    assert.equal(r.pid, whereis('a'));
    assert.deepEqual(await supervisor.restartChild(sup, 'nope'), { error: 'not_found' });

    const s = await supervisor.startChild(sup, child('b'));
    assert.deepEqual(s, { ok: true, pid: whereis('b') });
    assert.deepEqual(
      (await supervisor.whichChildren(sup)).map((x) => x.id),
      ['a', 'b'],
    );
    const again = await supervisor.startChild(sup, child('b'));
    assert.deepEqual(again, { error: 'already_present' }, 'a running child with that id');
    assert.equal(again.pid, whereis('b'));
    await supervisor.terminateChild(sup, 'b');
    assert.deepEqual(await supervisor.startChild(sup, child('b')), { error: 'already_present' });
    assert.deepEqual(await supervisor.deleteChild(sup, 'b'), { ok: true });
    assert.deepEqual(await supervisor.deleteChild(sup, 'b'), { error: 'not_found' });
    assert.deepEqual(
      (await supervisor.whichChildren(sup)).map((x) => x.id),
      ['a'],
    );

    globalThis.__flakyFail = true;
    const failed = await supervisor.startChild(sup, {
      id: 'f',
      start: ['flaky', 'startLink', ['f']],
    });
    assert.equal(failed.error.message, 'start refused');
    assert.deepEqual(
      (await supervisor.whichChildren(sup)).map((x) => x.id),
      ['a'],
      'a child that fails to start is not added',
    );
    await genServer.stop(sup);
  });
});

describe('S8.3 purge', () => {
  it('a child killed by a purge (reason killed) is restarted and runs the current code', async () => {
    const sup = await supervisor.start(
      'sup',
      flags('one_for_one', [{ id: 'l', start: ['looper', 'startLink', []] }]),
    );
    const [{ pid: old }] = await supervisor.whichChildren(sup);
    const ask = (pid) =>
      run(async () => {
        send(pid, { from: self() });
        return (await receive()).version;
      });
    assert.equal(await ask(old), 1);
    useBehaviourFixture(p, 'looper_v2.ts', 'looper.ts');
    assert.deepEqual(await c('looper'), { module: 'looper' });
    assert.equal(await ask(old), 1, 'local calls stay in v1');
    const gone = down(old);
    assert.equal(code.purge('looper'), true);
    assert.equal(await gone, 'killed');
    let now;
    for (;;) {
      [{ pid: now }] = await supervisor.whichChildren(sup);
      if (now !== undefined) break;
    }
    assert.notEqual(now, old);
    assert.equal(await ask(now), 2);
    await genServer.stop(sup);
  });
});
