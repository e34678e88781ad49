// S2: current and old versions; S6.4 loading results; S6.5 onLoad; S6.6 sticky directories.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { c, code, compile, l, mod, start, stop } from '../dist/index.js';
import { project, useFixture, writeSource } from './helpers.js';

const p = project();
before(() => start({ src: p.src, out: p.out, typecheck: false }));
after(() => stop());

async function compileVersion(fixture, as = 'math.ts') {
  useFixture(p, fixture, as);
  const r = await compile.file(as.replace(/\.ts$/, ''));
  assert.ok('module' in r, JSON.stringify(r));
}

describe('S2.1/S2.2 current and old; not_purged', () => {
  it('loading makes a version current and the previous one old', async () => {
    await compileVersion('core/math_v1.ts');
    assert.deepEqual(code.loadFile('math'), { module: 'math' });
    assert.equal(code.versions('math').current.vsn, '1');
    assert.equal(code.versions('math').old, undefined);
    await compileVersion('core/math_v2.ts');
    assert.deepEqual(code.loadFile('math'), { module: 'math' });
    const v = code.versions('math');
    assert.equal(v.current.vsn, '2');
    assert.equal(v.old.vsn, '1');
    assert.equal(code.checkOldCode('math'), true);
  });

  it('loadFile and atomicLoad refuse with not_purged while both exist, changing nothing', async () => {
    const before = code.versions('math');
    assert.deepEqual(code.loadFile('math'), { error: 'not_purged' });
    assert.deepEqual(code.atomicLoad(['math']), {
      error: [{ module: 'math', error: 'not_purged' }],
    });
    assert.deepEqual(code.versions('math'), before);
    assert.equal(mod('math').version(), 2);
  });

  it('loadBinary, l and c purge the old version first', async () => {
    const { bytes, file } = code.getObjectCode('math');
    assert.deepEqual(code.loadBinary('math', file, bytes), { module: 'math' });
    assert.deepEqual(l('math'), { module: 'math' });
    assert.deepEqual(await c('math'), { module: 'math' });
    assert.ok(code.versions('math').old);
  });
});

describe('S2.3 code.delete', () => {
  it('makes current old; false when old exists already; loading after delete is allowed', async () => {
    assert.equal(code.purge('math'), false);
    assert.equal(code.delete('math'), true);
    assert.equal(code.versions('math').current, undefined);
    assert.ok(code.versions('math').old);
    assert.equal(code.isLoaded('math'), false);
    assert.equal(code.delete('math'), false);
    assert.deepEqual(code.loadFile('math'), { module: 'math' });
    assert.ok(code.versions('math').current);
    assert.ok(code.versions('math').old);
    await compileVersion('core/math_v1.ts');
    assert.equal(code.softPurge('math'), true);
    code.loadFile('math');
    assert.equal(code.delete('math'), false, 'old present');
  });
});

describe('S2.4 code.versions', () => {
  it('reports vsn, md5, file and loadedAt', async () => {
    code.purge('math');
    const v = code.versions('math').current;
    assert.equal(typeof v.md5, 'string');
    assert.equal(v.md5.length, 32);
    assert.equal(v.file, join(p.out, 'math.js'));
    assert.ok(Math.abs(v.loadedAt - Date.now()) < 60_000);
    writeSource(p, 'novsn.ts', 'export const x = 1;\n');
    await c('novsn');
    const nv = code.versions('novsn').current;
    assert.equal(nv.vsn, nv.md5, 'vsn defaults to the MD5');
    assert.deepEqual(code.versions('nothing_here'), {});
  });
});

describe('S6.4 code.* results', () => {
  it('nofile, badfile (malformed, wrong module, newer format), which, isLoaded, allLoaded, ensureLoaded', async () => {
    assert.deepEqual(code.loadFile('missing_mod'), { error: 'nofile' });
    assert.equal(code.which('missing_mod'), undefined);
    writeFileSync(join(p.out, 'garbage.js'), 'this is not an object file');
    assert.deepEqual(code.loadFile('garbage'), { error: 'badfile' });
    const mathText = readFileSync(join(p.out, 'math.js'), 'utf8');
    writeFileSync(join(p.out, 'imposter.js'), mathText);
    assert.deepEqual(code.loadFile('imposter'), { error: 'badfile' });
    writeFileSync(
      join(p.out, 'future.js'),
      mathText.replace('"format":2', '"format":99').replace('"module":"math"', '"module":"future"'),
    );
    assert.deepEqual(code.loadFile('future'), { error: 'badfile' });
    writeFileSync(
      join(p.out, 'broken.js'),
      mathText
        .replace('"module":"math"', '"module":"broken"')
        .replace('function add', 'function add(('),
    );
    assert.deepEqual(code.loadFile('broken'), { error: 'badfile' });
    assert.equal(code.which('math'), join(p.out, 'math.js'));
    assert.deepEqual(code.ensureLoaded('math'), { module: 'math' });
    assert.ok(code.allLoaded().some(([m, f]) => m === 'math' && f === join(p.out, 'math.js')));
    const names = code.allLoaded().map(([m]) => m);
    assert.equal(new Set(names).size, names.length, 'one entry per module');
    assert.equal(code.isModuleLoaded('math'), true);
    assert.equal(code.isModuleLoaded('garbage'), false);
  });

  it('getObjectCode and loadBinary', () => {
    const oc = code.getObjectCode('math');
    assert.equal(oc.module, 'math');
    assert.ok(oc.bytes instanceof Uint8Array);
    assert.equal(oc.file, join(p.out, 'math.js'));
    assert.equal(code.getObjectCode('missing_mod'), undefined);
    assert.deepEqual(code.loadBinary('math', 'anywhere/math.js', oc.bytes), { module: 'math' });
    assert.equal(code.versions('math').current.file, 'anywhere/math.js');
    assert.deepEqual(code.loadBinary('math', 'x.js', new TextEncoder().encode('nonsense')), {
      error: 'badfile',
    });
  });

  it('atomicLoad loads all or none', async () => {
    writeSource(p, 'a1.ts', 'export const a = 1;\n');
    writeSource(p, 'a2.ts', 'export const a = 2;\n');
    await compile.file(['a1', 'a2']);
    const r = code.atomicLoad(['a1', 'a2', 'garbage']);
    assert.deepEqual(r, { error: [{ module: 'garbage', error: 'badfile' }] });
    assert.equal(code.isLoaded('a1'), false);
    assert.deepEqual(code.atomicLoad(['a1', 'a2']), { modules: ['a1', 'a2'] });
    assert.equal(mod('a2').a, 2);
  });

  it('prepareLoading then finishLoading', async () => {
    writeSource(p, 'a1.ts', 'export const a = 10;\n');
    await compile.file('a1');
    code.purge('a1');
    const prep = code.prepareLoading(['a1']);
    assert.ok('prepared' in prep);
    assert.equal(mod('a1').a, 1, 'nothing loaded yet');
    assert.deepEqual(code.finishLoading(prep.prepared), { modules: ['a1'] });
    assert.equal(mod('a1').a, 10);
    assert.deepEqual(code.prepareLoading(['a1', 'nope_nope']), {
      error: [{ module: 'nope_nope', error: 'nofile' }],
    });
    assert.throws(() => code.finishLoading({}), { code: 'badarg' });
  });

  it('modifiedModules lists modules whose object file differs from the loaded version', async () => {
    code.purge('math');
    code.loadFile('math');
    assert.ok(!code.modifiedModules().includes('math'));
    await compileVersion('core/math_v1.ts');
    await compileVersion('core/math_v2.ts');
    assert.ok(code.modifiedModules().includes('math'));
    code.purge('math');
    code.loadFile('math');
    assert.ok(!code.modifiedModules().includes('math'));
  });

  it('a module argument of the wrong type throws badarg', () => {
    assert.throws(() => code.loadFile(42), { code: 'badarg' });
    assert.throws(() => code.versions('../../etc/passwd'), { code: 'badarg' });
    assert.throws(() => code.purge({}), { code: 'badarg' });
    code.purge('math');
    assert.deepEqual(
      code.loadFile(mod('math')),
      { module: 'math' },
      'a handle is a module argument',
    );
  });
});

describe('S6.5 onLoad', () => {
  it('runs before the version is reachable; throwing or false → on_load_failure, previous versions kept', async () => {
    writeSource(
      p,
      'hooked.ts',
      'export let loaded = false;\nexport function onLoad() { loaded = true; }\nexport const v = 1;\n',
    );
    assert.deepEqual(await c('hooked'), { module: 'hooked' });
    assert.equal(mod('hooked').loaded, true);
    writeSource(
      p,
      'hooked.ts',
      'export function onLoad() { throw new Error("no"); }\nexport const v = 2;\n',
    );
    assert.deepEqual(await c('hooked'), { error: 'on_load_failure' });
    assert.equal(mod('hooked').v, 1);
    assert.ok(code.modifiedModules().includes('hooked'), 'the object file c wrote stays on disk');
    writeSource(
      p,
      'hooked.ts',
      'export function onLoad() { return false; }\nexport const v = 3;\n',
    );
    assert.deepEqual(await c('hooked'), { error: 'on_load_failure' });
    writeSource(p, 'hooked.ts', 'export async function onLoad() {}\nexport const v = 4;\n');
    const r = await c('hooked');
    assert.deepEqual(r, { error: 'on_load_failure' });
    assert.match(String(r.reason), /synchronous/);
    assert.equal(mod('hooked').v, 1);
    assert.equal(code.versions('hooked').old, undefined);
  });

  it('a failed onLoad is not remembered: the next autoload tries again', async () => {
    writeSource(
      p,
      'flaky.ts',
      'export function onLoad() { if (!(globalThis as any).flakyOk) throw new Error("not yet"); }\nexport function f() { return 1; }\n',
    );
    await compile.file('flaky');
    assert.throws(() => mod('flaky').f(), { code: 'undef' });
    globalThis.flakyOk = true;
    assert.equal(mod('flaky').f(), 1);
  });
});

describe('S6.6 sticky directories', () => {
  it('runtime module names cannot be loaded from user directories, unless unstickDir', async () => {
    const runtime = code.getPath().at(-1);
    for (const m of ['genServer', 'supervisor', 'sys', 'release']) {
      assert.equal(code.isSticky(m), true, m);
      assert.ok(code.allLoaded().some(([name, file]) => name === m && file.startsWith(runtime)));
    }
    writeSource(p, 'genServer.ts', 'export const x = 1;\n');
    assert.deepEqual(await c('genServer'), { error: 'sticky_directory' });
    const { bytes } = code.getObjectCode('genServer');
    assert.deepEqual(code.loadBinary('genServer', 'x.js', bytes), { error: 'sticky_directory' });
    assert.equal(typeof mod('genServer').call, 'function', 'the runtime module is untouched');
    assert.equal(code.unstickDir(runtime), true);
    assert.deepEqual(await c('genServer'), { module: 'genServer' });
    assert.equal(mod('genServer').x, 1);
  });

  it('stickDir makes loaded modules of a directory unreloadable; unstickDir undoes it', async () => {
    writeSource(p, 'pinned.ts', 'export const x = 1;\n');
    await c('pinned');
    assert.equal(code.stickDir(p.out), true);
    assert.equal(code.isSticky('pinned'), true);
    assert.deepEqual(code.loadBinary('pinned', 'x.js', code.getObjectCode('pinned').bytes), {
      error: 'sticky_directory',
    });
    assert.deepEqual(await c('pinned'), { error: 'sticky_directory' });
    assert.equal(code.unstickDir(p.out), true);
    assert.equal(code.isSticky('pinned'), false);
    assert.deepEqual(await c('pinned'), { module: 'pinned' });
    assert.deepEqual(code.stickDir(join(p.dir, 'nope')), { error: 'bad_directory' });
  });
});
