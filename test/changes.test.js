// S6.7 code changes happen one at a time, in call order; S0.1 a change cut
// short by stop loads nothing; S8.4 an upgrade that gives up leaves no server
// suspended; S6.3/S7.6 what c accepts and reports.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  c,
  code,
  compile,
  genServer,
  isProcessAlive,
  l,
  mod,
  monitor,
  processInfo,
  receive,
  run,
  setLogger,
  spawn,
  start,
  stop,
  upgrade,
} from '../dist/index.js';
import { deferred, project, writeSource } from './helpers.js';

const p = project();
const options = { root: p.dir, src: p.src, out: p.out, typecheck: false };
before(async () => {
  await start(options);
  setLogger({ error() {} });
});
after(() => stop());

/** A genServer module whose `wait` call blocks until globalThis.__gates[name] resolves. */
function busyServer(v, { codeChange = 'return s;' } = {}) {
  return [
    `export const vsn = '${v}';`,
    'type S = { n: number };',
    'export function init(): S { return { n: 0 }; }',
    'export async function handleCall(req: string, _f: unknown, s: S) {',
    "  if (req === 'wait') await (globalThis as any).__gates.busy;",
    `  return { reply: '${v}', state: s };`,
    '}',
    `export async function codeChange(_old: unknown, s: S) { ${codeChange} }`,
  ].join('\n');
}

const settleOrder = (promises) => {
  const order = [];
  return {
    order,
    all: Promise.all(
      Object.entries(promises).map(([k, pr]) =>
        pr.then((v) => {
          order.push(k);
          return v;
        }),
      ),
    ),
  };
};

describe('S6.7 asynchronous changes are queued', () => {
  it('a c during an upgrade that waits for a busy server runs after it; the upgrade is not undone', async () => {
    const gate = deferred();
    globalThis.__gates = { busy: gate.promise };
    writeSource(p, 'busy.ts', busyServer('1'));
    await c('busy');
    const pid = await genServer.start('busy');
    const blocked = genServer.call(pid, 'wait', 'infinity'); // the server is busy
    writeSource(p, 'busy.ts', busyServer('2'));
    assert.ok('module' in (await compile.file('busy')));
    const up = upgrade({ load: ['busy'], change: [{ server: pid, module: 'busy' }] });
    writeSource(p, 'busy.ts', busyServer('3'));
    const later = c('busy');
    const { order, all } = settleOrder({ up, later });
    // Give the c every chance to run before the server is free (it must not: it waits its turn).
    await Promise.race([later, new Promise((r) => setTimeout(r, 300))]);
    assert.deepEqual(order, [], 'the c did not run while the upgrade was in progress');
    gate.resolve();
    const [upResult, cResult] = await all;
    assert.equal(await blocked, '1');
    assert.equal(upResult.ok, true, JSON.stringify(upResult));
    assert.deepEqual(cResult, { module: 'busy' });
    assert.deepEqual(order, ['up', 'later']);
    assert.equal(code.versions('busy').current.vsn, '3');
    assert.equal(await genServer.call(pid, 'x'), '3');
    await genServer.stop(pid);
  });

  it('two identical upgrades at once both succeed, and the code stays on the new version', async () => {
    writeSource(p, 'twice.ts', busyServer('1'));
    await c('twice');
    const pid = await genServer.start('twice');
    writeSource(p, 'twice.ts', busyServer('2'));
    await compile.file('twice');
    const spec = { load: ['twice'], change: [{ server: pid, module: 'twice' }] };
    const [a, b] = await Promise.all([upgrade(spec), upgrade(spec)]);
    assert.equal(a.ok, true, JSON.stringify(a));
    assert.equal(b.ok, true, JSON.stringify(b));
    assert.equal(code.versions('twice').current.vsn, '2');
    assert.equal(await genServer.call(pid, 'x'), '2');
    await genServer.stop(pid);
  });

  it('two typed c started together: the second is checked against what the first loaded', async () => {
    writeSource(
      p,
      'ga.ts',
      'export function f(): number { return 1; }\nexport function g(): number { return 2; }\n',
    );
    writeSource(
      p,
      'gb.ts',
      "import { f } from './ga';\nexport function use(): number { return f(); }\n",
    );
    assert.deepEqual(await c(['ga', 'gb'], { typecheck: true }), { modules: ['ga', 'gb'] });
    // new ga drops g; new gb uses g: each alone checks against the other's loaded version
    writeSource(p, 'ga.ts', 'export function f(): number { return 1; }\n');
    writeSource(
      p,
      'gb.ts',
      "import { g } from './ga';\nexport function use(): number { return g(); }\n",
    );
    const [ra, rb] = await Promise.all([
      c('ga', { typecheck: true }),
      c('gb', { typecheck: true }),
    ]);
    assert.deepEqual(ra, { module: 'ga' });
    assert.equal(rb.error, 'compile');
    assert.match(rb.diagnostics.map((d) => d.message).join('\n'), /g/);
    assert.equal(mod('gb').use(), 1, 'gb still runs its loaded version, which calls f');
  });

  it('the change started last wins even when the first is slower (typed, then untyped)', async () => {
    writeSource(p, 'w.ts', "export const vsn = '3';\n");
    const first = c('w', { typecheck: true });
    for (let i = 0; i < 3; i++) await null; // the first change has read its source
    writeSource(p, 'w.ts', "export const vsn = '4';\n");
    const second = c('w', { typecheck: false });
    const { order, all } = settleOrder({ first, second });
    const [r1, r2] = await all;
    assert.deepEqual([r1, r2], [{ module: 'w' }, { module: 'w' }]);
    assert.deepEqual(order, ['first', 'second']);
    assert.equal(code.versions('w').current.vsn, '4');
  });

  it('a synchronous change made while an upgrade runs is never undone by its rollback', async () => {
    const gate = deferred();
    globalThis.__gates = { busy: Promise.resolve(), change: gate.promise };
    const migrate =
      "await (globalThis as any).__gates.change; throw new Error('migration failed');";
    writeSource(p, 'keep.ts', busyServer('1'));
    await c('keep');
    const pid = await genServer.start('keep');
    writeSource(p, 'keep.ts', busyServer('2', { codeChange: migrate }));
    await compile.file('keep');
    const up = upgrade({ load: ['keep'], change: [{ server: pid, module: 'keep' }] });
    // wait until the upgrade has loaded v2 and runs its codeChange
    while (code.versions('keep').current.vsn !== '2') await new Promise((r) => setImmediate(r));
    writeSource(p, 'keep.ts', busyServer('3'));
    await compile.file('keep');
    assert.deepEqual(l('keep'), { module: 'keep' }); // synchronous: takes effect at once
    gate.resolve();
    const r = await up;
    assert.equal(r.error, 'code_change_failed');
    assert.equal(r.rolledBack, true);
    assert.equal(code.versions('keep').current.vsn, '3', "the rollback did not undo l('keep')");
    assert.equal(await genServer.call(pid, 'x'), '3');
    await genServer.stop(pid);
  });
});

describe('S8.4 an upgrade that gives up', () => {
  it('kills a server whose codeChange never returns; nothing is left suspended', async () => {
    globalThis.__gates = { busy: Promise.resolve() };
    writeSource(p, 'stuck.ts', busyServer('1'));
    await c('stuck');
    const pid = await genServer.start('stuck');
    // codeChange returns a promise that never settles (it does not await it itself)
    writeSource(
      p,
      'stuck.ts',
      busyServer('2').replace(
        /export async function codeChange.*$/m,
        'export function codeChange(): Promise<S> { return new Promise(() => {}); }',
      ),
    );
    await compile.file('stuck');
    const reason = run(async () => {
      const ref = monitor(pid);
      return (await receive((m) => m?.type === 'DOWN' && m.ref === ref)).reason;
    });
    const r = await upgrade({
      load: ['stuck'],
      change: [{ server: pid, module: 'stuck' }],
      timeoutMs: 300,
    });
    assert.equal(r.error, 'timeout');
    assert.equal(r.rolledBack, true);
    assert.equal(await reason, 'killed');
    assert.equal(isProcessAlive(pid), false);
    assert.equal(code.versions('stuck').current.vsn, '1', 'back on the previous code');
    await assert.rejects(genServer.stop(pid), { code: 'noproc' }); // settles: nothing hangs
  });
});

describe('S6.3 and S7.6 what c accepts and tells', () => {
  it('the path of a source file directly in a source directory names its module; other paths are badarg', async () => {
    writeSource(p, 'bypath.ts', 'export const v = 1;\n');
    assert.deepEqual(await c(`${p.src}/bypath.ts`), { module: 'bypath' });
    for (const bad of ['../x.ts', 'a/b', `${p.src}/nope.ts`, '/etc/passwd', `${p.dir}/bypath.ts`])
      await assert.rejects(c(bad), { code: 'badarg' }, bad);
  });

  it('c reports the processes its purge killed (non-enumerable `killed`)', async () => {
    const src = (v) =>
      `import { receive } from 'hotcode';\nexport const vsn = '${v}';\nexport async function wait(): Promise<void> { await receive(); }\n`;
    writeSource(p, 'victim2.ts', src('1'));
    await c('victim2');
    const pid = spawn(mod('victim2').wait);
    writeSource(p, 'victim2.ts', src('2'));
    const r2 = await c('victim2');
    assert.deepEqual(r2.killed, []);
    writeSource(p, 'victim2.ts', src('3'));
    const r3 = await c('victim2');
    assert.deepEqual(r3, { module: 'victim2' });
    assert.deepEqual(r3.killed, [pid]);
    assert.equal(isProcessAlive(pid), false);
  });
});

describe('S0.1 stop while a change is in progress', () => {
  it('a typed c pending at stop settles with { error: "stopped" } and loads nothing in the next node', async () => {
    writeSource(p, 'late.ts', 'export const v: number = 1;\n');
    const pending = c('late', { typecheck: true });
    const queued = c('late', { typecheck: false });
    await stop();
    await start(options);
    assert.deepEqual(await pending, { error: 'stopped' });
    assert.deepEqual(await queued, { error: 'stopped' });
    assert.equal(code.isLoaded('late'), false);
    // the next node's changes do not wait for the old node's
    assert.deepEqual(await c('late', { typecheck: false }), { module: 'late' });
  });

  it('an upgrade in progress at stop settles with { error: "stopped" } and loads nothing', async () => {
    const gate = deferred();
    globalThis.__gates = { busy: gate.promise };
    writeSource(p, 'halted.ts', busyServer('1'));
    await c('halted');
    const pid = await genServer.start('halted');
    const busy = genServer.call(pid, 'wait', 'infinity').catch(() => 'caller ended');
    writeSource(p, 'halted.ts', busyServer('2'));
    await compile.file('halted');
    const up = upgrade({ load: ['halted'], change: [{ server: pid, module: 'halted' }] });
    const queued = c('halted');
    // in progress: its suspend request waits in the busy server's mailbox
    while ((processInfo(pid)?.messageQueueLen ?? 0) === 0)
      await new Promise((r) => setImmediate(r));
    await stop();
    await start(options);
    assert.deepEqual(await up, { error: 'stopped' });
    assert.deepEqual(await queued, { error: 'stopped' });
    assert.equal(code.isLoaded('halted'), false);
    gate.resolve();
    await busy;
  });
});
