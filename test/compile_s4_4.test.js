// S4.4 a killed process never resumes in compiled code: an await that settles after the
// kill — fulfilled or rejected — drops the continuation, so no catch or finally of the
// process runs and a loop that swallows errors stops (issue 10, finding 1). Unkilled
// processes keep JavaScript's semantics, and the await counters stay balanced (S4.3).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  c,
  checkProcessCode,
  code,
  exit,
  isProcessAlive,
  mod,
  processes,
  receive,
  run,
  send,
  spawn,
  start,
  stop,
} from '../dist/index.js';
import { deferred, project, useFixture, writeSource } from './helpers.js';

const p = project();
before(() => start({ src: p.src, out: p.out, typecheck: false }));
after(() => stop());

/** The zombie fixture's handle (stable across versions). */
let z;

beforeEach(async () => {
  z = mod('zombie');
  useFixture(p, 'compiler/zombie.ts', 'zombie.ts');
  assert.deepEqual(await c('zombie'), { module: 'zombie' });
  z.reset();
});

/** `n` turns of the event loop: every promise reaction that is going to run has run. */
async function turns(n = 10) {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** An `io()` whose calls the test settles; `called(k)` resolves once it was called k times. */
function controlledIo() {
  const calls = [];
  const waiters = [];
  return {
    calls,
    fn: () =>
      new Promise((resolve, reject) => {
        calls.push({ resolve, reject });
        for (const w of waiters.splice(0)) w();
      }),
    async called(k) {
      while (calls.length < k) await new Promise((r) => waiters.push(r));
    },
  };
}

/** An async iterable whose `next()` calls the test settles. */
function controlledIterable() {
  const nexts = [];
  const waiters = [];
  return {
    nexts,
    iterable: {
      [Symbol.asyncIterator]() {
        return {
          next: () =>
            new Promise((resolve, reject) => {
              nexts.push({ resolve, reject });
              for (const w of waiters.splice(0)) w();
            }),
        };
      },
    },
    async asked(k) {
      while (nexts.length < k) await new Promise((r) => waiters.push(r));
    },
  };
}

function counters() {
  return {
    iterations: z.iterations,
    caught: z.caught,
    finallies: z.finallies,
    resumed: z.resumed,
    bodies: z.bodies,
  };
}

const ZERO = { iterations: 0, caught: 0, finallies: 0, resumed: 0, bodies: 0 };

describe('S4.4 a killed process never resumes in compiled code', () => {
  for (const how of ['fulfils', 'rejects']) {
    it(`a loop that catches everything stops when the awaited promise ${how} after the kill`, async () => {
      const io = controlledIo();
      await run(async () => {
        const pid = spawn(z.swallow, io.fn);
        send(pid, 'go');
        await io.called(1);
        assert.deepEqual(counters(), { ...ZERO, iterations: 1 });
        exit(pid, 'kill');
        assert.equal(isProcessAlive(pid), false);
        if (how === 'fulfils') io.calls[0].resolve('data');
        else io.calls[0].reject(new Error('io failed'));
        await turns();
        assert.deepEqual(counters(), { ...ZERO, iterations: 1 }, 'no catch, no next iteration');
        assert.equal(io.calls.length, 1);
        assert.equal(
          processes().some((x) => x === pid),
          false,
        );
      });
    });
  }

  it('its catch and finally do not run when the awaited promise rejects after the kill', async () => {
    await run(async () => {
      const a = deferred();
      const b = deferred();
      const pa = spawn(z.guarded, a.promise);
      const pb = spawn(z.cleanup, b.promise);
      exit(pa, 'kill');
      exit(pb, 'kill');
      a.reject(new Error('late'));
      b.reject(new Error('late'));
      await turns();
      assert.deepEqual(counters(), ZERO);
    });
  });

  it('nor when it fulfils after the kill', async () => {
    await run(async () => {
      const a = deferred();
      const pa = spawn(z.guarded, a.promise);
      exit(pa, 'kill');
      a.resolve('late');
      await turns();
      assert.deepEqual(counters(), ZERO);
    });
  });

  for (const how of ['yields', 'fails']) {
    it(`a for await loop runs no more of its code when its iterator ${how} after the kill`, async () => {
      const ch = controlledIterable();
      await run(async () => {
        const pid = spawn(z.drain, ch.iterable);
        await ch.asked(1);
        ch.nexts[0].resolve({ value: 1, done: false });
        await ch.asked(2);
        assert.deepEqual(counters(), { ...ZERO, bodies: 1 });
        exit(pid, 'kill');
        if (how === 'yields') ch.nexts[1].resolve({ value: 2, done: false });
        else ch.nexts[1].reject(new Error('stream failed'));
        await turns();
        assert.deepEqual(counters(), { ...ZERO, bodies: 1 });
        assert.equal(ch.nexts.length, 2, 'the loop asked for nothing more');
      });
    });
  }

  it('an unkilled process keeps catch, finally and for await exactly as JavaScript runs them', async () => {
    await run(async () => {
      const results = [];
      const done = deferred();
      spawn(async () => {
        results.push(await z.guarded(Promise.resolve(1)));
        results.push(await z.guarded(Promise.reject(new Error('x'))));
        results.push(await z.cleanup(Promise.reject(new Error('y'))).catch((e) => e.message));
        results.push(await z.early(Promise.resolve(2)));
        const ch = controlledIterable();
        const draining = z.drain(ch.iterable);
        await ch.asked(1);
        ch.nexts[0].resolve({ value: 1, done: false });
        await ch.asked(2);
        ch.nexts[1].resolve({ value: undefined, done: true });
        await draining;
        const failing = controlledIterable();
        const failed = z.drain(failing.iterable);
        await failing.asked(1);
        failing.nexts[0].reject(new Error('z'));
        await failed;
        done.resolve();
      });
      await done.promise;
      assert.deepEqual(results, ['resumed', 'caught', 'y', 'done']);
      // guarded ×2, cleanup, drain ×2: five finallies; catches: guarded, early, the failed drain.
      assert.deepEqual(counters(), {
        iterations: 0,
        caught: 3,
        finallies: 5,
        resumed: 3,
        bodies: 1,
      });
    });
  });

  it('outside any process too', async () => {
    assert.equal(await z.guarded(Promise.reject(new Error('x'))), 'caught');
    assert.equal(await z.early(Promise.resolve(1)), 'done');
    assert.deepEqual(counters(), { ...ZERO, caught: 2, finallies: 1, resumed: 1 });
  });

  it('the counters stay balanced: after the rejection path, and after a kill, softPurge succeeds', async () => {
    await run(async () => {
      // One process goes through a caught rejection and then waits outside zombie's code;
      // another is killed while suspended in zombie and its promise rejects later.
      const live = spawn(async () => {
        await z.guarded(Promise.reject(new Error('caught')));
        await z.cleanup(Promise.resolve()).then(() => receive());
      });
      const late = deferred();
      const killed = spawn(z.guarded, late.promise);
      await turns();
      exit(killed, 'kill');
      late.reject(new Error('late'));
      await turns();
      assert.equal(isProcessAlive(live), true);
      writeSource(p, 'zombie.ts', 'export const v = 2;\n');
      assert.deepEqual(await c('zombie'), { module: 'zombie' });
      assert.equal(checkProcessCode(live, 'zombie'), false);
      assert.equal(code.softPurge('zombie'), true);
      assert.equal(isProcessAlive(live), true, 'softPurge killed nobody');
      exit(live, 'kill');
    });
  });
});
