// `hotcode init` end to end (S7.5), as a new user meets hotcode: the package
// as npm publishes it (npm pack), a new project made by init in an empty
// directory, npm install of the tarball there, tsc --noEmit clean under the
// tsconfig.json init wrote, and `hotcode run` of both modules it wrote — the
// genServer one through the runtime's own modules as the tarball ships them.
// Slow (an npm install): one test, a generous timeout. Uses the npm cache
// first (--prefer-offline); the registry is asked only for what is missing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'hotcode-init-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Runs a command to completion: { status, stdout, stderr }. */
function sh(cmd, args, { cwd, timeout = 240_000 } = {}) {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd,
        timeout,
        encoding: 'utf8',
        maxBuffer: 16 * 1024 * 1024,
        env: {
          ...process.env,
          NO_COLOR: '1',
          HOTCODE_HISTORY: '',
          npm_config_update_notifier: 'false',
        },
      },
      (error, stdout, stderr) => resolve({ status: error ? (error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const node = (args, opts) => sh(process.execPath, args, opts);

describe('hotcode init, from the packed tarball (S7.5)', { timeout: 600_000 }, () => {
  test('init writes a project that installs, type-checks with tsc and runs', async () => {
    // The package as npm publishes it (dist/ is built by npm test before the tests run).
    const packed = await sh(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', work],
      {
        cwd: root,
      },
    );
    assert.equal(packed.status, 0, packed.stderr);
    const info = JSON.parse(packed.stdout)[0];
    const tarball = join(work, info.filename);
    const shipped = info.files.map((f) => f.path);
    for (const f of [
      'LICENSE',
      'README.md',
      'docs/semantics.md',
      'dist/cli/main.js',
      'dist/stdlib/ebin/genServer.js',
    ])
      assert.ok(shipped.includes(f), `${f} is in the tarball`);

    // init in an empty directory; again: nothing is overwritten.
    const app = join(work, 'my-app');
    const cli = join(root, 'dist', 'cli', 'main.js');
    const made = await node([cli, 'init', 'my-app'], { cwd: work });
    assert.equal(made.status, 0, made.stderr);
    const files = [
      'package.json',
      'tsconfig.json',
      'hotcode.config.json',
      '.gitignore',
      'README.md',
      'src/counter.ts',
      'src/greeter.ts',
    ];
    for (const f of files)
      assert.match(made.stdout, new RegExp(`^created my-app/${f.replace('.', '\\.')}$`, 'm'));
    assert.match(made.stdout, /^next: cd my-app && npm install && npx hotcode run counter demo/m);
    writeFileSync(join(app, 'README.md'), '# mine\n');
    const again = await node([cli, 'init'], { cwd: app });
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /^created/m);
    assert.match(again.stdout, /^skipped README\.md \(it exists; left as it was\)$/m);
    assert.equal(readFileSync(join(app, 'README.md'), 'utf8'), '# mine\n');
    const manifest = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
    assert.equal(manifest.type, 'module');
    assert.ok(manifest.dependencies.hotcode);
    assert.deepEqual(
      JSON.parse(readFileSync(join(app, 'tsconfig.json'), 'utf8')).compilerOptions.moduleResolution,
      'Bundler',
    );
    assert.match(readFileSync(join(app, '.gitignore'), 'utf8'), /^ebin\/$/m);

    // npm install of the tarball.
    const installed = await sh(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball],
      { cwd: app },
    );
    assert.equal(installed.status, 0, installed.stderr);
    const hotcode = join(app, 'node_modules', 'hotcode');
    for (const f of readdirSync(join(hotcode, 'dist', 'stdlib', 'ebin')))
      assert.ok(
        !readFileSync(join(hotcode, 'dist', 'stdlib', 'ebin', f), 'utf8').includes(root),
        `${f}: no build path`,
      );

    // tsc agrees with the gate: clean.
    const tsc = await node(
      [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', app],
      { cwd: app },
    );
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);

    // hotcode run, type gate on, from the installed package.
    const bin = join(hotcode, 'dist', 'cli', 'main.js');
    const counter = await node([bin, 'run', 'counter', 'demo'], { cwd: app });
    assert.equal(counter.status, 0, counter.stderr);
    assert.match(counter.stdout, /^counter <0\.\d+\.0> counted 3 \(version 1\)$/m);
    const greeter = await node([bin, 'run', 'greeter', 'demo', 'Ada'], { cwd: app });
    assert.equal(greeter.status, 0, greeter.stderr);
    assert.equal(greeter.stdout, 'Hello, Ada! (greeting #1)\n');
    assert.doesNotMatch(counter.stderr + greeter.stderr, /error/i);
  });
});
