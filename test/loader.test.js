// S6.8 whatever file the loader is given, it answers with a result, never a
// thrown TypeError; S6.5 a code change from an onLoad is on_load_failure;
// S0.6 message passing cannot starve timers.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  c,
  code,
  genServer,
  l,
  mod,
  receive,
  run,
  self,
  send,
  spawn,
  start,
  stop,
} from '../dist/index.js';
import { project, runScript, writeSource } from './helpers.js';

const p = project();
before(() => start({ src: p.src, out: p.out, typecheck: false }));
after(() => stop());

const header = (fields) => `//hotcode ${JSON.stringify(fields)}\n`;
const validHeader = (module) => ({
  format: 2,
  module,
  exports: [],
  imports: [],
  md5: 'x',
  vsn: '1',
  compiledAt: 0,
  source: `/nowhere/${module}.ts`,
  options: {},
});

describe('S6.8 the loader answers every file with a result', () => {
  it('a body that is not a module, a header lacking a field or mistyped: badfile, nothing loaded', () => {
    const cases = {
      nullbody: header(validHeader('nullbody')) + 'return null;\n',
      numbody: header(validHeader('numbody')) + 'return 42;\n',
      nosource: header({ ...validHeader('nosource'), source: undefined }) + 'return {};\n',
      badexports: header({ ...validHeader('badexports'), exports: 'f' }) + 'return {};\n',
      badimports: header({ ...validHeader('badimports'), imports: [1] }) + 'return {};\n',
      badvsn: header({ ...validHeader('badvsn'), vsn: 3 }) + 'return {};\n',
      arrayheader: '//hotcode []\nreturn {};\n',
      notjs: header(validHeader('notjs')) + 'return {;\n',
      // format 1 expected a killed process's code to throw, not to stop: it would run on
      oldformat: header({ ...validHeader('oldformat'), format: 1 }) + 'return {};\n',
    };
    for (const [module, text] of Object.entries(cases)) {
      for (const load of [
        () => code.loadBinary(module, `${module}.js`, text),
        () => code.loadBinary(module, `${module}.js`, Buffer.from(text)),
        () => {
          writeFileSync(join(p.out, `${module}.js`), text);
          return code.loadFile(module);
        },
      ]) {
        const r = load();
        assert.deepEqual(r, { error: 'badfile' }, module);
        assert.equal(code.isLoaded(module), false, module);
      }
    }
  });

  it('an object file whose source-map comment was truncated is badfile, never a crash later', async () => {
    writeSource(p, 'mapped.ts', 'export function boom(): never { throw new Error("boom"); }\n');
    assert.deepEqual(await c('mapped'), { module: 'mapped' });
    const file = join(p.out, 'mapped.js');
    const text = readFileSync(file, 'utf8');
    const cut = text.slice(0, text.length - 40) + '\n';
    assert.deepEqual(code.loadBinary('mapped', file, cut), { error: 'badfile' });
    // the loaded version is untouched and its crashes still map to the source
    assert.throws(
      () => mod('mapped').boom(),
      (e) => /mapped\.ts:1/.test(e.stack),
    );
  });

  it('a crash in code whose map cannot be decoded does not end the node (a whole program)', async () => {
    const r = await runScript(`
      import { start, stop, code, spawn, mod } from 'hotcode';
      await start({ src: 'src', out: 'ebin', typecheck: false });
      const map = Buffer.from(JSON.stringify({ version: 3, sources: ['x.ts'], mappings: '!!!!;;,,zz%%' })).toString('base64');
      const text = '//hotcode ' + JSON.stringify({ format: 2, module: 'weird', exports: ['boom'], imports: [], md5: 'x', vsn: '1', source: '/x.ts' })
        + '\\nconst boom = () => { throw new Error("boom"); };\\nreturn { __proto__: __hcV.proto, boom };\\n//# sourceMappingURL=data:application/json;base64,' + map + '\\n';
      const r = code.loadBinary('weird', 'weird.js', text);
      console.log(JSON.stringify(r));
      spawn(() => mod('weird').boom()); // a crash report reads the stack through prepareStackTrace
      try { mod('weird').boom(); } catch (e) { String(e.stack); }
      await new Promise((r) => setTimeout(r, 10));
      console.log('alive');
      await stop();
    `);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\{"module":"weird"\}\nalive\n$/);
    assert.match(r.stderr, /CRASH REPORT.*Error: boom/s);
  });
});

describe('S6.5 a code change from an onLoad is refused', () => {
  it('onLoad calling l() on its own module fails the load with on_load_failure, saying why', async () => {
    writeSource(p, 'reload.ts', 'export const vsn = "1";\n');
    assert.deepEqual(await c('reload'), { module: 'reload' });
    writeSource(
      p,
      'reload.ts',
      [
        "import { l } from 'hotcode';",
        'export const vsn = "2";',
        "export function onLoad(): void { l('reload'); }",
      ].join('\n'),
    );
    const r = await c('reload');
    assert.deepEqual(r, { error: 'on_load_failure' });
    assert.match(String(r.reason?.message), /being loaded.*not allowed/);
    assert.equal(code.versions('reload').current.vsn, '1');
    assert.equal(code.versions('reload').old, undefined);
    // a caught attempt still fails the load
    writeSource(
      p,
      'reload.ts',
      [
        "import { code } from 'hotcode';",
        'export const vsn = "3";',
        "export function onLoad(): void { try { code.purge('reload'); } catch {} }",
      ].join('\n'),
    );
    assert.deepEqual(await c('reload'), { error: 'on_load_failure' });
    assert.equal(code.versions('reload').current.vsn, '1');
  });

  it('l() from onLoad of another module is refused too, and c() from one rejects', async () => {
    writeSource(p, 'target.ts', 'export const v = 1;\n');
    await c('target');
    writeSource(
      p,
      'meddler.ts',
      "import { l } from 'hotcode';\nexport function onLoad(): void { l('target'); }\n",
    );
    const r = await c('meddler');
    assert.deepEqual(r, { error: 'on_load_failure' });
    assert.equal(code.isLoaded('meddler'), false);
    assert.deepEqual(l('target'), { module: 'target' }, 'outside an onLoad, l works');
  });
});

describe('S0.6 message passing cannot starve timers', () => {
  it('a timer fires during a storm of genServer calls, not after it', async () => {
    writeSource(
      p,
      'echo.ts',
      'export function init() { return 0; }\nexport function handleCall(r: number, _f: unknown, s: number) { return { reply: r, state: s }; }\n',
    );
    await c('echo');
    const pid = await genServer.start('echo');
    const N = 100_000;
    let done = 0;
    let seenByTimer;
    setTimeout(() => {
      seenByTimer = done;
    }, 1);
    await run(async () => {
      for (let i = 0; i < N; i++) {
        await genServer.call(pid, i);
        done++;
      }
    });
    assert.ok(seenByTimer !== undefined && seenByTimer < N, `the timer saw ${seenByTimer} of ${N}`);
    await genServer.stop(pid);
  });

  it('an immediate runs while two processes play ping-pong', async () => {
    const N = 200_000;
    let rounds = 0;
    let seen;
    const pong = spawn(async () => {
      for (;;) {
        const from = await receive();
        send(from, 'pong');
      }
    });
    setImmediate(() => {
      seen = rounds;
    });
    await run(async () => {
      const me = self();
      for (let i = 0; i < N; i++) {
        send(pong, me);
        await receive();
        rounds++;
      }
    });
    assert.ok(seen !== undefined && seen < N, `the immediate saw ${seen} of ${N} rounds`);
  });

  it('a process consuming a long mailbox lets timers run', async () => {
    const N = 200_000;
    let taken = 0;
    let seen;
    await run(async () => {
      const me = self();
      for (let i = 0; i < N; i++) send(me, i);
      setTimeout(() => {
        seen = taken;
      }, 1);
      for (let i = 0; i < N; i++) {
        await receive();
        taken++;
      }
    });
    assert.ok(seen !== undefined && seen < N, `the timer saw ${seen} of ${N}`);
  });
});
