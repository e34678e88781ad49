// S8.4 release upgrade: prepare, soft purge, suspend, load, changeCode, resume,
// soft purge — and the rollback of every step.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  c,
  code,
  compile,
  genServer,
  isProcessAlive,
  monitor,
  processInfo,
  run,
  setLogger,
  spawn,
  start,
  stop,
  sys,
  upgrade,
  whereis,
} from '../dist/index.js';
import {
  behavioursProject,
  downOf,
  observer,
  quietLogger,
  useBehaviourFixture,
} from './behavioursHelpers.js';

const p = behavioursProject({ 'counter.ts': 'counter_v1.ts', 'lp.ts': 'lp_v1.ts' });
let obs;
before(async () => {
  await start({ src: p.src, out: p.out, typecheck: false });
  setLogger(quietLogger());
  obs = observer();
});
after(() => stop());

const down = (pid) => downOf(run, monitor, pid);

/** Loads counter v1 fresh (no old code) and writes v2's object file without loading it. */
async function counterV1WithV2OnPath() {
  useBehaviourFixture(p, 'counter_v1.ts', 'counter.ts');
  assert.deepEqual(await c('counter'), { module: 'counter' });
  code.purge('counter');
  useBehaviourFixture(p, 'counter_v2.ts', 'counter.ts');
  assert.equal((await compile.file('counter')).module, 'counter');
  assert.equal(code.versions('counter').current.vsn, 'v1');
}

const versionIds = (m) => {
  const v = code.versions(m);
  return { current: v.current?.md5, old: v.old?.md5 };
};

describe('S8.4 a successful upgrade', () => {
  it('loads, migrates the state with codeChange(oldVsn), resumes, and soft-purges', async () => {
    await counterV1WithV2OnPath();
    const a = await genServer.start('counter', 5, { name: 'ua' });
    const b = await genServer.start('counter', 1);
    const r = await upgrade({
      load: ['counter'],
      change: [
        { server: 'ua', module: 'counter', extra: 10 },
        { server: b, module: 'counter', extra: 2 },
      ],
    });
    assert.equal(r.ok, true);
    assert.equal(typeof r.pausedMs, 'number');
    assert.ok(r.pausedMs >= 0);
    assert.equal(r.oldInUse, undefined);
    assert.equal(code.versions('counter').current.vsn, 'v2');
    assert.equal(code.versions('counter').old, undefined, 'the replaced version was soft-purged');
    assert.ok(obs.seen.some((m) => m.codeChange === 'v1' && m.extra === 10));
    assert.equal(await genServer.call(a, { op: 'get' }), 50);
    assert.equal(await genServer.call(b, { op: 'get' }), 2);
    assert.equal(await genServer.call(a, { op: 'version' }), 2);
    assert.equal((await sys.getStatus(a)).status, 'running');
    await genServer.stop(a);
    await genServer.stop(b);
  });

  it('a replaced version still in use: the upgrade succeeds and reports oldInUse', async () => {
    useBehaviourFixture(p, 'lp_v1.ts', 'lp.ts');
    assert.deepEqual(await c('lp'), { module: 'lp' });
    const pid = spawn('lp', 'loop', []);
    useBehaviourFixture(p, 'lp_v2.ts', 'lp.ts');
    await compile.file('lp');
    const r = await upgrade({ load: ['lp'] });
    assert.deepEqual(r, { ok: true, pausedMs: 0, oldInUse: ['lp'] });
    assert.equal(code.versions('lp').current.vsn, 'lp2');
    assert.equal(code.versions('lp').old.vsn, 'lp1');
    assert.ok(isProcessAlive(pid));
    const gone = down(pid);
    code.purge('lp');
    assert.equal(await gone, 'killed');
  });
});

describe('S8.4 failures roll back', () => {
  it('prepare failures (nofile, badfile) change nothing', async () => {
    await counterV1WithV2OnPath();
    const pid = await genServer.start('counter', 3);
    const before = versionIds('counter');
    assert.deepEqual(
      await upgrade({ load: ['counter', 'missing'], change: [{ server: pid, module: 'counter' }] }),
      {
        error: 'nofile',
        module: 'missing',
        rolledBack: true,
      },
    );
    writeFileSync(join(p.out, 'garbage.js'), 'this is not an object file');
    const r = await upgrade({ load: ['garbage'] });
    assert.equal(r.error, 'badfile');
    assert.equal(r.module, 'garbage');
    assert.equal(r.rolledBack, true);
    assert.deepEqual(versionIds('counter'), before);
    assert.equal((await sys.getStatus(pid)).status, 'running');
    await genServer.stop(pid);
  });

  it('old code still in use → not_purged, nothing changes', async () => {
    useBehaviourFixture(p, 'lp_v1.ts', 'lp.ts');
    assert.deepEqual(await c('lp'), { module: 'lp' });
    code.purge('lp');
    const pid = spawn('lp', 'loop', []);
    useBehaviourFixture(p, 'lp_v2.ts', 'lp.ts');
    assert.deepEqual(await c('lp'), { module: 'lp' }); // v1 is now old, and used by pid
    const before = versionIds('lp');
    assert.deepEqual(await upgrade({ load: ['lp'] }), {
      error: 'not_purged',
      module: 'lp',
      rolledBack: true,
    });
    assert.deepEqual(versionIds('lp'), before);
    assert.ok(isProcessAlive(pid));
    code.purge('lp');
  });

  it('a codeChange that throws: modules, states and old versions come back; the servers serve the old code', async () => {
    await counterV1WithV2OnPath();
    // counter: current v1 and an unused old version, which the upgrade soft-purges and must reinstate
    useBehaviourFixture(p, 'counter_v1.ts', 'counter.ts');
    await c('counter'); // v1 again (new md5? same source: same md5, another version)
    useBehaviourFixture(p, 'counter_v2.ts', 'counter.ts');
    await compile.file('counter');
    assert.ok(code.versions('counter').old, 'an old version exists');
    const before = versionIds('counter');
    const beforeSeq = {
      current: code.versions('counter').current.seq,
      old: code.versions('counter').old.seq,
    };
    const a = await genServer.start('counter', 7, { name: 'ok_one' });
    const b = await genServer.start('counter', 8, { name: 'bad_one' });
    const r = await upgrade({
      load: ['counter'],
      change: [
        { server: 'ok_one', module: 'counter', extra: 3 },
        { server: 'bad_one', module: 'counter', extra: 'fail' },
      ],
    });
    assert.equal(r.error, 'code_change_failed');
    assert.equal(r.server, 'bad_one');
    assert.equal(r.module, 'counter');
    assert.equal(r.reason.message, 'codeChange refused');
    assert.equal(r.rolledBack, true);
    assert.deepEqual(versionIds('counter'), before);
    assert.deepEqual(
      { current: code.versions('counter').current.seq, old: code.versions('counter').old.seq },
      beforeSeq,
      'the very same versions',
    );
    assert.equal(code.versions('counter').current.vsn, 'v1');
    assert.equal(await sys.getState(a), 7, 'the changed server got its state back');
    assert.equal(await sys.getState(b), 8);
    for (const s of [a, b]) assert.equal((await sys.getStatus(s)).status, 'running');
    assert.equal(await genServer.call(a, { op: 'version' }), 1, 'serving on the previous code');
    assert.equal(await genServer.call(b, { op: 'add', by: 1 }), 9);
    assert.equal(processInfo(a).status === 'suspended', false);
    await genServer.stop(a);
    await genServer.stop(b);
  });

  it('a process that entered the withdrawn version is killed', async () => {
    await counterV1WithV2OnPath();
    const a = await genServer.start('counter', 1);
    const r = await upgrade({
      load: ['counter'],
      change: [{ server: a, module: 'counter', extra: 'intrude' }],
    });
    assert.equal(r.error, 'code_change_failed');
    assert.equal(whereis('intruder'), undefined, 'the intruder was killed with v2');
    assert.equal(code.versions('counter').current.vsn, 'v1');
    assert.equal(await genServer.call(a, { op: 'version' }), 1);
    await genServer.stop(a);
  });

  it('on_load_failure: nothing loaded, servers resumed with their state', async () => {
    await counterV1WithV2OnPath();
    useBehaviourFixture(p, 'onload_bad.ts', 'counter.ts');
    await compile.file('counter');
    const a = await genServer.start('counter', 4);
    const before = versionIds('counter');
    const r = await upgrade({ load: ['counter'], change: [{ server: a, module: 'counter' }] });
    assert.equal(r.error, 'on_load_failure');
    assert.equal(r.module, 'counter');
    assert.equal(r.rolledBack, true);
    assert.deepEqual(versionIds('counter'), before);
    assert.equal((await sys.getStatus(a)).status, 'running');
    assert.equal(await genServer.call(a, { op: 'get' }), 4);
    await genServer.stop(a);
  });

  it('noproc and timeout: servers that cannot be suspended', async () => {
    await counterV1WithV2OnPath();
    const a = await genServer.start('counter', 2);
    const before = versionIds('counter');
    const r = await upgrade({
      load: ['counter'],
      change: [
        { server: a, module: 'counter' },
        { server: 'ghost', module: 'counter' },
      ],
    });
    assert.equal(r.error, 'noproc');
    assert.equal(r.server, 'ghost');
    assert.equal(r.rolledBack, true);
    assert.deepEqual(versionIds('counter'), before);
    assert.equal((await sys.getStatus(a)).status, 'running');

    const busy = genServer.call(a, { op: 'sleep', ms: 300 });
    const t = await upgrade({
      load: ['counter'],
      change: [{ server: a, module: 'counter' }],
      timeoutMs: 10,
    });
    assert.equal(t.error, 'timeout');
    assert.equal(t.rolledBack, true);
    assert.deepEqual(versionIds('counter'), before);
    assert.equal(await busy, 'slept');
    // the late suspend of the timed-out request is undone by the rollback's resume, which is queued after it
    assert.equal((await sys.getStatus(a)).status, 'running');
    await genServer.stop(a);
  });
});
