// S6.2 through c and compile.file: the type gate refuses a reload that breaks
// the module or its callers, and nothing is written or loaded.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { c, code, compile, mod, start, stop } from '../dist/index.js';
import { FIXTURES, project } from './helpers.js';

const V = join(FIXTURES, 'typegate', 'versions');
const p = project();
const put = (name, text) => writeFileSync(join(p.src, name), text);
const version = (f) => readFileSync(join(V, f), 'utf8');
const outFiles = () => (existsSync(p.out) ? readdirSync(p.out).sort() : []);

before(async () => {
  for (const f of readdirSync(join(FIXTURES, 'typegate', 'adder', 'src')))
    put(f, readFileSync(join(FIXTURES, 'typegate', 'adder', 'src', f), 'utf8'));
  await start({ root: p.dir, src: 'src', out: 'ebin' }); // typecheck on by default
});
after(() => stop());

describe('S6.2 the type gate in c and compile.file', () => {
  it('a body-only change passes; an unrelated broken file does not block', async () => {
    assert.deepEqual(await c(['adder', 'user_of_adder']), { modules: ['adder', 'user_of_adder'] });
    put('adder.ts', version('adder.body_edit.ts'));
    assert.deepEqual(await c('adder'), { module: 'adder' });
  });

  it('a type error in the changed module is refused: nothing written, running code untouched', async () => {
    const before = readFileSync(join(p.out, 'adder.js'), 'utf8');
    put('adder.ts', version('adder.type_error.ts'));
    const r = await c('adder');
    assert.equal(r.error, 'compile');
    const d = r.diagnostics[0];
    assert.equal(d.file, join(p.src, 'adder.ts'));
    assert.equal(typeof d.code, 'number');
    assert.ok(d.line >= 1 && d.column >= 1);
    assert.equal(d.category, 'error');
    assert.equal(readFileSync(join(p.out, 'adder.js'), 'utf8'), before);
    assert.equal(mod('user_of_adder').three(), 3);
  });

  it('a signature change that breaks an importer is refused with a diagnostic in the importer', async () => {
    put('adder.ts', version('adder.strings.ts'));
    const r = await c('adder');
    assert.equal(r.error, 'compile');
    const d = r.diagnostics.find((x) => x.file === join(p.src, 'user_of_adder.ts'));
    assert.ok(d, JSON.stringify(r.diagnostics));
    assert.equal(d.line, 4);
    assert.equal(code.versions('adder').current.md5.length, 32);
    const r2 = await compile.file('adder');
    assert.equal(r2.error, 'compile', 'compile.file runs the gate too');
  });

  it('the same change with its updated importer in one c([...]) passes: both loaded', async () => {
    const files = outFiles();
    put('user_of_adder.ts', version('user_of_adder.strings.ts'));
    assert.deepEqual(await c(['adder', 'user_of_adder']), { modules: ['adder', 'user_of_adder'] });
    assert.deepEqual(outFiles(), files);
  });

  it('an importer changed on disk but not loaded: the check uses the loaded version', async () => {
    // back to numbers: the loaded user_of_adder (strings) would break, whatever the disk says
    put(
      'user_of_adder.ts',
      readFileSync(join(FIXTURES, 'typegate', 'adder', 'src', 'user_of_adder.ts'), 'utf8'),
    );
    put('adder.ts', readFileSync(join(FIXTURES, 'typegate', 'adder', 'src', 'adder.ts'), 'utf8'));
    const r = await c('adder');
    assert.equal(r.error, 'compile');
    assert.ok(r.diagnostics.some((x) => x.file === join(p.src, 'user_of_adder.ts')));
  });

  it('{ typecheck: false } turns the gate off for one call; syntax errors stop it either way', async () => {
    put('adder.ts', version('adder.type_error.ts'));
    assert.deepEqual(await c('adder', { typecheck: false }), { module: 'adder' });
    put('adder.ts', 'export function add(a: number, b: number) { return a + ; }\n');
    assert.equal((await c('adder', { typecheck: false })).error, 'compile');
  });

  it('a broken tsconfig.json → a clear error naming the file and position; nothing loaded', async () => {
    put('adder.ts', version('adder.body_edit.ts'));
    writeFileSync(join(p.dir, 'tsconfig.json'), '{ "compilerOptions": { "strict": true,, } }');
    const before = code.versions('adder').current.md5;
    const r = await c('adder');
    assert.equal(r.error, 'compile');
    assert.equal(r.diagnostics[0].file, join(p.dir, 'tsconfig.json'));
    assert.equal(r.diagnostics[0].line, 1);
    assert.equal(code.versions('adder').current.md5, before);
  });
});
