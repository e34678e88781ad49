// S6.8 what the compiler writes loads: every export name that compiles, a module that
// could not be loaded is a compile error, a write that fails is { error: 'write' }.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

function headerOf(m) {
  const text = readFileSync(join(p.out, `${m}.js`), 'utf8');
  return text.slice(text.indexOf(' ') + 1, text.indexOf('\n'));
}
