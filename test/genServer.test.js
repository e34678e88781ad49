// S8.1 genServer: start/startLink, call (timeouts, noproc, exit, calling_self),
// cast, reply, stop, the callbacks, and servers surviving new versions of
// their callback module.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  c,
  code,
  exit,
  genServer,
  isProcessAlive,
  monitor,
  processInfo,
  receive,
  run,
  self,
  send,
  setLogger,
  spawnMonitor,
  start,
  stop,
  trapExit,
  whereis,
} from '../dist/index.js';
import {
  behavioursProject,
  downOf,
  observer,
  quietLogger,
  useBehaviourFixture,
} from './behavioursHelpers.js';

const p = behavioursProject({ 'counter.ts': 'counter_v1.ts' });
const logger = quietLogger();
let obs;
before(async () => {
  await start({ src: p.src, out: p.out, typecheck: false });
  setLogger(logger);
  assert.deepEqual(await c('counter'), { module: 'counter' });
  obs = observer();
});
after(() => stop());

const down = (pid) => downOf(run, monitor, pid);

describe('S8.1 start and call', () => {
  it('starts a server, answers calls from plain code and from processes, and registers its name', async () => {
    const pid = await genServer.start('counter', 5, { name: 'c1' });
    assert.equal(whereis('c1'), pid);
    assert.equal(await genServer.call(pid, { op: 'add', by: 2 }), 7);
    assert.equal(await genServer.call('c1', { op: 'get' }), 7);
    assert.equal(await run(() => genServer.call('c1', { op: 'add', by: 1 })), 8);
    assert.equal(processInfo(pid).initialCall, 'counter.init/1');
    await genServer.stop(pid);
    assert.equal(isProcessAlive(pid), false);
    assert.equal(whereis('c1'), undefined);
  });

  it('accepts a module handle as the module', async () => {
    const { mod } = await import('../dist/index.js');
    const pid = await genServer.start(mod('counter'), 1);
    assert.equal(await genServer.call(pid, { op: 'get' }), 1);
    await genServer.stop(pid);
  });

  it('a taken name fails with already_started and starts nothing', async () => {
    const pid = await genServer.start('counter', 0, { name: 'taken' });
    const before = (await import('../dist/index.js')).processes().length;
    await assert.rejects(
      genServer.start('counter', 0, { name: 'taken' }),
      (e) => e.code === 'already_started' && e.pid === pid,
    );
    assert.equal((await import('../dist/index.js')).processes().length, before);
    await genServer.stop(pid);
  });

  it('init that throws rejects the start with that reason, and the process exits with it', async () => {
    const boom = new Error('no init for you');
    await assert.rejects(
      genServer.start('counter', { fail: boom }, { name: 'failing' }),
      (e) => e === boom,
    );
    assert.equal(whereis('failing'), undefined);
    assert.ok(
      logger.reports.some((r) => r.reason === boom),
      'a crash report with the reason',
    );
  });

  it('startLink: a failing init reaches a linked caller through the link (it dies with the reason)', async () => {
    const boom = new Error('linked init failure');
    const reason = await run(async () => {
      const { ref } = spawnMonitor(async () => {
        await genServer.startLink('counter', { fail: boom });
        await receive(); // not reached
      });
      return (await receive((m) => m?.type === 'DOWN' && m.ref === ref)).reason;
    });
    assert.equal(reason, boom);
  });

  it('startLink: a caller that traps exits gets the rejection and an exit message', async () => {
    const boom = new Error('trapped init failure');
    const r = await run(async () => {
      trapExit(true);
      let rejected;
      try {
        await genServer.startLink('counter', { fail: boom });
      } catch (e) {
        rejected = e;
      }
      const m = await receive((x) => x?.type === 'EXIT');
      return { rejected, reason: m.reason };
    });
    assert.equal(r.rejected, boom);
    assert.equal(r.reason, boom);
  });

  it('startLink links the server to the caller', async () => {
    const r = await run(async () => {
      const pid = await genServer.startLink('counter', 0);
      const linked = processInfo(self()).links.includes(pid);
      await genServer.stop(pid);
      return linked;
    });
    assert.equal(r, true);
  });
});

describe('S8.1 call errors', () => {
  it('noproc for an unknown name and for a dead pid', async () => {
    await assert.rejects(genServer.call('nobody', { op: 'get' }), (e) => e.code === 'noproc');
    const pid = await genServer.start('counter', 0);
    await genServer.stop(pid);
    await assert.rejects(genServer.call(pid, { op: 'get' }), (e) => e.code === 'noproc');
  });

  it('timeout: the call rejects, and the late reply is discarded', async () => {
    const pid = await genServer.start('counter', 3);
    const r = await run(async () => {
      let err;
      try {
        await genServer.call(pid, { op: 'later' }, 20);
      } catch (e) {
        err = e;
      }
      genServer.cast(pid, { op: 'answer' }); // the server answers the call that timed out
      const next = await genServer.call(pid, { op: 'get' }); // served after the late answer
      return { code: err?.code, next, queued: processInfo(self()).messageQueueLen };
    });
    assert.deepEqual(r, { code: 'timeout', next: 3, queued: 0 });
    await genServer.stop(pid);
  });

  it('the timeout is exact: a reply due after it never resolves the call', async () => {
    const pid = await genServer.start('counter', 1);
    // the server answers at 3× the timeout; the call must already have timed out
    await assert.rejects(
      genServer.call(pid, { op: 'sleep', ms: 150 }, 50),
      (e) => e.code === 'timeout',
    );
    assert.equal(await genServer.call(pid, { op: 'get' }), 1);
    await genServer.stop(pid);
  });

  it("timeoutMs may be 'infinity'", async () => {
    const pid = await genServer.start('counter', 4);
    assert.equal(await genServer.call(pid, { op: 'get' }, 'infinity'), 4);
    await genServer.stop(pid);
  });

  it('exit: the server dies during the call; reason attached', async () => {
    const pid = await genServer.start('counter', 0);
    await assert.rejects(
      genServer.call(pid, { op: 'crash' }),
      (e) =>
        e.code === 'exit' && e.reason instanceof Error && e.reason.message === 'crash requested',
    );
    assert.equal(isProcessAlive(pid), false);
  });

  it('exit: a server killed while a call waits', async () => {
    const pid = await genServer.start('counter', 0);
    const pending = genServer.call(pid, { op: 'later' });
    exit(pid, 'kill');
    await assert.rejects(pending, (e) => e.code === 'exit' && e.reason === 'killed');
  });

  it('calling_self: a server that calls itself gets an error, not a timeout', async () => {
    const pid = await genServer.start('counter', 0);
    assert.equal(await genServer.call(pid, { op: 'callSelf' }), 'calling_self');
    await genServer.stop(pid);
  });

  it('a bad return value stops the server with bad_return_value', async () => {
    const pid = await genServer.start('counter', 0);
    await assert.rejects(
      genServer.call(pid, { op: 'bad' }),
      (e) => e.code === 'exit' && e.reason.code === 'bad_return_value',
    );
  });

  it('several calls in flight from one process (as request callbacks of one listener)', async () => {
    const pid = await genServer.start('counter', 0);
    const r = await run(() =>
      Promise.all([
        genServer.call(pid, { op: 'sleep', ms: 5 }),
        genServer.call(pid, { op: 'add', by: 1 }),
        genServer.call(pid, { op: 'add', by: 1 }),
      ]),
    );
    assert.deepEqual(r, ['slept', 1, 2]);
    await genServer.stop(pid);
  });
});

describe('S8.1 cast, reply, info, stop, terminate', () => {
  it('cast never fails and is handled in order', async () => {
    const pid = await genServer.start('counter', 0);
    genServer.cast('nobody', { op: 'set', n: 1 });
    genServer.cast(pid, { op: 'set', n: 9 });
    assert.equal(await genServer.call(pid, { op: 'get' }), 9);
    await genServer.stop(pid);
    genServer.cast(pid, { op: 'set', n: 1 }); // dead: ignored
  });

  it('noreply + genServer.reply answers later', async () => {
    const pid = await genServer.start('counter', 11);
    const later = genServer.call(pid, { op: 'later' });
    genServer.cast(pid, { op: 'answer' });
    assert.equal(await later, 11);
    await genServer.stop(pid);
  });

  it('other messages go to handleInfo', async () => {
    const pid = await genServer.start('counter', 2);
    const r = await run(async () => {
      send(pid, { report: self(), hello: 1 });
      return receive();
    });
    assert.deepEqual(r.n, 2);
    assert.equal(r.info.hello, 1);
    await genServer.stop(pid);
  });

  it('stop runs terminate, resolves after the exit, and its reason is the exit reason', async () => {
    const pid = await genServer.start('counter', 8);
    const reason = down(pid);
    await genServer.stop(pid, 'shutdown');
    assert.equal(isProcessAlive(pid), false);
    assert.ok(obs.seen.some((m) => m.terminated === 'shutdown' && m.n === 8));
    assert.equal(await reason, 'shutdown');
    await assert.rejects(genServer.stop(pid), (e) => e.code === 'noproc');
  });

  it('{ stop, reply } replies, terminates and exits; { stop } without reply fails the caller with exit', async () => {
    const a = await genServer.start('counter', 1);
    const reason = down(a);
    assert.equal(await genServer.call(a, { op: 'stop' }), 'bye');
    assert.equal(await reason, 'normal');
    assert.ok(obs.seen.some((m) => m.terminated === 'normal' && m.n === 1));
    const b = await genServer.start('counter', 2);
    await assert.rejects(
      genServer.call(b, { op: 'stopNoReply' }),
      (e) => e.code === 'exit' && e.reason === 'done',
    );
  });

  it('a callback that throws: terminate runs with the error, the server exits with it', async () => {
    const pid = await genServer.start('counter', 6);
    const reason = down(pid);
    genServer.cast(pid, { op: 'throw' });
    const r = await reason;
    assert.equal(r.message, 'cast crash');
    assert.ok(obs.seen.some((m) => m.terminated === r && m.n === 6));
  });

  it('a cast { stop } exits with that reason', async () => {
    const pid = await genServer.start('counter', 0);
    const reason = down(pid);
    genServer.cast(pid, { op: 'stop', reason: 'shutdown' });
    assert.equal(await reason, 'shutdown');
  });

  it('an exit signal from the parent terminates a trapping server (terminate runs)', async () => {
    // counter does not trap exits: the parent's exit kills it without terminate, as in OTP
    const r = await run(async () => {
      const pid = await genServer.startLink('counter', 0);
      trapExit(true);
      exit(pid, 'shutdown');
      const m = await receive((x) => x?.type === 'EXIT' && x.from === pid);
      return m.reason;
    });
    assert.equal(r, 'shutdown');
  });
});

describe('S8.1 servers survive new versions of their callback module', () => {
  it('the next message runs the new version; purging the old one kills nobody', async () => {
    const pid = await genServer.start('counter', 5, { name: 'survivor' });
    assert.equal(await genServer.call(pid, { op: 'version' }), 1);
    useBehaviourFixture(p, 'counter_v2.ts', 'counter.ts');
    assert.deepEqual(await c('counter'), { module: 'counter' });
    assert.equal(await genServer.call(pid, { op: 'version' }), 2);
    assert.equal(code.purge('counter'), false, 'nobody used the old version');
    assert.equal(await genServer.call(pid, { op: 'get' }), 5, 'state kept');
    assert.ok(isProcessAlive(pid));
    useBehaviourFixture(p, 'counter_v1.ts', 'counter.ts');
    assert.deepEqual(await c('counter'), { module: 'counter' });
    assert.equal(await genServer.call(pid, { op: 'version' }), 1);
    await genServer.stop(pid);
  });

  it('the runtime modules are loaded from the sticky directory', () => {
    const loaded = code.allLoaded().map(([m]) => m);
    for (const m of ['genServer', 'sys', 'supervisor', 'release']) {
      assert.ok(loaded.includes(m), m);
      assert.equal(code.isSticky(m), true, m);
    }
  });
});
