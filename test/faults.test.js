// S0.5 no fault of one process ends the node; S4.4 a killed process never runs
// again; S5.2 what a message may be. Cases that could end the whole process run
// as child processes (runScript) and must print "alive" and exit 0.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  c,
  code,
  exit,
  genServer,
  isProcessAlive,
  mod,
  monitor,
  receive,
  run,
  self,
  send,
  setLogger,
  spawn,
  spawnMonitor,
  start,
  stop,
} from '../dist/index.js';
import { deferred, project, runScript, writeSource } from './helpers.js';

const p = project();
const reports = [];
let onReport;
before(async () => {
  await start({ src: p.src, out: p.out, typecheck: false });
  setLogger({
    error: (message, meta) => {
      reports.push({ message, meta });
      onReport?.({ message, meta });
    },
  });
});
after(() => stop());

const turns = async (n) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('S4.4 a killed process never runs again (no zombies)', () => {
  it('plain code: a loop that swallows errors stops at its next receive', async () => {
    let iterations = 0;
    const io = deferred();
    const pid = spawn(async () => {
      for (;;) {
        try {
          await receive();
          iterations++;
          await io.promise;
        } catch {
          // swallows everything, as the hostile loop of the issue does
        }
      }
    });
    send(pid, 'go');
    await turns(2);
    assert.equal(iterations, 1);
    exit(pid, 'kill');
    io.resolve(); // the pending io settles after the kill: the loop resumes once…
    await turns(5);
    // …and its next receive() never settles: no spin, no further iteration
    assert.equal(iterations, 1);
    assert.equal(isProcessAlive(pid), false);
  });

  it('compiled code: the loop of a module stops after exit(pid, "kill") whatever its io does', async () => {
    writeSource(
      p,
      'zombie.ts',
      [
        "import { receive } from 'hotcode';",
        'export let iterations = 0;',
        'export async function loop(io: () => Promise<void>): Promise<void> {',
        '  for (;;) {',
        '    try {',
        '      await receive();',
        '      iterations++;',
        '      await io();',
        '    } catch {}',
        '  }',
        '}',
      ].join('\n'),
    );
    assert.deepEqual(await c('zombie'), { module: 'zombie' });
    const z = mod('zombie');
    for (const outcome of ['resolve', 'reject']) {
      const before = z.iterations;
      const io = deferred();
      const pid = spawn(z.loop, () => io.promise);
      send(pid, 'go');
      await turns(2);
      assert.equal(z.iterations, before + 1);
      exit(pid, 'kill');
      if (outcome === 'resolve') io.resolve();
      else io.reject(new Error('io failed after the kill'));
      await turns(5);
      assert.equal(z.iterations, before + 1, `after the io ${outcome}d, the loop ran again`);
    }
  });
});

describe('S0.5 a process that throws anything exits with it; the node goes on', () => {
  const hostile = () => ({
    proxy: new Proxy(
      {},
      {
        get() {
          throw new Error('get trap');
        },
        getPrototypeOf() {
          throw new Error('getPrototypeOf trap');
        },
        ownKeys() {
          throw new Error('ownKeys trap');
        },
      },
    ),
    badStack: Object.defineProperty(new Error('bad stack'), 'stack', {
      get() {
        throw new Error('stack getter');
      },
    }),
    revoked: (() => {
      const r = Proxy.revocable({}, {});
      r.revoke();
      return r.proxy;
    })(),
    badToString: {
      toString() {
        throw new Error('toString');
      },
      toJSON() {
        throw new Error('toJSON');
      },
    },
  });

  it('in this node: exit reason, monitors, links and a crash report for each hostile value', async () => {
    for (const [name, value] of Object.entries(hostile())) {
      for (const sync of [true, false]) {
        const reported = deferred();
        onReport = reported.resolve;
        const { pid, ref } = await run(async () => {
          const r = spawnMonitor(async () => {
            if (!sync) await null;
            throw value;
          });
          const down = await receive((m) => m?.type === 'DOWN');
          assert.equal(down.ref, r.ref);
          assert.equal(down.reason, value, `${name}: the DOWN reason is the thrown value`);
          return r;
        });
        assert.ok(pid && ref);
        const report = await reported.promise;
        assert.equal(report.meta.pid, pid);
        assert.match(report.message, /CRASH REPORT/);
        assert.equal(isProcessAlive(pid), false);
      }
    }
    onReport = undefined;
  });

  it('as a whole program: hostile throws, a returned revoked proxy, a broken logger — exit code 0', async () => {
    const r = await runScript(`
      import { start, stop, spawn, spawnLink, run, receive, trapExit, setLogger } from 'hotcode';
      await start({ src: 'src', out: 'ebin', typecheck: false });
      const revoked = Proxy.revocable({}, {}); revoked.revoke();
      const proxy = new Proxy({}, { get() { throw new Error('trap'); }, getPrototypeOf() { throw new Error('proto'); } });
      const badStack = Object.defineProperty(new Error('e'), 'stack', { get() { throw new Error('stack'); } });
      for (const v of [proxy, badStack, revoked.proxy]) {
        spawn(() => { throw v; });                       // synchronous: spawn itself must not throw
        spawn(async () => { await null; throw v; });
      }
      spawn(() => revoked.proxy);                        // returns a value whose then throws
      await run(async () => {                            // a linked trapping process gets the reason
        trapExit(true);
        spawnLink(() => { throw proxy; });
        const m = await receive();
        if (m.reason !== proxy) throw new Error('wrong reason');
      });
      setLogger({ error() { throw new Error('broken logger'); } });
      spawn(() => { throw proxy; });
      await new Promise((r) => setTimeout(r, 20));
      console.log('alive');
      await stop();
    `);
    assert.equal(r.stdout.trim(), 'alive', r.stderr);
    assert.equal(r.status, 0, r.stderr);
  });

  it('a stray rejected promise in a process is reported with its pid, and the node goes on', async () => {
    // (a whole program: node:test treats a rejection nobody handles as a failure of the test)
    const r = await runScript(`
      import { start, stop, spawn, setLogger } from 'hotcode';
      await start({ src: 'src', out: 'ebin', typecheck: false });
      let report;
      setLogger({ error(message, meta) { report = { message, pid: String(meta.pid) }; } });
      const pid = spawn(() => { Promise.reject(new Error('nobody handles me')); });
      await new Promise((r) => setTimeout(r, 20));
      console.log(JSON.stringify({ pid: String(pid), report }));
      await stop();
    `);
    assert.equal(r.status, 0, r.stderr);
    const { pid, report } = JSON.parse(r.stdout);
    assert.equal(report.pid, pid);
    assert.match(report.message, /rejected and nothing handled it in process <0\.\d+\.0>/);
    assert.match(report.message, /nobody handles me/);
  });

  it('start installs the rejection handler and stop removes it (a whole program)', async () => {
    const r = await runScript(`
      import { start, stop, spawn } from 'hotcode';
      const before = process.listenerCount('unhandledRejection');
      await start({ src: 'src', out: 'ebin', typecheck: false });
      const during = process.listenerCount('unhandledRejection');
      spawn(() => { Promise.reject(new Error('stray')); });
      await new Promise((r) => setTimeout(r, 20));
      await stop();
      console.log(JSON.stringify({ before, during, after: process.listenerCount('unhandledRejection') }));
    `);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { before: 0, during: 1, after: 0 });
    assert.match(r.stderr, /stray/);
  });
});

describe('S5.2 what a message may be', () => {
  it('a thenable cannot be sent (receive would unwrap it): badarg, nothing delivered', async () => {
    await run(async () => {
      const me = self();
      // biome-ignore lint/suspicious/noThenProperty: the point of the test
      assert.throws(() => send(me, { then: (r) => r('X') }), { code: 'badarg' });
      // biome-ignore lint/suspicious/noThenProperty: the point of the test
      assert.throws(() => send(me, { then() {} }), { code: 'badarg' });
      assert.throws(() => send(me, Promise.resolve(1)), { code: 'badarg' });
      assert.equal(await receive(undefined, 0), undefined);
      // a `then` that is not callable is an ordinary property
      // biome-ignore lint/suspicious/noThenProperty: the point of the test
      send(me, { then: 42 });
      // biome-ignore lint/suspicious/noThenProperty: the point of the test
      assert.deepEqual(await receive(), { then: 42 });
    });
  });

  it('a message whose properties throw is delivered; a match that throws on it is no match', async () => {
    await run(async () => {
      const me = self();
      const nasty = Object.defineProperty({}, 'kind', {
        get() {
          throw new Error('kind getter');
        },
      });
      send(me, nasty);
      send(me, { kind: 'ok' });
      const m = await receive((x) => x.kind === 'ok');
      assert.deepEqual(m, { kind: 'ok' });
      assert.equal(await receive(), nasty);
    });
  });

  it('a message whose every property throws (then included) is delivered, not refused', async () => {
    await run(async () => {
      const me = self();
      const hostile = new Proxy(
        {},
        {
          get() {
            throw new Error('trap');
          },
        },
      );
      send(me, hostile); // not a thenable: its `then` cannot even be read
      send(me, 'after');
      // a selective receive skips it (the match throws on it: no match)…
      assert.equal(await receive((m) => m.kind === 'x' || m === 'after'), 'after');
      // …and a plain await receive() cannot be handed it through a promise: it rejects
      await assert.rejects(receive(), /trap/);
    });
  });

  it('a genServer takes a message whose every property throws as an info message', async () => {
    writeSource(
      p,
      'infos.ts',
      [
        'export function init() { return { seen: [] as string[] }; }',
        'export function handleCall(_r: unknown, _f: unknown, s: { seen: string[] }) { return { reply: s.seen, state: s }; }',
        'export function handleInfo(m: unknown, s: { seen: string[] }) {',
        "  let what = 'hostile';",
        "  try { what = typeof (m as { x?: unknown }).x; } catch { what = 'hostile'; }",
        '  return { state: { seen: [...s.seen, what] } };',
        '}',
      ].join('\n'),
    );
    await c('infos');
    const pid = await genServer.start('infos');
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
      },
    );
    send(pid, hostile);
    assert.deepEqual(await genServer.call(pid, 'seen'), ['hostile']);
    assert.equal(isProcessAlive(pid), true);
    await genServer.stop(pid);
  });

  it('a genServer survives a message whose $gen getter throws, and a forged call', async () => {
    writeSource(
      p,
      'sturdy.ts',
      [
        'export function init() { return { infos: 0 }; }',
        'export function handleCall(_r: unknown, _f: unknown, s: { infos: number }) { return { reply: s.infos, state: s }; }',
        'export function handleInfo(_m: unknown, s: { infos: number }) { return { state: { infos: s.infos + 1 } }; }',
      ].join('\n'),
    );
    await c('sturdy');
    const pid = await genServer.start('sturdy');
    send(
      pid,
      Object.defineProperty({}, '$gen', {
        get() {
          throw new Error('$gen getter');
        },
      }),
    );
    send(pid, {
      $gen: 'call',
      from: {
        resolve() {
          throw new Error('forged');
        },
      },
      request: 'x',
    });
    send(pid, { $gen: 'system', from: { pid: 42 }, request: { type: 'terminate', reason: 'x' } });
    assert.equal(await genServer.call(pid, 'count'), 3);
    assert.equal(isProcessAlive(pid), true);
    await genServer.stop(pid);
  });
});

describe('S4.4 the caller of purge is one of the old code users', () => {
  it('a process in a local loop on old code that purges its own module is killed', async () => {
    const src = (v) =>
      [
        "import { code, receive, send, type Pid } from 'hotcode';",
        `export const vsn = ${v};`,
        'export async function loop(): Promise<void> {',
        '  for (;;) {',
        '    const m = await receive<{ op: string; from: Pid }>();',
        "    if (m.op === 'purge') send(m.from, { purged: code.purge('selfpurge') });",
        `    else send(m.from, { vsn: ${v} });`,
        '  }',
        '}',
      ].join('\n');
    writeSource(p, 'selfpurge.ts', src(1));
    await c('selfpurge');
    await run(async () => {
      const pid = spawn(mod('selfpurge').loop);
      const ref = monitor(pid);
      writeSource(p, 'selfpurge.ts', src(2));
      assert.deepEqual(await c('selfpurge'), { module: 'selfpurge' });
      send(pid, { op: 'vsn', from: self() });
      assert.deepEqual(await receive(), { vsn: 1 }); // still on old code: a local loop
      send(pid, { op: 'purge', from: self() });
      // it purged the code it runs: it is killed by its own purge, so it cannot even reply
      const down = await receive((m) => m?.type === 'DOWN');
      assert.deepEqual([down.ref, down.reason], [ref, 'killed']);
      assert.equal(isProcessAlive(pid), false);
      assert.equal(code.checkOldCode('selfpurge'), false);
      assert.equal(await receive(undefined, 0), undefined, 'no reply came from the killed process');
    });
  });
});
