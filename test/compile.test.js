// S1 modules, object files, code path; S6.1–S6.3 compile.file, c, l; bad input.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { c, code, compile, l, mod, start, stop } from '../dist/index.js';
import { project, useFixture, writeSource } from './helpers.js';

const p = project();
before(() => start({ src: p.src, out: p.out, typecheck: false }));
after(() => stop());

const outFiles = () => (existsSync(p.out) ? readdirSync(p.out).sort() : []);

describe('S1.2 object files', () => {
  it('record module, exports, md5, vsn, source, format version, and an inline source map with the source', async () => {
    useFixture(p, 'core/math_v1.ts', 'math.ts');
    const r = await compile.file('math');
    assert.deepEqual(r, { module: 'math', file: join(p.out, 'math.js'), warnings: [] });
    const text = readFileSync(r.file, 'utf8');
    const header = JSON.parse(text.slice(text.indexOf(' ') + 1, text.indexOf('\n')));
    assert.equal(header.module, 'math');
    assert.equal(header.format, 2);
    assert.equal(header.vsn, '1');
    assert.equal(header.md5.length, 32);
    assert.deepEqual([...header.exports].sort(), [
      'Point',
      'add',
      'calls',
      'default',
      'makeAdder',
      'origin',
      'version',
      'vsn',
    ]);
    const map = JSON.parse(Buffer.from(text.match(/base64,(.*)$/m)[1], 'base64').toString());
    assert.equal(map.sourcesContent[0], readFileSync(join(p.src, 'math.ts'), 'utf8'));
    assert.equal(code.isLoaded('math'), false, 'compile.file does not load');
  });
});

describe('S1.3 the code path', () => {
  it('starts as [out, ...path, runtime]; add/del/set validate directories', () => {
    const path = code.getPath();
    assert.equal(path[0], p.out);
    const extra = join(p.dir, 'extra');
    mkdirSync(extra);
    assert.equal(code.addPathA(extra), true);
    assert.equal(code.getPath()[0], extra);
    assert.equal(code.addPath(extra), true);
    assert.equal(code.getPath().at(-1), extra);
    assert.equal(code.addPathZ(extra), true);
    assert.deepEqual(code.addPath(join(p.dir, 'missing')), { error: 'bad_directory' });
    assert.deepEqual(code.addPathA(join(p.src, '..', 'src', 'x.ts')), { error: 'bad_directory' });
    writeFileSync(join(p.dir, 'afile'), '');
    assert.deepEqual(code.setPath([p.out, join(p.dir, 'afile')]), { error: 'bad_directory' });
    assert.equal(code.delPath(extra), true);
    assert.equal(code.delPath(extra), false);
    assert.deepEqual(code.getPath(), path, 'failed calls left the path as it was');
    assert.throws(() => code.addPath(7), { code: 'badarg' });
  });

  it('the first directory that has M.js wins; a directory that disappears is skipped', async () => {
    const other = join(p.dir, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'math.js'), readFileSync(join(p.out, 'math.js')));
    const saved = code.getPath();
    assert.equal(code.setPath([other, ...saved]), true);
    assert.equal(code.which('math'), join(other, 'math.js'));
    const { rmSync } = await import('node:fs');
    rmSync(other, { recursive: true });
    assert.equal(code.which('math'), join(p.out, 'math.js'));
    assert.equal(code.setPath(saved), true);
  });
});

describe('S1.4 imports', () => {
  it('a relative import that is not a sibling module is a compile error that explains', async () => {
    writeSource(p, 'deep.ts', "import { x } from './lib/helper';\nexport const y = x;\n");
    const r = await compile.file('deep');
    assert.equal(r.error, 'compile');
    assert.equal(r.diagnostics[0].line, 1);
    assert.match(r.diagnostics[0].message, /directly in a source directory/);
    writeSource(p, 'up.ts', "import * as z from '../z';\nexport const y = z;\n");
    assert.equal((await compile.file('up')).error, 'compile');
  });

  it('packages are ordinary imports; type-only imports vanish; hotcode gives the node API', async () => {
    writeSource(
      p,
      'uses.ts',
      [
        "import { join } from 'node:path';",
        "import path from 'node:path';",
        "import * as os from 'node:os';",
        "import type { Pid } from 'hotcode';",
        "import { mod } from 'hotcode';",
        "import type { Point } from './math';",
        'export function joined(): string { return join("a", "b") + path.sep + typeof os.platform; }',
        'export function viaApi(): number { return (mod("math") as any).add(1, 1); }',
        'export function typed(p: Point, q?: Pid): number { return p.x + (q ? 1 : 0); }',
        'export const here = import.meta.filename;',
      ].join('\n'),
    );
    assert.deepEqual(await c('uses'), { module: 'uses' });
    assert.equal(mod('uses').joined(), 'a/b/function');
    assert.equal(mod('uses').viaApi(), 2);
    assert.equal(mod('uses').here, join(p.src, 'uses.ts'));
  });

  it('a file whose base name is not an identifier is not a module', async () => {
    writeSource(p, 'my-module.ts', 'export const x = 1;\n');
    await assert.rejects(compile.file('my-module'), { code: 'badarg' });
  });
});

describe('S1.5 exports', () => {
  it('top-level await is a compile error; export * between modules explains', async () => {
    writeSource(p, 'tla.ts', 'const x = await Promise.resolve(1);\nexport { x };\n');
    const r = await compile.file('tla');
    assert.equal(r.error, 'compile');
    assert.equal(r.diagnostics[0].line, 1);
    assert.match(r.diagnostics[0].message, /top-level `await`/);
    writeSource(p, 'star.ts', "export * from './math';\n");
    assert.match((await compile.file('star')).diagnostics[0].message, /export \{ a, b \}/);
    writeSource(p, 'starns.ts', "export * as m from './math';\nexport * from 'node:path';\n");
    assert.deepEqual(await c('starns'), { module: 'starns' });
    assert.equal(typeof mod('starns').m.add, 'function');
    assert.equal(typeof mod('starns').basename, 'function');
  });

  it('top-level statements run once per load', async () => {
    writeSource(
      p,
      'counted.ts',
      'declare const globalThis: any;\nglobalThis.loads = (globalThis.loads ?? 0) + 1;\nexport const n = globalThis.loads;\n',
    );
    await c('counted');
    await c('counted');
    assert.equal(globalThis.loads, 2);
  });
});

describe('S6.1 compile.file', () => {
  it('a syntax error → { error: compile, diagnostics } with file, line, column; nothing written', async () => {
    const before = outFiles();
    writeSource(p, 'broken.ts', 'export const a = 1;\nexport function f( {\n');
    const r = await compile.file('broken');
    assert.equal(r.error, 'compile');
    const d = r.diagnostics[0];
    assert.equal(d.file, join(p.src, 'broken.ts'));
    assert.ok(d.line >= 2, 'at or after the broken line');
    assert.ok(d.column >= 1);
    assert.equal(typeof d.message, 'string');
    assert.deepEqual(outFiles(), before);
  });

  it('no source → nofile; hostile names → badarg, touching no file', async () => {
    assert.deepEqual(await compile.file('does_not_exist'), { error: 'nofile' });
    const before = outFiles();
    for (const bad of ['../x', 'a/b', '', '../../etc/passwd', '..', 'x.ts'])
      await assert.rejects(compile.file(bad), { code: 'badarg' }, bad);
    await assert.rejects(compile.file(42), { code: 'badarg' });
    await assert.rejects(c('../../etc/passwd'), { code: 'badarg' });
    assert.throws(() => l('../../etc/passwd'), { code: 'badarg' });
    assert.deepEqual(outFiles(), before);
  });

  it('several modules as one change: all written or none', async () => {
    writeSource(p, 'm1.ts', 'export const a = 1;\n');
    writeSource(p, 'm2.ts', 'export const a = (;\n');
    const before = outFiles();
    assert.equal((await compile.file(['m1', 'm2'])).error, 'compile');
    assert.deepEqual(outFiles(), before);
    writeSource(p, 'm2.ts', 'export const a = 2;\n');
    const r = await compile.file(['m1', 'm2']);
    assert.deepEqual(
      r.modules.map((m) => m.module),
      ['m1', 'm2'],
    );
    assert.ok(outFiles().includes('m1.js') && outFiles().includes('m2.js'));
  });
});

describe('S6.3 c and l', () => {
  it('c compiles, writes, loads; a broken source leaves the running code untouched', async () => {
    useFixture(p, 'core/math_v1.ts', 'math.ts');
    assert.deepEqual(await c('math'), { module: 'math' });
    writeSource(p, 'math.ts', 'export function version() { return ( }\n');
    const r = await c('math');
    assert.equal(r.error, 'compile');
    assert.equal(mod('math').version(), 1);
  });

  it('c([M1, M2]) is one atomic change', async () => {
    writeSource(p, 'm1.ts', 'export const a = 11;\n');
    writeSource(
      p,
      'm2.ts',
      'export const a = 22;\nexport function onLoad() { throw new Error("refuse"); }\n',
    );
    const r = await c(['m1', 'm2']);
    assert.deepEqual(r, { error: [{ module: 'm2', error: 'on_load_failure' }] });
    assert.equal(code.isLoaded('m1'), false, 'neither was loaded');
    writeSource(p, 'm2.ts', 'export const a = 22;\n');
    assert.deepEqual(await c(['m1', 'm2']), { modules: ['m1', 'm2'] });
    assert.equal(mod('m1').a + mod('m2').a, 33);
  });

  it('l loads from the code path', async () => {
    useFixture(p, 'core/math_v2.ts', 'math.ts');
    await compile.file('math');
    assert.equal(mod('math').version(), 1);
    assert.deepEqual(l('math'), { module: 'math' });
    assert.equal(mod('math').version(), 2);
    assert.deepEqual(l('nothing_there'), { error: 'nofile' });
  });
});

describe('stack traces', () => {
  it('point at the .ts file and line of the version that ran, old versions included', async () => {
    useFixture(p, 'core/counter_v1.ts', 'counter.ts');
    await c('counter');
    const failV1 = mod('counter').fail;
    let e1;
    try {
      failV1();
    } catch (e) {
      e1 = e;
    }
    const lineOf = (text) =>
      readFileSync(join(p.src, 'counter.ts'), 'utf8')
        .split('\n')
        .findIndex((l) => l.includes(text)) + 1;
    const at = (ln) => `${join(p.src, 'counter.ts')}:${ln}:`;
    assert.ok(e1.stack.includes(at(lineOf('counter v1 failed'))), e1.stack);
    // v2 moves the throw down two lines; the old version's frames still map to v1's lines
    useFixture(p, 'core/counter_v1.ts', 'counter.ts');
    writeSource(
      p,
      'counter.ts',
      `// v2\n//\n${readFileSync(join(p.src, 'counter.ts'), 'utf8').replace('counter v1 failed', 'counter v2 failed')}`,
    );
    await c('counter');
    let e2;
    try {
      mod('counter').fail();
    } catch (e) {
      e2 = e;
    }
    assert.ok(e2.stack.includes(at(lineOf('counter v2 failed'))), e2.stack);
    const oldFail = code.versions('counter').old && failV1;
    let e3;
    try {
      oldFail();
    } catch (e) {
      e3 = e;
    }
    assert.match(e3.message, /v2/, 'an external reference runs the current version');
    // a closure of the old version throws: its frame maps to the old version's line
    writeSource(
      p,
      'thrower.ts',
      'export function make() {\n  return () => {\n    throw new Error("old");\n  };\n}\n',
    );
    await c('thrower');
    const closure = mod('thrower').make();
    writeSource(
      p,
      'thrower.ts',
      '\n\n\n\nexport function make() {\n  return () => {\n    throw new Error("new");\n  };\n}\n',
    );
    await c('thrower');
    assert.ok(code.versions('thrower').old);
    assert.throws(closure, (e) => e.stack.includes(`${join(p.src, 'thrower.ts')}:3:`));
  });
});

describe('rewrites keep JavaScript semantics', () => {
  it('labels on for await, async arrows with expression bodies, methods, generators, shadowing', async () => {
    writeSource(
      p,
      'shapes.ts',
      [
        "import * as self from './shapes';",
        'async function* gen(n: number) { for (let i = 0; i < n; i++) { await null; yield i; } }',
        'export async function labeled(): Promise<number> {',
        '  let sum = 0;',
        '  outer: for await (const i of gen(5)) {',
        '    for (const j of [1, 2]) { if (j === 2) continue outer; sum += i * j; }',
        '  }',
        '  return sum;',
        '}',
        'export const arrow = async (x: number) => ({ v: await Promise.resolve(x) });',
        'export class Box { constructor(readonly v: number) {} async get() { await null; return this.v; } }',
        'export async function viaMethod(): Promise<number> { return new self.Box(7).get(); }',
        'export async function defaults(a = 1, b = a + 1): Promise<number> { await null; return self.sum(a, b); }',
        'export function sum(a: number, b: number): number { return a + b; }',
        'export async function shadow(): Promise<number> { const self = { sum: () => 100 }; return self.sum(); }',
        // self tail calls: each call keeps its own parameters, lets and vars
        'export async function collect(n: number, acc: (() => number)[]): Promise<number[]> {',
        '  if (n === 0) return acc.map((f) => f());',
        '  const twice = n * 2;',
        '  acc.push(() => n + twice);',
        '  await null;',
        '  return collect(n - 1, acc);',
        '}',
        'export async function vars(n: number, seen: number[]): Promise<number[]> {',
        '  var v;',
        '  if (n === 2) v = 1;',
        '  seen.push(v ?? 0);',
        '  if (n === 0) return seen;',
        '  return self.vars(n - 1, seen);',
        '}',
        'export async function shadowed(n: number): Promise<number> {',
        '  if (n <= 0) return n;',
        '  {',
        '    const n2 = n - 1;',
        '    let n3 = n2;',
        '    if (n3 > 100) { const n = 0; return shadowed(n); }',
        '    return shadowed(n3);',
        '  }',
        '}',
        'export async function count(n: number, acc: number): Promise<number> {',
        '  if (n === 0) return acc;',
        '  let k = 1;',
        '  k += 0;',
        '  return self.count(n - 1, acc + k);',
        '}',
      ].join('\n'),
    );
    assert.deepEqual(await c('shapes'), { module: 'shapes' });
    const m = mod('shapes');
    assert.equal(await m.labeled(), 10);
    assert.deepEqual(await m.arrow(3), { v: 3 });
    assert.equal(await m.viaMethod(), 7);
    assert.equal(await m.defaults(), 3);
    assert.equal(await m.shadow(), 100);
    assert.deepEqual(
      await m.collect(3, []),
      [9, 6, 3],
      'closures keep the parameters of their call',
    );
    assert.deepEqual(await m.vars(3, []), [0, 1, 0, 0], 'a var starts undefined in each call');
    assert.equal(await m.count(100_000, 0), 100_000, 'a synchronous self tail call needs no stack');
    assert.equal(
      await m.shadowed(500),
      0,
      'a block that shadows a parameter keeps its own binding',
    );
  });
});

describe('stack traces of other code', () => {
  it('keep Node source maps (--enable-source-maps) while a node runs', async () => {
    process.setSourceMapsEnabled(true);
    const { writeFileSync: write } = await import('node:fs');
    const { pathToFileURL } = await import('node:url');
    const file = join(p.dir, 'app.mjs');
    // app.mjs line 1 comes from line 7 of app.ts
    const map = {
      version: 3,
      sources: ['app.ts'],
      names: [],
      mappings: 'AAMA',
    };
    write(
      file,
      `export function boom() { throw new Error('app'); }\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString('base64')}\n`,
    );
    const { boom } = await import(pathToFileURL(file).href);
    assert.throws(boom, (e) => e.stack.includes(`${join(p.dir, 'app.ts')}:7:`));
  });
});
