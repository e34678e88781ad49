// The core of S9.4 deploys: a change compiled and type-checked on another
// machine against the system a node describes, loaded there through the
// change queue, refused with `conflict` if the node moved; and the history
// of code changes (S10.2) that the observer shows.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyDeploy, changeHistory, describeSystem, withOrigin } from '../dist/changes.js';
import { planDeploy } from '../dist/compiler/plan.js';
import { createTypeGate } from '../dist/compiler/typegate/index.js';
import {
  c,
  code,
  compile,
  exit,
  isProcessAlive,
  l,
  mod,
  spawn,
  start,
  stop,
} from '../dist/index.js';
import { project, writeSource } from './helpers.js';

const p = project();
const gate = createTypeGate({ root: p.dir, srcDirs: [p.src] });
before(() => start({ root: p.dir, src: p.src, out: p.out, typecheck: false }));
after(async () => {
  await stop();
  await gate.close();
});

const waiter = (v) =>
  `import { receive } from 'hotcode';\nexport const vsn = '${v}';\nexport function n(): number { return ${v}; }\nexport async function wait(): Promise<void> { await receive(); }\n`;

describe('S9.4 a deploy planned elsewhere, loaded through the queue', () => {
  it('describeSystem tells versions, sources and users; a planned change loads and is written to out', async () => {
    writeSource(p, 'dm.ts', waiter(1));
    await c('dm');
    const pid = spawn(mod('dm').wait);
    const system = describeSystem();
    const cur = system.find((v) => v.module === 'dm' && v.version === 'current');
    assert.equal(cur.number, 1);
    assert.deepEqual(cur.users, [String(pid)]);
    assert.match(cur.source.text, /return 1;/);
    writeSource(p, 'dm.ts', waiter(2));
    const planned = await planDeploy({ srcDirs: [p.src], modules: ['dm'], system, gate });
    assert.equal(planned.ok, true, JSON.stringify(planned));
    const r = await applyDeploy(planned.plan);
    assert.deepEqual(r, { modules: ['dm'], killed: [] });
    assert.equal(mod('dm').n(), 2);
    assert.match(readFileSync(join(p.out, 'dm.js'), 'utf8'), /return 2;/);
    assert.equal(existsSync(join(p.out, `dm.js.${process.pid}.tmp`)), false);
    exit(pid, 'kill');
  });

  it('refused with conflict, changing nothing, when the node moved since the plan', async () => {
    writeSource(p, 'cm.ts', waiter(1));
    await c('cm');
    const system = describeSystem();
    writeSource(p, 'cm.ts', waiter(2));
    const planned = await planDeploy({ srcDirs: [p.src], modules: ['cm'], system });
    writeSource(p, 'cm.ts', waiter(3));
    await c('cm'); // the node moves on
    assert.deepEqual(await applyDeploy(planned.plan), { error: 'conflict', modules: ['cm'] });
    assert.equal(mod('cm').n(), 3);
  });

  it('the deploying side type-checks against the node’s loaded versions, transitions included', async () => {
    writeSource(
      p,
      'fmt.ts',
      'export function line(a: string, b: string): string { return a + b; }\n',
    );
    writeSource(
      p,
      'room.ts',
      [
        "import { receive, send, type Pid } from 'hotcode';",
        "import * as fmt from './fmt';",
        "import * as self from './room';",
        'export async function loop(n: number): Promise<void> {',
        '  const m = await receive<{ from: Pid; a: string; b: string }>();',
        '  send(m.from, fmt.line(m.a, m.b));',
        '  return self.loop(n + 1);',
        '}',
      ].join('\n'),
    );
    await c(['fmt', 'room']);
    const pid = spawn(mod('room').loop, 0);
    writeSource(
      p,
      'fmt.ts',
      'export function line(x: { a: string; b: string }): string { return x.a + x.b; }\n',
    );
    const planned = await planDeploy({
      srcDirs: [p.src],
      modules: ['fmt'],
      system: describeSystem(),
      gate,
    });
    assert.equal(planned.ok, false);
    assert.equal(planned.error, 'compile');
    assert.ok(planned.diagnostics.some((d) => /room\.ts$/.test(d.file)));
    exit(pid, 'kill');
  });

  it('with no modules named, only those whose source differs from what runs', async () => {
    writeSource(p, 'same.ts', 'export const v = 1;\n');
    writeSource(p, 'diff.ts', 'export const v = 1;\n');
    await c(['same', 'diff']);
    writeSource(p, 'diff.ts', 'export const v = 2;\n');
    const planned = await planDeploy({
      srcDirs: [p.src],
      sourceModules: ['same', 'diff'],
      system: describeSystem(),
    });
    assert.deepEqual(
      planned.plan.objects.map((o) => o.module),
      ['diff'],
    );
  });
});

describe('S10.2 the history of code changes', () => {
  it('records origin, modules with versions, result and processes killed', async () => {
    writeSource(p, 'hm.ts', waiter(1));
    await withOrigin('shell', () => c('hm'));
    const user = spawn(mod('hm').wait);
    writeSource(p, 'hm.ts', waiter(2));
    await withOrigin('watch', () => c('hm'));
    writeSource(p, 'hm.ts', waiter(3));
    await c('hm'); // purges version 1: kills its user
    writeSource(p, 'hm.ts', 'export const n: number = "x";\n');
    await c('hm', { typecheck: true });
    const mine = changeHistory().filter((h) => h.modules.some((m) => m.module === 'hm'));
    assert.deepEqual(
      mine.map((h) => [h.origin, h.kind, h.modules[0], h.result, h.killed]),
      [
        ['shell', 'c', { module: 'hm', to: 1 }, 'ok', []],
        ['watch', 'c', { module: 'hm', from: 1, to: 2 }, 'ok', []],
        ['api', 'c', { module: 'hm', from: 2, to: 3 }, 'ok', [String(user)]],
        ['api', 'c', { module: 'hm', from: 3, to: 3 }, 'refused', []],
      ],
    );
    assert.equal(mine.at(-1).error, 'compile');
    assert.equal(typeof mine[0].at, 'number');
    assert.equal(code.isLoaded('hm').file, join(p.out, 'hm.js'));
  });

  it('keeps the synchronous changes too (l, purge, soft purge, delete, loads), not the calls that did nothing', async () => {
    const mine = () =>
      changeHistory()
        .filter((h) => h.modules.some((m) => m.module === 'sm'))
        .map((h) => [h.origin, h.kind, h.modules[0], h.result, h.killed]);
    writeSource(p, 'sm.ts', waiter(1));
    await compile.file('sm');
    assert.deepEqual(l('sm'), { module: 'sm' });
    const user = spawn(mod('sm').wait);
    writeSource(p, 'sm.ts', waiter(2));
    await compile.file('sm');
    withOrigin('shell', () => l('sm'));
    assert.equal(code.softPurge('sm'), false, 'version 1 is used');
    assert.equal(code.purge('sm'), true);
    assert.equal(isProcessAlive(user), false);
    assert.equal(code.purge('sm'), false, 'nothing left to purge');
    assert.equal(code.delete('sm'), true);
    assert.equal(code.softPurge('sm'), true);
    assert.equal(code.loadFile('sm').module, 'sm');
    assert.equal(code.loadFile('no_such_module').error, 'nofile');
    assert.throws(() => code.purge('../../etc/passwd'), { code: 'badarg' });
    assert.deepEqual(mine(), [
      ['api', 'l', { module: 'sm', to: 1 }, 'ok', []],
      ['shell', 'l', { module: 'sm', from: 1, to: 2 }, 'ok', []],
      ['api', 'purge', { module: 'sm', from: 2, to: 2 }, 'ok', [String(user)]],
      ['api', 'delete', { module: 'sm', from: 2 }, 'ok', []],
      ['api', 'softPurge', { module: 'sm' }, 'ok', []],
      ['api', 'load', { module: 'sm', to: 3 }, 'ok', []],
    ]);
    assert.equal(
      changeHistory().some((h) => h.modules.some((m) => m.module === 'no_such_module')),
      false,
    );
  });
});
