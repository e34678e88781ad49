// S5 processes: spawn, messages, selective receive, links, exits, monitors,
// registered names, processInfo. S0.2 code outside processes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  cancelTimer,
  demonitor,
  exit,
  isProcessAlive,
  link,
  mod,
  monitor,
  Pid,
  processes,
  processInfo,
  receive,
  register,
  registered,
  run,
  self,
  send,
  sendAfter,
  setLogger,
  signal,
  spawn,
  spawnLink,
  spawnMonitor,
  start,
  stop,
  trapExit,
  unlink,
  unregister,
  whereis,
} from '../dist/index.js';
import { project, useFixture } from './helpers.js';

const p = project();
const crashes = [];
before(async () => {
  await start({ src: p.src, out: p.out, typecheck: false });
  setLogger({ error: (message, meta) => crashes.push({ message, meta }) });
});
after(() => stop());

const isDown = (pid) => (m) => m?.type === 'DOWN' && m.pid === pid;

describe('S5.1 spawn', () => {
  it('runs the function up to its first suspension before returning the pid', async () => {
    const steps = [];
    const pid = spawn(async () => {
      steps.push('started');
      await receive();
      steps.push('resumed');
    });
    assert.ok(pid instanceof Pid);
    assert.deepEqual(steps, ['started']);
    assert.match(String(pid), /^<0\.\d+\.0>$/);
    assert.equal(isProcessAlive(pid), true);
    assert.ok(processes().includes(pid));
    exit(pid, 'kill');
    assert.equal(isProcessAlive(pid), false);
  });

  it('spawn(module, fname, args) autoloads; ends normal on return, with its error on throw (crash report)', async () => {
    useFixture(p, 'core/counter_v1.ts', 'counter.ts');
    const { compile } = await import('../dist/index.js');
    await compile.file('counter');
    await run(async () => {
      const { pid, ref } = spawnMonitor('counter', 'loop', [5]);
      send(pid, { op: 'get', from: self() });
      assert.deepEqual(await receive(), { count: 5 });
      send(pid, { op: 'stop' });
      const down = await receive(isDown(pid));
      assert.deepEqual(down, { type: 'DOWN', ref, pid, reason: 'normal' });
      const before = crashes.length;
      const bad = spawnMonitor(mod('counter'), 'fail', []);
      const d2 = await receive(isDown(bad.pid));
      assert.match(d2.reason.message, /counter v1 failed/);
      assert.equal(crashes.length, before + 1);
      assert.match(crashes.at(-1).message, /CRASH REPORT.*counter v1 failed/s);
      const u = spawnMonitor('counter', 'nope', []);
      assert.equal((await receive(isDown(u.pid))).reason.code, 'undef');
    });
  });
});

describe('S5.2 messages', () => {
  it('receive takes the oldest; selective receive leaves the others in order', async () => {
    await run(async () => {
      const me = self();
      send(me, 1);
      send(me, 'a');
      send(me, 2);
      send(me, 'b');
      assert.equal(await receive((m) => typeof m === 'string'), 'a');
      assert.equal(await receive(), 1);
      assert.equal(await receive(), 2);
      assert.equal(await receive(), 'b');
    });
  });

  it('several receives pending at once (Node callbacks of one process) each take their message', async () => {
    await run(async () => {
      const me = self();
      const a = receive((m) => m === 'a');
      const b = receive((m) => m === 'b');
      const any = receive(undefined, 'infinity');
      send(me, 'b');
      send(me, 'x');
      send(me, 'a');
      assert.deepEqual(await Promise.all([a, b, any]), ['a', 'b', 'x']);
      assert.equal(await receive(undefined, 0), undefined, 'nothing left over');
    });
  });

  it('timeouts yield undefined; 0 polls; a matching message arriving later is taken', async () => {
    await run(async () => {
      assert.equal(await receive(undefined, 0), undefined);
      assert.equal(await receive(undefined, 5), undefined);
      const me = self();
      spawn(() => send(me, 'late'));
      assert.equal(await receive((m) => m === 'late', 'infinity'), 'late');
    });
  });

  it('messages are in the mailbox when send returns: order holds across senders', async () => {
    await run(async () => {
      const me = self();
      const a = spawn(async () => {
        const go = await receive();
        send(me, `a${go}`);
      });
      const b = spawn(async () => {
        const go = await receive();
        send(me, `b${go}`);
        send(a, 2);
      });
      send(b, 1);
      assert.equal(await receive(), 'b1');
      assert.equal(await receive(), 'a2');
    });
  });

  it('send to a dead pid is dropped; to an unregistered name throws badarg', async () => {
    const pid = spawn(() => {});
    await run(async () => {
      const ref = monitor(pid);
      await receive((m) => m.ref === ref);
    });
    assert.doesNotThrow(() => send(pid, 'x'));
    assert.throws(() => send('nobody_here', 'x'), { code: 'badarg' });
  });

  it('sendAfter delivers later; cancelTimer returns the time left or false', async () => {
    await run(async () => {
      const me = self();
      const ref = sendAfter(10_000, me, 'never');
      const left = cancelTimer(ref);
      assert.ok(typeof left === 'number' && left > 0 && left <= 10_000);
      assert.equal(cancelTimer(ref), false);
      sendAfter(1, me, 'soon');
      assert.equal(await receive(), 'soon');
    });
  });
});

describe('S5.3 links and exits', () => {
  it('an abnormal exit propagates along links; trapExit turns it into a message', async () => {
    await run(async () => {
      trapExit(true);
      const me = self();
      const child = spawnLink(async () => {
        const grandchild = spawnLink(async () => {
          await receive();
          exit('boom');
        });
        send(me, grandchild);
        await receive();
      });
      const grandchild = await receive((m) => m instanceof Pid);
      send(grandchild, 'go');
      const msg = await receive((m) => m?.type === 'EXIT');
      assert.deepEqual(msg, { type: 'EXIT', from: child, reason: 'boom' });
      assert.equal(isProcessAlive(child), false);
    });
  });

  it('a normal exit does not propagate; unlink removes the link', async () => {
    await run(async () => {
      const a = spawnLink(async () => {});
      const b = spawnLink(async () => {
        await receive();
      });
      unlink(b);
      await receive(undefined, 5);
      assert.equal(isProcessAlive(self()), true);
      assert.equal(isProcessAlive(a), false);
      exit(b, 'bye');
      assert.equal(isProcessAlive(self()), true);
    });
  });

  it("'kill' cannot be trapped and arrives as 'killed'; exit(pid, normal) is ignored", async () => {
    await run(async () => {
      trapExit(true);
      const victim = spawn(async () => {
        trapExit(true);
        await receive(() => false);
      });
      link(victim);
      exit(victim, 'normal');
      assert.equal(isProcessAlive(victim), true);
      exit(victim, 'kill');
      assert.deepEqual(await receive(), { type: 'EXIT', from: victim, reason: 'killed' });
    });
  });

  it('exit/2 with a non-pid → badarg', () => {
    assert.throws(() => exit('name', 'x'), { code: 'badarg' });
  });
});

describe('S5.4 monitors', () => {
  it("DOWN with the reason; 'noproc' for a dead pid; demonitor", async () => {
    await run(async () => {
      const pid = spawn(async () => {
        await receive();
        exit('done');
      });
      const ref = monitor(pid);
      send(pid, 'go');
      assert.deepEqual(await receive(), { type: 'DOWN', ref, pid, reason: 'done' });
      const ref2 = monitor(pid);
      assert.deepEqual(await receive(), { type: 'DOWN', ref: ref2, pid, reason: 'noproc' });
      const live = spawn(async () => {
        await receive();
      });
      const ref3 = monitor(live);
      assert.equal(demonitor(ref3), true);
      exit(live, 'kill');
      assert.equal(await receive(undefined, 5), undefined);
    });
  });
});

describe('S5.5 registered names', () => {
  it('register, whereis, send by name, unregister; errors are badarg', async () => {
    const pid = spawn(async () => {
      const m = await receive();
      send(m.from, 'pong');
    });
    assert.equal(register('ponger', pid), true);
    assert.equal(whereis('ponger'), pid);
    assert.ok(registered().includes('ponger'));
    assert.throws(() => register('ponger', pid), { code: 'badarg' });
    await run(async () => {
      send('ponger', { from: self() });
      assert.equal(await receive(), 'pong');
    });
    assert.equal(whereis('ponger'), undefined, 'a dead process loses its name');
    const other = spawn(async () => {
      await receive();
    });
    register('other', other);
    assert.equal(unregister('other'), true);
    assert.throws(() => unregister('other'), { code: 'badarg' });
    assert.throws(() => register('x', pid), { code: 'badarg' }, 'dead pid');
    exit(other, 'kill');
  });
});

describe('S5.6 processInfo', () => {
  it('has the exact shape; undefined for a dead pid', async () => {
    await run(async () => {
      const pid = spawnLink(async () => {
        await receive();
      });
      register('infoed', pid);
      send(pid, 'a') === 'a';
      const info = processInfo(pid);
      assert.equal(info.pid, pid);
      assert.equal(info.status, 'running', 'a message is waiting for it');
      assert.equal(info.messageQueueLen, 0);
      assert.equal(info.registeredName, 'infoed');
      assert.deepEqual(info.links, [self()]);
      assert.deepEqual(info.monitors, []);
      assert.equal(info.trapExit, false);
      assert.deepEqual(info.modules, []);
      const ref = monitor(pid);
      await receive((m) => m.ref === ref);
      assert.equal(processInfo(pid), undefined);
      const waiting = spawn(async () => {
        await receive(() => false);
      });
      send(waiting, 1);
      assert.equal(processInfo(waiting).status, 'waiting');
      assert.equal(processInfo(waiting).messageQueueLen, 1);
      exit(waiting, 'kill');
    });
  });

  it('names the initial call as Erlang does: module.function/arity', async () => {
    useFixture(p, 'core/counter_v1.ts', 'counter.ts');
    const { compile } = await import('../dist/index.js');
    await compile.file('counter');
    const byRef = spawn(mod('counter').loop, 0); // an external reference: counter.loop/1
    const byMfa = spawn('counter', 'loop', [0]);
    async function worker(_a, _b) {
      await receive();
    }
    const plain = spawn(worker, 1, 2);
    assert.equal(processInfo(byRef).initialCall, 'counter.loop/1');
    assert.equal(processInfo(byMfa).initialCall, 'counter.loop/1');
    assert.equal(processInfo(plain).initialCall, 'worker/2');
    for (const pid of [byRef, byMfa, plain]) exit(pid, 'kill');
  });
});

describe('S0.2 code outside processes', () => {
  it('self, receive, link, monitor, trapExit, exit(reason), signal need a process: a clear error naming run()', () => {
    for (const f of [
      () => self(),
      () => receive(),
      () => trapExit(true),
      () => signal(),
      () => exit('x'),
    ])
      assert.throws(f, (e) => e.code === 'no_process' && /run\(/.test(e.message));
  });

  it('run resolves with the value or rejects with the exit reason', async () => {
    assert.equal(await run(async () => 42), 42);
    await assert.rejects(
      run(() => exit('bye')),
      (r) => r === 'bye',
    );
    await assert.rejects(
      run(async () => {
        throw new Error('thrown');
      }),
      /thrown/,
    );
  });

  it('callbacks Node runs later run in the process that registered them; after it exits they throw', async () => {
    const result = await run(
      () =>
        new Promise((resolve) => {
          const me = self();
          setTimeout(() => resolve(self() === me), 1);
        }),
    );
    assert.equal(result, true);
    const seen = [];
    let fire;
    const gate = new Promise((r) => {
      fire = r;
    });
    const pid = spawn(async () => {
      gate.then(() => {
        try {
          self();
          seen.push('ran');
        } catch (e) {
          seen.push(e.code);
        }
      });
      await receive();
    });
    exit(pid, 'kill');
    fire();
    await gate;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, ['noproc']);
  });
});
