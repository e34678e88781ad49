// S6.2: the gate judges a module as `tsc --noEmit -p tsconfig.json` would, module and
// resolution rules on import specifiers included (S1.4: the compiler accepts './room',
// './room.js' and './room.ts'; whether tsc does depends on the tsconfig). Each test
// builds one project from test/fixtures/typegate/tsc, runs the real tsc on it (a child
// process) and the gate over all its modules, and compares the errors: same files,
// positions and TS codes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'fixtures', 'typegate', 'tsc');
const moduleUrl = process.env.HOTCODE_TYPEGATE_MODULE
  ? pathToFileURL(process.env.HOTCODE_TYPEGATE_MODULE).href
  : new URL('../dist/compiler/typegate/index.js', import.meta.url).href;
const { createTypeGate } = await import(moduleUrl);
/** The hotcode package the gate belongs to (dist/compiler/typegate/ → the package root). */
const packageRoot = fileURLToPath(new URL('../../../', moduleUrl));
const require = createRequire(join(packageRoot, 'package.json'));
const tscBin = require.resolve('typescript/bin/tsc');
const nodeTypes = dirname(require.resolve('@types/node/package.json'));

const temps = [];
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/**
 * A project: `tsconfig` (a file of the fixture dir), a package.json of `type`, the
 * given sources from fixtures/src, and node_modules with `hotcode` (this package)
 * and `@types/node`, as `npm install hotcode` leaves them.
 */
function project(tsconfig, type, sources) {
  const root = mkdtempSync(join(tmpdir(), 'typegate-tsc-'));
  temps.push(root);
  mkdirSync(join(root, 'src'));
  copyFileSync(join(fixtures, tsconfig), join(root, 'tsconfig.json'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'app', type }));
  for (const f of sources) copyFileSync(join(fixtures, 'src', f), join(root, 'src', f));
  mkdirSync(join(root, 'node_modules', '@types'), { recursive: true });
  symlinkSync(packageRoot, join(root, 'node_modules', 'hotcode'), 'dir');
  symlinkSync(nodeTypes, join(root, 'node_modules', '@types', 'node'), 'dir');
  return root;
}

/** `file(line,col): TScode` for each error `tsc --noEmit -p root` reports, sorted. */
function tscErrors(root) {
  const r = spawnSync(process.execPath, [tscBin, '--noEmit', '-p', root, '--pretty', 'false'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.ok(r.status === 0 || r.status === 2, `tsc failed to run: ${r.stderr}${r.stdout}`);
  const errors = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^(.+?)\((\d+),(\d+)\): error TS(\d+):/.exec(line);
    if (m) errors.push(`${m[1]}(${m[2]},${m[3]}): TS${m[4]}`);
  }
  return errors.sort();
}

const moduleOf = (f) => f.slice(0, -extname(f).length);
const source = (root, f) => {
  const file = join(root, 'src', f);
  return { module: moduleOf(f), file, text: readFileSync(file, 'utf8') };
};

/** The same, from the gate: `changed` modules are checked (with their importers). */
async function gateErrors(root, changed, loaded = []) {
  const gate = createTypeGate({ root, srcDirs: [join(root, 'src')] });
  try {
    const r = await gate.check({
      changed: changed.map((f) => source(root, f)),
      loaded: loaded.map((f) => source(root, f)),
    });
    assert.ok(!('configError' in r), JSON.stringify(r));
    return r.diagnostics
      .filter((d) => d.category === 'error')
      .map((d) => `${relative(root, d.file)}(${d.line},${d.column}): TS${d.code}`)
      .sort();
  } finally {
    await gate.close();
  }
}

const ROOM_USERS = ['room.ts', 'user_plain.ts', 'user_js.ts', 'user_ts.ts'];

describe('S6.2 the gate and tsc --noEmit agree on import specifiers', () => {
  test("module nodenext (tsc --init's tsconfig), type module: './room' is TS2835, './room.js' passes", async () => {
    const root = project('nodenext.tsconfig.json', 'module', ROOM_USERS);
    const tsc = tscErrors(root);
    assert.deepEqual(tsc, [
      'src/room.ts(1,23): TS2835',
      'src/user_plain.ts(1,22): TS2835',
      'src/user_ts.ts(1,22): TS5097',
    ]);
    assert.deepEqual(await gateErrors(root, ROOM_USERS), tsc);
  });

  test('module nodenext under package.json type commonjs: TS1295, as tsc', async () => {
    const root = project('nodenext.tsconfig.json', 'commonjs', ROOM_USERS);
    const tsc = tscErrors(root);
    assert.ok(tsc.includes('src/user_js.ts(1,10): TS1295'), tsc.join('\n'));
    assert.deepEqual(await gateErrors(root, ROOM_USERS), tsc);
  });

  test("moduleResolution bundler: './room' and './room.js' pass, './room.ts' needs allowImportingTsExtensions", async () => {
    const root = project('bundler.tsconfig.json', 'module', ROOM_USERS);
    const tsc = tscErrors(root);
    assert.deepEqual(tsc, ['src/user_ts.ts(1,22): TS5097']);
    assert.deepEqual(await gateErrors(root, ROOM_USERS), tsc);
  });

  test("the recommended tsconfig (docs/typegate.md): './x', './x.js', './x.ts', '.mjs'/'.mts' spellings, .js modules and 'hotcode' all pass", async () => {
    const files = [
      ...ROOM_USERS,
      'helper.mts',
      'user_of_helper_mjs.ts',
      'user_of_helper_mts.ts',
      'plain.js',
      'uses_plain.ts',
      'uses_hotcode.ts',
    ];
    const root = project('recommended.tsconfig.json', 'module', files);
    const tsc = tscErrors(root);
    assert.deepEqual(tsc, []);
    assert.deepEqual(await gateErrors(root, files), tsc);
    // Really checked: a wrong export name from 'hotcode' is refused by both.
    writeFileSync(
      join(root, 'src', 'uses_hotcode.ts'),
      "import { nonesuch } from 'hotcode';\nexport const x = nonesuch;\n",
    );
    const wrong = tscErrors(root);
    assert.deepEqual(wrong, ['src/uses_hotcode.ts(1,10): TS2305']);
    assert.deepEqual(await gateErrors(root, files), wrong);
  });
});

describe('S6.2 every source extension resolves the same way, loaded or not', () => {
  test("an .mts module: './helper.mjs' resolves and './helper' is TS2307 (as tsc), whether helper is loaded or not", async () => {
    const files = ['helper.mts', 'user_of_helper_mjs.ts', 'user_of_helper_bare.ts'];
    const root = project('recommended.tsconfig.json', 'module', files);
    const tsc = tscErrors(root);
    assert.deepEqual(tsc, ['src/user_of_helper_bare.ts(1,23): TS2307']);
    // helper only on disk, the importers changed
    assert.deepEqual(
      await gateErrors(root, ['user_of_helper_mjs.ts', 'user_of_helper_bare.ts']),
      tsc,
    );
    // helper loaded (its version passed as loaded)
    assert.deepEqual(
      await gateErrors(root, ['user_of_helper_mjs.ts', 'user_of_helper_bare.ts'], ['helper.mts']),
      tsc,
    );
    // helper is the change
    assert.deepEqual(await gateErrors(root, ['helper.mts']), tsc);
  });

  test('modules of every source extension are found on disk before any is loaded', async () => {
    const root = project('recommended.tsconfig.json', 'module', []);
    const exts = ['.ts', '.mts', '.tsx', '.js', '.mjs', '.jsx'];
    const names = exts.map((e) => `m_${e.slice(1)}`);
    for (const [i, e] of exts.entries()) {
      writeFileSync(join(root, 'src', names[i] + e), `export const v${i} = ${i};\n`);
    }
    // Each spelled as tsc's bundler resolution finds it: a .js-family file by its own
    // extension is fine with allowJs; an .mts/.mjs file needs its extension.
    const specs = ['./m_ts', './m_mts.mjs', './m_tsx', './m_js', './m_mjs.mjs', './m_jsx'];
    writeFileSync(
      join(root, 'src', 'all.ts'),
      `${specs.map((s, i) => `import { v${i} } from '${s}';`).join('\n')}\nexport const sum: number = ${specs.map((_, i) => `v${i}`).join(' + ')};\n`,
    );
    const tsc = tscErrors(root);
    // All found; the .tsx and .jsx ones are refused by both for want of a `jsx` setting.
    assert.deepEqual(tsc, ['src/all.ts(3,20): TS6142', 'src/all.ts(6,20): TS6142']);
    assert.deepEqual(await gateErrors(root, ['all.ts']), tsc);
  });
});
