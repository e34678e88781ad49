// The type gate (S6.2) through its public API: createTypeGate → check → close.
// Each project is copied from test/fixtures/typegate/<name> into a fresh temp dir;
// edited sources come from test/fixtures/typegate/versions/.
//
// HOTCODE_TYPEGATE_MODULE may point at another build of the module (default: ../dist).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'fixtures', 'typegate');
const moduleUrl = process.env.HOTCODE_TYPEGATE_MODULE
  ? pathToFileURL(process.env.HOTCODE_TYPEGATE_MODULE).href
  : new URL('../dist/compiler/typegate/index.js', import.meta.url).href;
const { createTypeGate } = await import(moduleUrl);
/** The declarations `'hotcode'` resolves to: dist/index.d.ts beside the compiled gate. */
const hotcodeDts = fileURLToPath(new URL('../../index.d.ts', moduleUrl));

const temps = [];
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** A fresh copy of fixture project `name`, in a temp dir with no node_modules anywhere above. */
function project(name) {
  const root = mkdtempSync(join(tmpdir(), `typegate-${name}-`));
  temps.push(root);
  cpSync(join(fixtures, name), root, { recursive: true });
  return root;
}

const version = (file) => readFileSync(join(fixtures, 'versions', file), 'utf8');

/** The SourceText of module `module` at `root/<dir>/<module>.ts`, with `text` or the disk's. */
function source(root, module, text, dir = 'src', ext = '.ts') {
  const file = join(root, dir, module + ext);
  return { module, file, text: text ?? readFileSync(file, 'utf8') };
}

function gateFor(root, dirs = ['src']) {
  return createTypeGate({ root, srcDirs: dirs.map((d) => join(root, d)) });
}

function errorsIn(result, file) {
  assert.ok('diagnostics' in result, `expected diagnostics, got ${JSON.stringify(result)}`);
  return result.diagnostics.filter((d) => d.category === 'error' && d.file === file);
}

describe('a signature change and its importers (adder fixture)', () => {
  let root;
  let gate;
  before(() => {
    root = project('adder');
    gate = gateFor(root);
  });
  after(() => gate.close());

  test('a body-only change passes, and the unrelated broken file does not block it', async () => {
    const r = await gate.check({
      changed: [source(root, 'adder', version('adder.body_edit.ts'))],
      loaded: [],
    });
    assert.deepEqual(r, { ok: true, diagnostics: [] });
  });

  test('a type error in the changed module is refused, located in its source', async () => {
    const r = await gate.check({
      changed: [source(root, 'adder', version('adder.type_error.ts'))],
      loaded: [],
    });
    assert.equal(r.ok, false);
    assert.equal(r.diagnostics.length, 1);
    const [d] = r.diagnostics;
    assert.equal(d.file, join(root, 'src', 'adder.ts'));
    assert.equal(d.line, 2);
    assert.equal(d.column, 9);
    assert.equal(d.code, 2322);
    assert.equal(d.category, 'error');
    assert.equal(d.message, "Type 'number' is not assignable to type 'string'.");
  });

  test('a syntax error in the changed module is refused', async () => {
    const r = await gate.check({
      changed: [source(root, 'adder', version('bad_adder_syntax.ts'))],
      loaded: [],
    });
    assert.equal(r.ok, false);
    const [d] = errorsIn(r, join(root, 'src', 'adder.ts'));
    assert.equal(d.line, 2);
    assert.equal(d.code, 1109); // Expression expected.
  });

  test('add(a: string, b: string) is refused: user_of_adder calls add(1, 2)', async () => {
    const r = await gate.check({
      changed: [source(root, 'adder', version('adder.strings.ts'))],
      loaded: [],
    });
    assert.equal(r.ok, false);
    const inUser = errorsIn(r, join(root, 'src', 'user_of_adder.ts'));
    assert.ok(inUser.length > 0, JSON.stringify(r.diagnostics));
    assert.ok(inUser.every((d) => d.line === 4));
    const arg = inUser.find((d) => d.code === 2345);
    assert.ok(arg, JSON.stringify(inUser));
    assert.equal(arg.column, 14);
    assert.match(
      arg.message,
      /Argument of type 'number' is not assignable to parameter of type 'string'/,
    );
    assert.equal(errorsIn(r, join(root, 'src', 'broken_elsewhere.ts')).length, 0);
  });

  test('the same change passes together with the updated user_of_adder', async () => {
    const r = await gate.check({
      changed: [
        source(root, 'adder', version('adder.strings.ts')),
        source(root, 'user_of_adder', version('user_of_adder.strings.ts')),
      ],
      loaded: [],
    });
    assert.deepEqual(r, { ok: true, diagnostics: [] });
  });

  test('the gate follows the disk again once a version is no longer passed', async () => {
    const r = await gate.check({ changed: [source(root, 'adder')], loaded: [] });
    assert.deepEqual(r, { ok: true, diagnostics: [] });
  });

  test('checks asked for at once are answered in order', async () => {
    const results = await Promise.all([
      gate.check({ changed: [source(root, 'adder', version('adder.strings.ts'))], loaded: [] }),
      gate.check({ changed: [source(root, 'adder', version('adder.body_edit.ts'))], loaded: [] }),
    ]);
    assert.deepEqual(
      results.map((r) => r.ok),
      [false, true],
    );
  });
});

test('an importer changed on disk but not loaded: the loaded version is what is checked', async () => {
  const root = project('adder');
  // On disk, user_of_adder already takes strings; the running version still calls add(1, 2).
  const user = join(root, 'src', 'user_of_adder.ts');
  const loadedText = readFileSync(user, 'utf8');
  writeFileSync(user, version('user_of_adder.strings.ts'));
  const gate = gateFor(root);
  try {
    const changed = [source(root, 'adder', version('adder.strings.ts'))];
    const withLoaded = await gate.check({
      changed,
      loaded: [{ module: 'user_of_adder', file: user, text: loadedText }],
    });
    assert.equal(withLoaded.ok, false);
    assert.ok(errorsIn(withLoaded, user).length > 0);
    // Not loaded at all: the disk's version is checked, and it agrees with the change.
    const fromDisk = await gate.check({ changed, loaded: [] });
    assert.deepEqual(fromDisk, { ok: true, diagnostics: [] });
  } finally {
    await gate.close();
  }
});

test('a re-export chain: importers of a module that re-exports the change are checked', async () => {
  const root = project('reexport');
  const gate = gateFor(root);
  try {
    const r = await gate.check({
      changed: [source(root, 'adder', version('adder.strings.ts'))],
      loaded: [],
    });
    assert.equal(r.ok, false);
    const [d] = errorsIn(r, join(root, 'src', 'user_of_via.ts'));
    assert.equal(d.line, 3);
    assert.equal(d.code, 2322);
  } finally {
    await gate.close();
  }
});

test('modules form one flat namespace across source directories', async () => {
  const root = project('two_dirs');
  const gate = gateFor(root, ['src', 'lib']);
  try {
    const ok = await gate.check({ changed: [source(root, 'main')], loaded: [] });
    assert.deepEqual(ok, { ok: true, diagnostics: [] });
    const r = await gate.check({
      changed: [source(root, 'helper', version('helper.number_arg.ts'), 'lib')],
      loaded: [],
    });
    assert.equal(r.ok, false);
    const [d] = errorsIn(r, join(root, 'src', 'main.ts'));
    assert.equal(d.line, 4);
    assert.equal(d.code, 2345);
  } finally {
    await gate.close();
  }
});

test('across source directories the resolution rules still hold (module nodenext wants ./helper.js)', async () => {
  const root = project('two_dirs');
  writeFileSync(
    join(root, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'nodenext', strict: true, skipLibCheck: true } }),
  );
  writeFileSync(join(root, 'package.json'), JSON.stringify({ type: 'module' }));
  const gate = gateFor(root, ['src', 'lib']);
  try {
    // main.ts imports './helper.js': found in lib/ by the same rules as in src/
    const ok = await gate.check({ changed: [source(root, 'main')], loaded: [] });
    assert.deepEqual(ok, { ok: true, diagnostics: [] });
    const bare = readFileSync(join(root, 'src', 'main.ts'), 'utf8').replace(
      './helper.js',
      './helper',
    );
    const r = await gate.check({ changed: [source(root, 'main', bare)], loaded: [] });
    assert.equal(r.ok, false);
    // TS2834: "Relative import paths need explicit file extensions in ECMAScript imports…"
    assert.deepEqual(
      r.diagnostics.map((d) => [d.line, d.code]),
      [[1, 2834]],
    );
  } finally {
    await gate.close();
  }
});

test('an edit of package.json "type" is seen by the next check (module nodenext)', async () => {
  const root = project('missing');
  writeFileSync(
    join(root, 'src', 'lonely.ts'),
    'export function hello(): string {\n  return "hi";\n}\n',
  );
  writeFileSync(
    join(root, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'nodenext', strict: true, verbatimModuleSyntax: true },
    }),
  );
  writeFileSync(join(root, 'package.json'), JSON.stringify({ type: 'module' }));
  const gate = gateFor(root);
  try {
    const esm = await gate.check({ changed: [source(root, 'lonely')], loaded: [] });
    assert.deepEqual(esm, { ok: true, diagnostics: [] });
    // Now the file is CommonJS: `export function` is TS1287 under verbatimModuleSyntax.
    writeFileSync(join(root, 'package.json'), JSON.stringify({ type: 'commonjs', x: 1 }));
    const cjs = await gate.check({ changed: [source(root, 'lonely')], loaded: [] });
    assert.equal(cjs.ok, false);
    assert.deepEqual(
      cjs.diagnostics.map((d) => [d.line, d.code]),
      [[1, 1287]],
    );
  } finally {
    await gate.close();
  }
});

test("Node's globals type-check in a project with no node_modules and no tsconfig", async () => {
  const root = project('node_globals');
  const gate = gateFor(root);
  try {
    const r = await gate.check({ changed: [source(root, 'uses_node')], loaded: [] });
    assert.deepEqual(r, { ok: true, diagnostics: [] });
  } finally {
    await gate.close();
  }
});

test(
  "'hotcode' resolves to the running package's own declarations",
  { skip: !existsSync(hotcodeDts) && `no ${hotcodeDts} yet (build the package first)` },
  async () => {
    const root = project('node_globals');
    const gate = gateFor(root);
    try {
      const good = await gate.check({
        changed: [source(root, 'uses_hotcode', version('uses_hotcode.ts'))],
        loaded: [],
      });
      assert.deepEqual(good, { ok: true, diagnostics: [] });
      // Really the declarations, not an untyped module: a wrong name is refused.
      const bad = await gate.check({
        changed: [source(root, 'uses_hotcode', version('uses_hotcode.bad_import.ts'))],
        loaded: [],
      });
      assert.equal(bad.ok, false);
      assert.deepEqual(
        bad.diagnostics.map((d) => [d.line, d.code]),
        [[1, 2305]],
      );
    } finally {
      await gate.close();
    }
  },
);

test('a tsconfig.json that does not parse is a configError naming the file and position', async () => {
  const root = project('bad_tsconfig');
  const gate = gateFor(root);
  try {
    const r = await gate.check({ changed: [source(root, 'fine')], loaded: [] });
    assert.equal(r.ok, false);
    assert.ok('configError' in r, JSON.stringify(r));
    assert.equal(r.configError.file, join(root, 'tsconfig.json'));
    assert.equal(r.configError.line, 3);
    assert.equal(r.configError.column, 14);
    assert.equal(r.configError.category, 'error');
    assert.match(r.configError.message, /':' expected/);
    // Fixed on disk → the next check reads it again.
    writeFileSync(join(root, 'tsconfig.json'), '{ "compilerOptions": { "strict": true } }\n');
    const fixed = await gate.check({ changed: [source(root, 'fine')], loaded: [] });
    assert.deepEqual(fixed, { ok: true, diagnostics: [] });
  } finally {
    await gate.close();
  }
});

test('.js modules are checked only with checkJs', async () => {
  const root = project('js');
  const gate = gateFor(root);
  try {
    const unchecked = await gate.check({
      changed: [source(root, 'plain', undefined, 'src', '.js')],
      loaded: [],
    });
    assert.deepEqual(unchecked, { ok: true, diagnostics: [] });
  } finally {
    await gate.close();
  }
  cpSync(join(root, 'tsconfig.checkjs.json'), join(root, 'tsconfig.json'));
  const checking = gateFor(root);
  try {
    const r = await checking.check({
      changed: [source(root, 'plain', undefined, 'src', '.js')],
      loaded: [],
    });
    assert.equal(r.ok, false);
    const [d] = errorsIn(r, join(root, 'src', 'plain.js'));
    assert.equal(d.line, 2);
    assert.equal(d.code, 2322);
  } finally {
    await checking.close();
  }
});

test('a missing sibling is a diagnostic (TS2307), and is found once it exists', async () => {
  const root = project('missing');
  const gate = gateFor(root);
  try {
    const r = await gate.check({ changed: [source(root, 'lonely')], loaded: [] });
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.diagnostics.map((d) => [d.file, d.line, d.code]),
      [[join(root, 'src', 'lonely.ts'), 1, 2307]],
    );
    writeFileSync(join(root, 'src', 'nowhere.ts'), version('nowhere.ts'));
    const found = await gate.check({ changed: [source(root, 'lonely')], loaded: [] });
    assert.deepEqual(found, { ok: true, diagnostics: [] });
  } finally {
    await gate.close();
  }
});

test('warm() readies the checker without counting as a check; the next check sees only the project', async () => {
  const root = project('adder');
  const gate = gateFor(root);
  try {
    await gate.warm();
    const stats = await gate.stats();
    assert.equal(stats.checks, 0);
    assert.ok(stats.programFiles > 3, `program of ${stats.programFiles} files`);
    const r = await gate.check({
      changed: [source(root, 'adder', version('adder.type_error.ts'))],
      loaded: [],
    });
    assert.deepEqual(
      r.diagnostics.map((d) => [d.file, d.code]),
      [[join(root, 'src', 'adder.ts'), 2322]],
    );
  } finally {
    await gate.close();
  }
});

test('a crashed checker rejects the pending check with typegate_crashed; the next check starts anew', async () => {
  const root = project('adder');
  const gate = gateFor(root);
  try {
    assert.equal((await gate.check({ changed: [source(root, 'adder')], loaded: [] })).ok, true);
    // The check is posted (in a microtask) after the crash order: it is pending when the worker dies.
    const pending = gate.check({ changed: [source(root, 'adder')], loaded: [] });
    gate.crashWorker();
    await assert.rejects(pending, (err) => err.code === 'typegate_crashed');
    const again = await gate.check({
      changed: [source(root, 'adder', version('adder.type_error.ts'))],
      loaded: [],
    });
    assert.equal(again.ok, false);
  } finally {
    await gate.close();
  }
  await assert.rejects(
    gate.check({ changed: [], loaded: [] }),
    (err) => err.code === 'typegate_closed',
  );
});

test('an idle gate does not keep the process alive', () => {
  const root = project('adder');
  const script = `
    const { createTypeGate } = await import(${JSON.stringify(moduleUrl)});
    const gate = createTypeGate({ root: ${JSON.stringify(root)}, srcDirs: [${JSON.stringify(join(root, 'src'))}] });
    const r = await gate.check({ changed: [], loaded: [] });
    console.log(JSON.stringify(r));
    // no close(): the process must still exit by itself
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.deepEqual(JSON.parse(out), { ok: true, diagnostics: [] });
});

test('the checker heap after 1,000 recompiles stays within 20 MB of that after 10', async () => {
  const root = project('adder');
  const gate = gateFor(root);
  try {
    const loaded = [source(root, 'user_of_adder')];
    let after10 = 0;
    for (let i = 1; i <= 1000; i++) {
      const text = `export function add(a: number, b: number): number {\n  return a + b + ${i % 7};\n}\n`;
      const r = await gate.check({ changed: [source(root, 'adder', text)], loaded });
      assert.equal(r.ok, true);
      if (i === 10) after10 = (await gate.stats()).heapUsed;
    }
    const stats = await gate.stats();
    assert.equal(stats.gcForced, true);
    assert.ok(stats.gcs > 0, 'the worker collected its garbage itself between checks');
    const growthMb = (stats.heapUsed - after10) / (1024 * 1024);
    assert.ok(growthMb < 20, `heap grew by ${growthMb.toFixed(1)} MB`);
  } finally {
    await gate.close();
  }
});
