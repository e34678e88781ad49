// S6.8 what the compiler writes loads: every export name that compiles, a module that
// could not be loaded is a compile error, a write that fails is { error: 'write' }.
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { c, code, compile, mod, start, stop } from '../dist/index.js';
import { project, useFixture, writeSource } from './helpers.js';

const p = project();
before(() => start({ src: p.src, out: p.out, typecheck: false }));
after(() => stop());

const outFiles = () => (existsSync(p.out) ? readdirSync(p.out).sort() : []);

const NAMES = [
  'bump',
  '__proto__',
  'a-b',
  'constructor',
  'toString',
  'hasOwnProperty',
  'let binding',
  '',
  '0',
  'vsn',
];

describe('S6.8 every export name that compiles loads', () => {
  it('__proto__, "a-b", "constructor", toString, "" … are own exports, read through the handle', async () => {
    useFixture(p, 'compiler/names.ts', 'names.ts');
    assert.deepEqual(await c('names'), { module: 'names' });
    const h = mod('names');
    assert.deepEqual(new Set(Object.keys(h)), new Set(NAMES));
    assert.equal(Object.hasOwn(h, '__proto__'), true);
    assert.equal(h.__proto__, 'proto');
    assert.equal(h['a-b'], 'dash');
    assert.equal(h.constructor, 'ctor');
    assert.equal(h.toString(), 'str');
    // biome-ignore lint/suspicious/noPrototypeBuiltins: an export of that name is the point
    assert.equal(h.hasOwnProperty(), 'str');
    assert.equal(h[''], 'proto');
    assert.equal(h['0'], 'dash');
    assert.equal(h['let binding'], 0);
    assert.equal(h.bump(), 1);
    assert.equal(h['let binding'], 1, 'a let export is read from the current version');
    // The exports object kept its prototype (the miss proxy): a missing name is still undef.
    assert.throws(() => h.nope(), { code: 'undef' });
    const v = code.versions('names');
    assert.equal(v.current.vsn, 'names-1');
    assert.deepEqual(new Set(JSON.parse(headerOf('names')).exports), new Set(NAMES));
  });

  it('re-exports of such names, and a namespace re-exported under one', async () => {
    useFixture(p, 'compiler/reexport_names.ts', 'reexport_names.ts');
    assert.deepEqual(await c('reexport_names'), { module: 'reexport_names' });
    const r = mod('reexport_names');
    assert.equal(Object.hasOwn(r, '__proto__'), true);
    assert.equal(r.__proto__, 'proto');
    assert.equal(r['__proto__ too'], 'dash');
    assert.equal(r.__proto__2(), 2);
    assert.equal(r['the-module'], mod('names'));
  });

  it('compile.file writes an object file that code.loadFile loads', async () => {
    writeSource(
      p,
      'names2.ts',
      "const a = 1;\nexport { a as __proto__, a as 'x y' };\nexport const __proto__2 = 2;\n",
    );
    const r = await compile.file('names2');
    assert.equal(r.error, undefined, JSON.stringify(r));
    assert.deepEqual(code.loadFile('names2'), { module: 'names2' });
    assert.equal(Object.hasOwn(mod('names2'), '__proto__'), true);
    assert.equal(mod('names2').__proto__, 1);
    assert.equal(mod('names2')['x y'], 1);
  });
});

describe('S6.8 a module that could not be loaded is a compile error, never an object file', () => {
  it('names the generated code uses (__hc…) are refused at compile time, with the place', async () => {
    const cases = [
      ['clash_top.ts', 'export const x = 1;\nexport const __hcV = 2;\n', 2, 14],
      ['clash_fn.ts', 'export function f() {\n  function __hc() {}\n  return __hc;\n}\n', 2, 12],
      [
        'clash_local.ts',
        'export async function f(x: Promise<number>) {\n  var __hc_c = await x;\n  return __hc_c;\n}\n',
        2,
        7,
      ],
      ['clash_ref.ts', 'export function f() {\n  return __hc.api;\n}\n', 2, 10],
      ['clash_label.ts', 'export function f() {\n  __hc_top: for (;;) break __hc_top;\n}\n', 2, 3],
    ];
    for (const [file, text, line, column] of cases) {
      const name = file.replace('.ts', '');
      writeSource(p, file, text);
      const r = await compile.file(name);
      assert.equal(r.error, 'compile', `${name}: ${JSON.stringify(r)}`);
      assert.equal(r.diagnostics.length, 1, JSON.stringify(r.diagnostics));
      const d = r.diagnostics[0];
      assert.equal(d.file, join(p.src, file));
      assert.deepEqual([d.line, d.column], [line, column], `${name}: ${JSON.stringify(d)}`);
      assert.match(d.message, /names that start with __hc are reserved .*rename it/);
      assert.equal(outFiles().includes(`${name}.js`), false, `${name}: nothing written`);
      const loaded = await c(name);
      assert.equal(loaded.error, 'compile');
      assert.equal(code.isLoaded(name), false);
    }
  });

  it('the body is checked as the function body the loader compiles (a SyntaxError is a diagnostic)', async () => {
    // Every module that compiles passes the check, so the check itself is tried directly.
    const { syntaxErrorOf } = await import('../dist/compiler/compile.js');
    assert.equal(syntaxErrorOf('"use strict";\nconst a = 1;\nreturn { a };', 'm.ts'), undefined);
    assert.deepEqual(
      syntaxErrorOf('"use strict";\nreturn { __proto__: __hcV.proto, __proto__: 1 };', 'm.ts'),
      {
        message: 'SyntaxError: Duplicate __proto__ fields are not allowed in object literals',
        line: 2,
        column: 33,
      },
    );
    assert.equal(syntaxErrorOf('"use strict";\nconst __hcV = 1;', 'm.ts').line, 2);
  });
});

describe('S6.8 a write that fails is { error: write, reason }, the running code untouched', () => {
  const v1 = 'export const v = 1;\nexport function f() { return v; }\n';
  const v2 = 'export const v = 2;\nexport function f() { return v; }\n';

  /** Loads w v1, makes `out` unwritable with `spoil`, then c(w v2) must fail and change nothing. */
  async function refusedWrite(spoil, restore, errno) {
    writeSource(p, 'w.ts', v1);
    assert.deepEqual(await c('w'), { module: 'w' });
    const before = code.versions('w');
    writeSource(p, 'w.ts', v2);
    spoil();
    try {
      for (const r of [await c('w'), await compile.file('w')]) {
        assert.deepEqual(Object.keys(r).sort(), ['error', 'reason']);
        assert.equal(r.error, 'write');
        assert.match(r.reason, new RegExp(`could not write .*w\\.js .*${errno}`));
        assert.match(
          r.reason,
          /Check that the out directory .* exists, is a directory and is writable/,
        );
      }
      const many = await c(['w']);
      assert.equal(many.error, 'write', `c([M]) too: ${JSON.stringify(many)}`);
      assert.equal(mod('w').f(), 1, 'the running code is untouched');
      assert.deepEqual(code.versions('w'), before);
    } finally {
      restore();
    }
    assert.deepEqual(
      outFiles().filter((f) => f.includes('.tmp')),
      [],
      'no temporary file is left',
    );
    assert.deepEqual(await c('w'), { module: 'w' }, 'once out is back, c works');
    assert.equal(mod('w').f(), 2);
  }

  it('out removed: ENOENT becomes { error: write }', async () => {
    await refusedWrite(
      () => rmSync(p.out, { recursive: true }),
      () => mkdirSync(p.out),
      'ENOENT',
    );
  });

  it('a file where out should be: ENOTDIR becomes { error: write }', async () => {
    const saved = join(p.dir, 'ebin.saved');
    await refusedWrite(
      () => {
        rmSync(saved, { recursive: true, force: true });
        renameSync(p.out, saved);
        writeFileSync(p.out, 'not a directory');
      },
      () => {
        rmSync(p.out);
        renameSync(saved, p.out);
      },
      'ENOTDIR',
    );
  });

  it('out read-only: EACCES becomes { error: write }', async (t) => {
    if (process.getuid?.() === 0) {
      t.skip('running as root: chmod does not stop root from writing (the other cases cover S6.8)');
      return;
    }
    await refusedWrite(
      () => chmodSync(p.out, 0o555),
      () => chmodSync(p.out, 0o755),
      'EACCES',
    );
  });

  it('c([M1, M2]) where M2 cannot be written: neither is written (M1 keeps its object file)', async () => {
    writeSource(p, 'w1.ts', 'export const v = 1;\n');
    writeSource(p, 'w2.ts', 'export const v = 1;\n');
    assert.deepEqual(await c(['w1', 'w2']), { modules: ['w1', 'w2'] });
    const w1Before = readFileSync(join(p.out, 'w1.js'), 'utf8');
    writeSource(p, 'w1.ts', 'export const v = 2;\n');
    writeSource(p, 'w2.ts', 'export const v = 2;\n');
    // A directory where w2.js should go: the temporary files are written, w1's rename
    // succeeds, w2's fails, and w1.js gets its previous contents back.
    rmSync(join(p.out, 'w2.js'));
    mkdirSync(join(p.out, 'w2.js'));
    writeFileSync(join(p.out, 'w2.js', 'keep'), '');
    try {
      const r = await c(['w1', 'w2']);
      assert.equal(r.error, 'write', JSON.stringify(r));
      assert.match(r.reason, /could not write .*w2\.js/);
      assert.equal(readFileSync(join(p.out, 'w1.js'), 'utf8'), w1Before, 'w1.js as it was');
      assert.deepEqual(
        outFiles().filter((f) => f.includes('.tmp')),
        [],
      );
      assert.equal(mod('w1').v, 1);
      assert.equal(mod('w2').v, 1);
      assert.deepEqual(
        code.modifiedModules().filter((m) => m.startsWith('w')),
        [],
      );
    } finally {
      rmSync(join(p.out, 'w2.js'), { recursive: true });
    }
  });
});

function headerOf(m) {
  const text = readFileSync(join(p.out, `${m}.js`), 'utf8');
  return text.slice(text.indexOf(' ') + 1, text.indexOf('\n'));
}
