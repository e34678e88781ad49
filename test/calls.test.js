// S3: which code runs — qualified calls, local calls, self-import, external
// references, closures, autoload and undef.
import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  c,
  code,
  mod,
  receive,
  run,
  self,
  send,
  spawn,
  start,
  stop,
  UndefError,
} from '../dist/index.js';
import { FIXTURES, project, useFixture, writeSource } from './helpers.js';

const p = project();
before(async () => {
  await start({ src: p.src, out: p.out, typecheck: false });
});
after(() => stop());

async function ask(pid, op) {
  send(pid, { op, from: self() });
  return receive();
}

describe('S3.1 qualified calls run the current version', () => {
  it('a call through a handle, a named import and mod() all reach the newest version', async () => {
    useFixture(p, 'core/math_v1.ts', 'math.ts');
    useFixture(p, 'core/user_of_math.ts', 'user_of_math.ts');
    assert.deepEqual(await c('math'), { module: 'math' });
    assert.deepEqual(await c('user_of_math'), { module: 'user_of_math' });
    const user = mod('user_of_math');
    assert.equal(user.double(5), 10);
    assert.equal(user.mathVersion(), 1);
    assert.equal(user.point(), 1);
    assert.equal(user.nsPoint(), 1);
    useFixture(p, 'core/math_v2.ts', 'math.ts');
    assert.deepEqual(await c('math'), { module: 'math' });
    assert.equal(user.double(5), 15, 'default import reaches v2');
    assert.equal(user.mathVersion(), 2, 'named import reaches v2');
    assert.equal(user.point(), 2, 'new of a named import constructs the current class');
    assert.equal(user.nsPoint(), 2, 'new m.C() constructs the current class');
    assert.equal(mod('math').version(), 2);
    assert.equal(new (mod('math').Point)(0, 0).version(), 2);
  });

  it('re-exports read through the other module, and let bindings are live', async () => {
    const user = mod('user_of_math');
    const before = user.callCount();
    assert.equal(user.plus(2, 3), 5);
    assert.equal(user.sum(2, 3), 5);
    assert.equal(user.viaNamespace(2, 3), 5);
    assert.equal(user.callCount(), before + 3, 'the let binding `calls` is read live');
    assert.deepEqual(user.origin, { x: 0, y: 0 });
    assert.equal(mod('math').calls, before + 3);
  });

  it('a local binding that shadows an import is left alone', () => {
    assert.equal(
      mod('user_of_math').shadowed((a, b) => a * 100 + b),
      101,
    );
  });
});

describe('S3.2 local calls stay in their version', () => {
  it('a process looping by local calls keeps running the version it started in', async () => {
    useFixture(p, 'core/counter_v1.ts', 'counter.ts');
    await c('counter');
    await run(async () => {
      const pid = spawn(mod('counter').localLoop, 0);
      assert.deepEqual(await ask(pid, 'version'), { version: 1 });
      useFixture(p, 'core/counter_v2.ts', 'counter.ts');
      await c('counter');
      assert.deepEqual(await ask(pid, 'version'), { version: 1 });
      assert.deepEqual(await ask(pid, 'version'), { version: 1 });
      assert.equal(mod('counter').version(), 2);
      send(pid, { op: 'stop' });
    });
  });
});

describe('S3.3 self-import switches to the current version', () => {
  it('a process looping by self.loop() runs the new version at its next message', async () => {
    useFixture(p, 'core/counter_v1.ts', 'counter.ts');
    await c('counter');
    await run(async () => {
      const pid = spawn(mod('counter').loop, 0);
      send(pid, { op: 'inc' });
      assert.deepEqual(await ask(pid, 'version'), { version: 1 });
      useFixture(p, 'core/counter_v2.ts', 'counter.ts');
      await c('counter');
      // the message that wakes it runs in v1 (it was waiting there); its qualified loop call reaches v2
      assert.deepEqual(await ask(pid, 'version'), { version: 1 });
      assert.deepEqual(await ask(pid, 'version'), { version: 2 });
      useFixture(p, 'core/counter_v3.ts', 'counter.ts');
      await c('counter');
      await ask(pid, 'get');
      assert.deepEqual(await ask(pid, 'version'), { version: 3 });
      assert.deepEqual(await ask(pid, 'get'), { count: 1 }, 'state survives every upgrade');
      send(pid, { op: 'stop' });
    });
  });
});

describe('S3.4 external function references and closures', () => {
  it('a function value read from a handle always calls the current version', async () => {
    useFixture(p, 'core/math_v1.ts', 'math.ts');
    await c('math');
    const f = mod('math').version;
    const g = mod('user_of_math').addRef();
    assert.equal(f(), 1);
    useFixture(p, 'core/math_v2.ts', 'math.ts');
    await c('math');
    assert.equal(f(), 2);
    assert.equal(mod('math').version, f, 'the reference is stable across versions');
    assert.equal(g(1, 2), 3);
  });

  it('a reference to a function no version exports yet fails only when called (fun m:f/a)', async () => {
    writeSource(p, 'grows.ts', 'export const size = 1;\n');
    await c('grows');
    const later = mod('grows').later;
    assert.equal(typeof later, 'function');
    assert.throws(
      () => later(),
      (e) => e.code === 'undef' && e.module === 'grows' && e.function === 'later',
    );
    writeSource(
      p,
      'grows.ts',
      'export const size = 2;\nexport function later(): string {\n  return "here";\n}\n',
    );
    await c('grows');
    assert.equal(later(), 'here');
    assert.equal(mod('grows').later, later, 'the same reference once it is exported');
  });

  it('reading a value export of a module not loaded yet autoloads it', async () => {
    writeSource(p, 'cfg.ts', 'export const port = 8080;\n');
    const { compile } = await import('../dist/index.js');
    await compile.file('cfg');
    assert.equal(code.isLoaded('cfg'), false);
    assert.equal(mod('cfg').port, 8080);
  });

  it('a closure belongs to the version that made it', async () => {
    useFixture(p, 'core/math_v1.ts', 'math.ts');
    await c('math');
    const closure = mod('math').makeAdder(0);
    assert.equal(closure(0), 1);
    useFixture(p, 'core/math_v2.ts', 'math.ts');
    await c('math');
    assert.equal(closure(0), 1, 'the v1 closure still runs v1');
    assert.equal(mod('math').makeAdder(0)(0), 2);
  });
});

describe('S3.5 autoload and undef', () => {
  it('a qualified call to a module that is not loaded loads it from the code path', async () => {
    writeSource(p, 'lazy.ts', 'export function hello(): string { return "hi"; }\n');
    const { compile } = await import('../dist/index.js');
    assert.equal((await compile.file('lazy')).module, 'lazy');
    assert.equal(code.isLoaded('lazy'), false);
    assert.equal(mod('lazy').hello(), 'hi');
    assert.deepEqual(code.isLoaded('lazy'), { file: join(p.out, 'lazy.js') });
  });

  it('no object file → UndefError; an object file that appears later is loaded by the next call', async () => {
    const h = mod('later');
    assert.throws(
      () => h.go(),
      (e) =>
        e instanceof UndefError &&
        e.code === 'undef' &&
        e.module === 'later' &&
        e.function === 'go',
    );
    writeSource(p, 'later.ts', 'export function go(): number { return 42; }\n');
    const { compile } = await import('../dist/index.js');
    await compile.file('later');
    assert.equal(h.go(), 42, 'no negative caching');
  });

  it('a function the module does not export → undef naming it; the module stays loaded', () => {
    assert.throws(
      () => mod('lazy').nope(),
      (e) => e.code === 'undef' && e.function === 'nope' && /not exported by lazy/.test(e.message),
    );
    assert.ok(code.isLoaded('lazy'));
  });

  it('probes never autoload or throw: then, symbols, toJSON, constructor, non-identifiers', async () => {
    const h = mod('neverloaded');
    assert.equal(h.then, undefined);
    assert.equal(h[Symbol.iterator], undefined);
    assert.equal(h.toJSON, undefined);
    assert.equal(h.constructor, undefined);
    assert.equal(h['not-an-identifier'], undefined);
    assert.equal(await Promise.resolve(h), h, 'a handle can be awaited');
    assert.match(String(h), /neverloaded/);
    const { inspect } = await import('node:util');
    assert.match(inspect(h), /neverloaded/);
    assert.equal(JSON.stringify({ h }), '{"h":{}}');
    assert.equal(code.isLoaded('neverloaded'), false);
  });

  it('an exported function removed by a later version is undef', async () => {
    writeSource(
      p,
      'shrinking.ts',
      'export function a(): number { return 1; }\nexport function b(): number { return 2; }\n',
    );
    await c('shrinking');
    const b = mod('shrinking').b;
    assert.equal(b(), 2);
    writeSource(p, 'shrinking.ts', 'export function a(): number { return 1; }\n');
    await c('shrinking');
    assert.throws(() => mod('shrinking').b(), { code: 'undef' });
    assert.throws(() => b(), { code: 'undef' });
  });

  it('deleting the object file after a failed autoload keeps failing cleanly', () => {
    rmSync(join(p.out, 'later.js'));
    copyFileSync(join(FIXTURES, 'core/math_v1.ts'), join(p.src, 'unused.ts'));
    assert.throws(() => mod('unused').add(1, 2), { code: 'undef' });
  });
});
