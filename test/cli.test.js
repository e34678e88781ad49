// The `hotcode` command (S0.1, S7.1): --help, --version, run, compile,
// configuration. Launched with this Node (process.execPath), never through its shebang.
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, PACKAGE, project, save, version } from './fixtures/shell/harness.js';

describe('hotcode --help and --version', { timeout: 60_000 }, () => {
  test('--help prints the commands and options, status 0', async () => {
    const r = await cli(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^Usage: hotcode <command>/);
    for (const word of [
      'shell',
      'run',
      'compile',
      'init',
      '--watch',
      '--old-code',
      '--src',
      '--out',
      '--path',
      '--no-typecheck',
      'hotcode.config.json',
    ])
      assert.ok(r.stdout.includes(word), word);
    assert.equal((await cli(['run', '-h'])).status, 0);
  });

  test('--version prints the package version', async () => {
    const r = await cli(['--version']);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `hotcode ${PACKAGE.version}\n`);
  });

  test('an unknown command or option is one line on stderr, status 1', async () => {
    const cmd = await cli(['frobnicate']);
    assert.equal(cmd.status, 1);
    assert.match(cmd.stderr, /^hotcode: unknown command 'frobnicate'/);
    const opt = await cli(['shell', '--frob']);
    assert.equal(opt.status, 1);
    assert.match(opt.stderr, /^hotcode: Unknown option '--frob'/);
  });
});

describe('hotcode run <module> <function> [args…]', { timeout: 180_000 }, () => {
  const root = project('hotcode-cli-');

  test('runs the function as a process with the args as strings; status 0 (S7.1)', async () => {
    const r = await cli(['run', '--no-typecheck', 'app', 'main', 'a', '--b', '-c', '42'], {
      cwd: root,
    });
    assert.equal(r.stderr.replace(/^compiled .*\n/, ''), '');
    assert.equal(r.status, 0);
    assert.equal(r.stdout, 'args ["a","--b","-c","42"]\n');
  });

  test('the node stays up while any process lives', async () => {
    const r = await cli(['run', '--no-typecheck', 'app', 'withChild', '300'], { cwd: root });
    assert.equal(r.status, 0);
    assert.equal(r.stdout, 'child done\n');
  });

  test('a crash of the function or of another process: status 1 and a crash report with the .ts location', async () => {
    const main = await cli(['run', '--no-typecheck', 'app', 'crash'], { cwd: root });
    assert.equal(main.status, 1);
    assert.match(
      main.stderr,
      /CRASH REPORT.*app\.crash\/0[\s\S]*Error: app crashed\n\s+at .*src\/app\.ts:\d+:\d+/,
    );
    const child = await cli(['run', '--no-typecheck', 'app', 'crashChild'], { cwd: root });
    assert.equal(child.status, 1);
    assert.match(child.stderr, /Error: child crashed/);
  });

  test('an unknown module or function: status 1, a one-line undef message, no stack', async () => {
    for (const [args, pattern] of [
      [['nosuch', 'main'], /^hotcode: undef: there is no module nosuch\b/],
      [
        ['app', 'nope'],
        /^hotcode: undef: app\.nope is not a function exported by app \(its functions: .*main/,
      ],
      [['app', 'notAFunction'], /^hotcode: undef: app\.notAFunction is not a function/],
    ]) {
      const r = await cli(['run', '--no-typecheck', ...args], { cwd: root });
      assert.equal(r.status, 1, args.join(' '));
      const lines = r.stderr
        .replace(/^compiled .*\n/, '')
        .trimEnd()
        .split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], pattern);
    }
  });

  test('stale modules are compiled at start, each on its own: a broken one is reported and the rest runs', async () => {
    const fresh = project('hotcode-cli-');
    save(fresh, 'src/counter.ts', version('counter_broken.ts'));
    const r = await cli(['run', 'app', 'main', 'x'], { cwd: fresh });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'args ["x"]\n');
    assert.match(r.stderr, /^counter: not compiled\n {2}src\/counter\.ts:6:3 - error TS2322/m);
    assert.match(r.stderr, /^compiled app, process$/m);
    assert.ok(!existsSync(join(fresh, 'ebin', 'counter.js')));
  });

  test('run without a function is a usage error', async () => {
    const r = await cli(['run', 'app'], { cwd: root });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /run needs a module and a function/);
  });
});

describe('hotcode compile [module…]', { timeout: 180_000 }, () => {
  test('writes object files and loads nothing; status 0', async () => {
    const root = project('hotcode-cli-');
    const r = await cli(['compile', '--no-typecheck', 'counter', 'app'], { cwd: root });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'counter -> ebin/counter.js\napp -> ebin/app.js\n');
    assert.ok(existsSync(join(root, 'ebin', 'counter.js')));
    assert.ok(!existsSync(join(root, 'ebin', 'process.js')));
  });

  test('without modules it compiles every module of the source directories', async () => {
    const root = project('hotcode-cli-');
    const r = await cli(['compile', '--no-typecheck'], { cwd: root });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stdout,
      'app -> ebin/app.js\ncounter -> ebin/counter.js\nprocess -> ebin/process.js\n',
    );
  });

  test('a type error: file:line:col diagnostics, nothing written, status 1', async () => {
    const root = project('hotcode-cli-');
    save(root, 'src/counter.ts', version('counter_broken.ts'));
    const r = await cli(['compile', 'counter', 'app'], { cwd: root });
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^src\/counter\.ts:6:3 - error TS2322: Type 'string' is not assignable to type 'number'\./m,
    );
    assert.match(r.stderr, /nothing written/);
    assert.ok(!existsSync(join(root, 'ebin', 'app.js')), 'all or none');
  });

  test('--stale: each module whose object file is missing or older, one by one; a broken one does not stop the others', async () => {
    const root = project('hotcode-cli-');
    save(root, 'src/counter.ts', version('counter_broken.ts'));
    const r = await cli(['compile', '--stale'], { cwd: root });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^counter: not compiled\n {2}src\/counter\.ts:6:3 - error TS2322/m);
    assert.match(r.stdout, /^compiled app, process$/m);
    assert.deepEqual(readdirSync(join(root, 'ebin')).sort(), ['app.js', 'process.js']);
    const again = await cli(['compile', '--stale', '--no-typecheck'], { cwd: root });
    assert.equal(again.stdout, 'compiled counter\n', 'only what was still stale');
    assert.match(
      (await cli(['compile', '--stale', 'app'], { cwd: root })).stderr,
      /takes no modules/,
    );
    assert.match(
      (await cli(['run', '--stale', 'app', 'main'], { cwd: root })).stderr,
      /--stale is an option of hotcode compile/,
    );
  });

  test('an unknown module or a name that is not a module: status 1, one line', async () => {
    const root = project('hotcode-cli-');
    const none = await cli(['compile', 'nosuch'], { cwd: root });
    assert.equal(none.status, 1);
    assert.match(none.stderr, /^hotcode: no source for nosuch in src\n$/);
    const bad = await cli(['compile', '../x'], { cwd: root });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /'\.\.\/x' is not a module name/);
  });
});

describe(
  'configuration: hotcode.config.json, package.json "hotcode", flags',
  { timeout: 180_000 },
  () => {
    test('hotcode.config.json sets src, out and typecheck, relative to its directory', async () => {
      const root = project('hotcode-cli-');
      writeFileSync(
        join(root, 'hotcode.config.json'),
        JSON.stringify({ src: 'src', out: 'build/ebin', typecheck: false }),
      );
      mkdirSync(join(root, 'sub'));
      save(root, 'src/counter.ts', version('counter_broken.ts')); // compiles only with typecheck off
      const r = await cli(['compile', 'counter'], { cwd: join(root, 'sub') });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(existsSync(join(root, 'build', 'ebin', 'counter.js')));
    });

    test('the "hotcode" field of package.json; flags override it', async () => {
      const root = project('hotcode-cli-');
      writeFileSync(
        join(root, 'package.json'),
        JSON.stringify({ name: 'p', hotcode: { out: 'pkg-out', typecheck: false } }),
      );
      assert.equal((await cli(['compile', 'app'], { cwd: root })).status, 0);
      assert.ok(existsSync(join(root, 'pkg-out', 'app.js')));
      assert.equal((await cli(['compile', 'app', '--out', 'flag-out'], { cwd: root })).status, 0);
      assert.ok(existsSync(join(root, 'flag-out', 'app.js')));
    });

    test('a config file that does not parse: the file and the position, status 1', async () => {
      const root = project('hotcode-cli-');
      writeFileSync(
        join(root, 'hotcode.config.json'),
        '{\n  "src": ["src"],\n  "out": "ebin"\n  "typecheck": false\n}\n',
      );
      const r = await cli(['compile'], { cwd: root });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^hotcode: hotcode\.config\.json:4:3: not valid JSON/);
      writeFileSync(join(root, 'hotcode.config.json'), '{ "src": 3 }');
      const bad = await cli(['compile'], { cwd: root });
      assert.equal(bad.status, 1);
      assert.match(
        bad.stderr,
        /hotcode\.config\.json: "src" must be a directory or a list of directories/,
      );
      writeFileSync(join(root, 'hotcode.config.json'), '{ "sauce": "src" }');
      assert.match((await cli(['compile'], { cwd: root })).stderr, /unknown field "sauce"/);
    });

    test('a broken package.json is reported the same way', async () => {
      const root = project('hotcode-cli-');
      writeFileSync(join(root, 'package.json'), '{ "name": "p",\n');
      const r = await cli(['compile'], { cwd: root });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^hotcode: package\.json:\d+:\d+: not valid JSON/);
      assert.ok(!readFileSync(join(root, 'package.json'), 'utf8').includes('hotcode'));
    });
  },
);

describe('a directory that is no project (S7.1)', { timeout: 120_000 }, () => {
  test('run and shell say so in one line, status 1, and write nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotcode-empty-'));
    for (const args of [['run', 'counter', 'demo'], ['shell'], ['compile']]) {
      const r = await cli(args, { cwd: dir });
      assert.equal(r.status, 1, args.join(' '));
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0],
        /^hotcode: no hotcode project here: no hotcode\.config\.json or "hotcode" field in package\.json, and no modules in src\/ \(hotcode init makes a project/,
      );
      assert.deepEqual(readdirSync(dir), [], 'no ebin/, nothing');
    }
  });

  test('a src/ with modules is a project, configuration or not', async () => {
    const root = project('hotcode-cli-');
    const r = await cli(['run', '--no-typecheck', 'app', 'main'], { cwd: root });
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('--old-code', { timeout: 60_000 }, () => {
  test('takes kill, with --watch only', async () => {
    const root = project('hotcode-cli-');
    const bad = await cli(['run', '--watch', '--old-code', 'keep', 'app', 'main'], { cwd: root });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^hotcode: --old-code takes one value, kill \(got 'keep'\)/);
    const alone = await cli(['run', '--old-code', 'kill', 'app', 'main'], { cwd: root });
    assert.equal(alone.status, 1);
    assert.match(alone.stderr, /--old-code kill applies to watch mode/);
  });
});
