// S4: purge, soft purge, and the processes that run old code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  c,
  checkProcessCode,
  code,
  exit,
  isProcessAlive,
  l,
  mod,
  monitor,
  processInfo,
  receive,
  run,
  self,
  send,
  signal,
  spawn,
  spawnLink,
  start,
  stop,
  trapExit,
} from '../dist/index.js';
import { project, useFixture, writeSource } from './helpers.js';

const p = project();
before(() => start({ src: p.src, out: p.out, typecheck: false }));
after(() => stop());

async function load(version) {
  useFixture(p, `core/counter_${version}.ts`, 'counter.ts');
  assert.deepEqual(await c('counter'), { module: 'counter' });
}

async function ask(pid, op) {
  send(pid, { op, from: self() });
  return receive((m) => m?.type !== 'DOWN');
}

describe("the seed's scenario end to end", () => {
  it('local loop: v2 keeps it on v1; v3 kills it (a monitor sees killed); a self-qualified loop survives', async () => {
    await load('v1');
    await run(async () => {
      const local = spawn(mod('counter').localLoop, 0);
      const qualified = spawn(mod('counter').loop, 0);
      const localRef = monitor(local);
      const qRef = monitor(qualified);
      await ask(local, 'get');
      await ask(qualified, 'get');
      await load('v2');
      assert.deepEqual(await ask(local, 'version'), { version: 1 });
      assert.deepEqual(await ask(qualified, 'version'), { version: 1 });
      assert.deepEqual(await ask(qualified, 'version'), { version: 2 });
      assert.equal(checkProcessCode(local, 'counter'), true);
      assert.equal(checkProcessCode(qualified, 'counter'), false);
      assert.deepEqual(processInfo(local).modules, [{ module: 'counter', version: 'old' }]);
      assert.deepEqual(processInfo(qualified).modules, [{ module: 'counter', version: 'current' }]);
      await load('v3');
      assert.deepEqual(await receive((m) => m?.type === 'DOWN'), {
        type: 'DOWN',
        ref: localRef,
        pid: local,
        reason: 'killed',
      });
      assert.equal(isProcessAlive(local), false);
      assert.deepEqual(await ask(qualified, 'version'), { version: 2 });
      assert.deepEqual(await ask(qualified, 'version'), { version: 3 });
      send(qualified, { op: 'stop' });
      assert.equal((await receive((m) => m?.type === 'DOWN')).ref, qRef);
    });
  });
});

describe('S4.1 purge', () => {
  it('kills every process using the old version with reason killed and returns whether it killed any', async () => {
    await load('v1');
    await run(async () => {
      trapExit(true);
      const a = spawnLink(mod('counter').localLoop, 0);
      const b = spawn(mod('counter').localLoop, 0);
      const bystander = spawn(async () => {
        await receive();
      });
      await load('v2');
      assert.equal(code.softPurge('counter'), false);
      assert.equal(code.purge('counter'), true);
      assert.deepEqual(await receive(), { type: 'EXIT', from: a, reason: 'killed' });
      assert.equal(isProcessAlive(b), false);
      assert.equal(isProcessAlive(bystander), true);
      assert.equal(isProcessAlive(self()), true, 'the caller of purge is unaffected');
      assert.equal(code.checkOldCode('counter'), false);
      assert.equal(code.purge('counter'), false, 'no old code');
      exit(bystander, 'kill');
    });
  });
});

describe('S4.2 softPurge', () => {
  it('refuses and changes nothing while a process uses the old version; succeeds once it left', async () => {
    await load('v1');
    await run(async () => {
      const pid = spawn(mod('counter').localLoop, 0);
      await load('v2');
      const before = code.versions('counter');
      assert.equal(code.softPurge('counter'), false);
      assert.deepEqual(code.versions('counter'), before);
      assert.equal(isProcessAlive(pid), true);
      const ref = monitor(pid);
      send(pid, { op: 'stop' });
      await receive((m) => m.ref === ref);
      assert.equal(code.softPurge('counter'), true);
      assert.equal(code.versions('counter').old, undefined);
    });
  });
});

describe('S4.3 which processes use a version', () => {
  it('a frame that returned (including by rejection) no longer counts', async () => {
    writeSource(
      p,
      'waiter.ts',
      [
        "import { receive } from 'hotcode';",
        'export async function failing(): Promise<void> {',
        '  await Promise.reject(new Error("nope"));',
        '}',
        'export async function catcher(): Promise<string> {',
        '  try {',
        '    await failing();',
        '  } catch {',
        '    // the rejected await must not leave a count behind',
        '  }',
        '  return "caught";',
        '}',
        'export async function wait(): Promise<unknown> {',
        '  return await receive();',
        '}',
        'export async function tailOut(): Promise<string> {',
        '  await Promise.resolve();',
        '  return "done";',
        '}',
      ].join('\n'),
    );
    await c('waiter');
    await run(async () => {
      const me = self();
      const pid = spawn(async () => {
        const r = await mod('waiter').catcher();
        send(me, r);
        await mod('waiter').tailOut();
        send(me, 'returned');
        await new Promise(() => {}); // suspended in plain code only
      });
      assert.equal(await receive(), 'caught');
      assert.equal(await receive(), 'returned');
      writeSource(p, 'waiter.ts', 'export const v = 2;\n');
      await c('waiter');
      assert.equal(checkProcessCode(pid, 'waiter'), false);
      assert.equal(code.softPurge('waiter'), true, 'a rejected await left no count');
      assert.equal(isProcessAlive(pid), true);
      exit(pid, 'kill');
    });
  });

  it('an await at any depth counts: a plain function calling into the module', async () => {
    writeSource(
      p,
      'deep.ts',
      "import { receive } from 'hotcode';\nexport async function inner() { return await receive(); }\n",
    );
    await c('deep');
    await run(async () => {
      const pid = spawn(async () => {
        await (async () => mod('deep').inner())();
      });
      writeSource(p, 'deep.ts', 'export const v = 2;\n');
      await c('deep');
      assert.equal(checkProcessCode(pid, 'deep'), true);
      assert.deepEqual(processInfo(pid).modules, [{ module: 'deep', version: 'old' }]);
      const ref = monitor(pid);
      assert.equal(code.purge('deep'), true);
      assert.equal((await receive((m) => m.ref === ref)).reason, 'killed');
    });
  });
});

describe('S4.4 a killed process runs no more of its code', () => {
  it('no finally runs after a pending receive; its signal is aborted; mailbox dropped', async () => {
    writeSource(
      p,
      'victim.ts',
      [
        "import { receive, signal, send, type Pid } from 'hotcode';",
        'export async function run(observer: Pid): Promise<void> {',
        '  const s = signal();',
        '  s.addEventListener("abort", () => send(observer, { aborted: s.reason }));',
        '  try {',
        '    await receive((m) => m === "never");',
        '  } finally {',
        '    send(observer, "finally ran");',
        '  }',
        '}',
        'export async function sleeper(observer: Pid, gate: Promise<void>): Promise<void> {',
        '  try {',
        '    await gate;',
        '    send(observer, "resumed normally");',
        '  } catch (e) {',
        '    (globalThis as any).sleeperSaw = (e as { code?: string }).code;',
        '    send(observer, "a killed process cannot send");',
        '  }',
        '}',
      ].join('\n'),
    );
    await c('victim');
    await run(async () => {
      const me = self();
      const pid = spawn(mod('victim').run, me);
      send(pid, 'queued');
      let open;
      const gate = new Promise((r) => {
        open = r;
      });
      const sleeper = spawn(mod('victim').sleeper, me, gate);
      writeSource(p, 'victim.ts', 'export const v = 2;\n');
      await c('victim');
      assert.equal(code.purge('victim'), true);
      assert.deepEqual(await receive(), { aborted: 'killed' });
      assert.equal(isProcessAlive(pid), false);
      assert.equal(isProcessAlive(sleeper), false);
      open();
      await gate;
      await new Promise((r) => setImmediate(r));
      assert.equal(
        globalThis.sleeperSaw,
        undefined,
        'an await in compiled code of a killed process never resumes, not even into its catch',
      );
      assert.equal(
        await receive(undefined, 20),
        undefined,
        'no finally ran, and later runtime calls threw',
      );
    });
  });

  it('later runtime calls from it throw; bystanders and the purger are unaffected', async () => {
    await run(async () => {
      let later;
      const pid = spawn(async () => {
        await new Promise((r) => {
          later = r;
        });
        return self();
      });
      const ref = monitor(pid);
      exit(pid, 'kill');
      assert.equal((await receive()).ref, ref);
      const { deferred } = await import('./helpers.js');
      const d = deferred();
      const p2 = spawn(async () => {
        await receive();
      });
      const watcher = spawn(async () => {
        d.resolve(isProcessAlive(p2));
      });
      void watcher;
      assert.equal(await d.promise, true);
      later();
      exit(p2, 'kill');
    });
  });
});

describe('c, l and loadBinary purge before installing', () => {
  it('loading a third version with l kills processes still in the first', async () => {
    await load('v1');
    await run(async () => {
      const pid = spawn(mod('counter').localLoop, 0);
      const ref = monitor(pid);
      await load('v2');
      assert.equal(isProcessAlive(pid), true);
      useFixture(p, 'core/counter_v3.ts', 'counter.ts');
      const { compile } = await import('../dist/index.js');
      await compile.file('counter');
      assert.deepEqual(l('counter'), { module: 'counter' });
      assert.equal((await receive((m) => m.ref === ref)).reason, 'killed');
    });
  });

  it('a version that fails to load kills nobody', async () => {
    await load('v1');
    await run(async () => {
      const pid = spawn(mod('counter').localLoop, 0);
      await load('v2');
      writeSource(p, 'counter.ts', 'export function onLoad() { return false; }\n');
      assert.deepEqual(await c('counter'), { error: 'on_load_failure' });
      assert.equal(isProcessAlive(pid), true);
      assert.equal(mod('counter').version(), 2);
      exit(pid, 'kill');
    });
  });
});

describe('S3.3 tail calls', () => {
  it('tail-call values never reach plain code, Promise.all, .then or callbacks', async () => {
    writeSource(
      p,
      'tails.ts',
      [
        "import * as self from './tails';",
        'export async function count(n: number, acc: number): Promise<number> {',
        '  if (n === 0) return acc;',
        '  await null;',
        '  return self.count(n - 1, acc + 1);',
        '}',
        'export async function local(n: number): Promise<number> {',
        '  if (n === 0) return 0;',
        '  return local(n - 1);',
        '}',
        'export async function viaCallback(): Promise<number[]> {',
        '  return Promise.all([count(3, 0), local(2), [1].map(() => count(1, 0))[0]!]);',
        '}',
      ].join('\n'),
    );
    await c('tails');
    const t = mod('tails');
    assert.equal(await t.count(1000, 0), 1000);
    assert.equal(await t.local(1000), 0);
    assert.deepEqual(await Promise.all([t.count(2, 0), t.local(3)]), [2, 0]);
    assert.equal(await t.count(5, 0).then((x) => x * 2), 10);
    assert.deepEqual(await t.viaCallback(), [3, 0, 1]);
    assert.equal(await run(() => t.count(10, 0)), 10);
  });
});

describe('S4.4 signal listeners', () => {
  it('run at the exit outside any process: not as the killer', async () => {
    const seen = [];
    const pid = spawn(async () => {
      const s = signal();
      s.addEventListener('abort', () => {
        try {
          seen.push(String(self()));
        } catch (e) {
          seen.push(e.code);
        }
      });
      await receive();
    });
    await run(async () => {
      exit(pid, 'kill');
    });
    assert.deepEqual(seen, ['no_process']);
  });
});
