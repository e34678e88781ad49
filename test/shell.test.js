// The interactive shell (S7.1–S7.4), driven in a real terminal (tmux):
// what a person types, what a person sees.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hasTmux, project, save, Terminal, version } from './fixtures/shell/harness.js';

const skip = hasTmux() ? false : 'tmux is not installed (apt-get install tmux)';
const runtimeModules = ['genServer', 'supervisor', 'sys'].filter((m) =>
  existsSync(new URL(`../dist/stdlib/ebin/${m}.js`, import.meta.url)),
);

describe('the shell', { skip, timeout: 300_000 }, () => {
  let root;
  let t;
  before(async () => {
    root = project();
    t = Terminal.start(['shell', '--no-typecheck'], {
      cwd: root,
      env: { HOTCODE_HISTORY: join(root, 'history') },
    });
    await t.waitFor(/^hotcode> ?$/m);
  });
  after(() => t?.kill());

  test('the banner says how to get help, and stale sources were compiled at start', () => {
    const s = t.screen();
    assert.match(s, /hotcode \d+\.\d+\.\d+ .*help\(\)/);
    assert.match(s, /compiled app, counter, process/);
  });

  test('looking at a module does not load it: previews and probes never autoload (S7.1)', async () => {
    t.type('counter.inc(4');
    await new Promise((r) => setTimeout(r, 300)); // the preview runs while typing
    t.press('C-u');
    assert.equal(await t.run('code.isLoaded("counter")'), 'false');
    assert.equal(await t.run('counter'), '[module counter (not loaded)]');
    assert.equal(await t.run('code.isLoaded("counter")'), 'false');
  });

  test('Tab on an empty word lists modules, the runtime ones included, and commands (S7.3)', async () => {
    t.press('Tab');
    await new Promise((r) => setTimeout(r, 100));
    t.press('Tab');
    const s = await t.waitFor(/recompile\s+regs/);
    // The list is printed between the prompt Tab was pressed at and the prompt shown again.
    const last = s.lastIndexOf('hotcode>');
    const list = s.slice(s.lastIndexOf('hotcode>', last - 1), last);
    for (const name of ['counter', 'app', ...runtimeModules, 'flush', 'regs', 'mm', 'lm', 'help'])
      assert.match(list, new RegExp(`(^|\\s)${name}(\\s|$)`, 'm'), `${name} in the Tab list`);
    assert.doesNotMatch(
      list,
      /(^|\s)process(\s|$)/m,
      'process is a Node global, not a module global',
    );
    t.press('C-u');
  });

  test('Tab completes a partial module name, and `counter.` Tab lists its exports, loading it (S7.3)', async () => {
    t.type('coun');
    t.press('Tab');
    await t.waitFor(/hotcode> counter$/m);
    t.type('.');
    await new Promise((r) => setTimeout(r, 100));
    t.press('Tab');
    await new Promise((r) => setTimeout(r, 100));
    t.press('Tab');
    await t.waitFor(/counter\.boom\s+counter\.inc\s+counter\.loop/);
    t.press('C-u');
    assert.match(await t.run('code.isLoaded("counter")'), /counter\.js/);
  });

  test('a module global calls the current version (S7.1)', async () => {
    assert.equal(await t.run('counter.inc(41)'), '42');
  });

  test('an error prints readably with its .ts location, and the next line works (S7.4)', async () => {
    const out = await t.run('counter.boom()');
    assert.match(out, /Error: boom from counter/);
    assert.match(out, /counter\.ts:10:\d+/);
    assert.doesNotMatch(out, /ebin|dist\/|node:internal/);
    assert.equal(await t.run('1 + 1'), '2');
  });

  test('unknown names and functions are one-line errors', async () => {
    assert.equal(
      await t.run('nosuchmodule.f()'),
      'Uncaught ReferenceError: nosuchmodule is not defined',
    );
    const undef = await t.run('counter.nope()');
    assert.match(undef, /UndefError \[undef\]: counter\.nope is not exported by counter/);
    assert.doesNotMatch(undef, /\n\s+at /);
    assert.equal(
      await t.run('c("nosuchmodule")'),
      "{ error: 'nofile' }\nno source for nosuchmodule in src",
    );
  });

  test('c(M) with a type error prints file:line:col diagnostics and keeps the running code (S7.2, S7.4)', async () => {
    save(root, 'src/counter.ts', version('counter_broken.ts'));
    const out = await t.run('c(counter, { typecheck: true })', 60_000);
    assert.match(
      out,
      /src\/counter\.ts:6:3 - error TS2322: Type 'string' is not assignable to type 'number'\./,
    );
    assert.match(out, /\{ error: 'compile' \}/);
    assert.equal(await t.run('counter.inc(1)'), '2');
  });

  test('c(M) compiles and loads; the next call runs the new version', async () => {
    save(root, 'src/counter.ts', version('counter_v2.ts'));
    assert.equal(await t.run('c(counter)'), "{ module: 'counter' }");
    assert.equal(await t.run('counter.inc(1)'), '101');
    assert.equal(await t.run("c(['counter', 'app'])"), "{ modules: [ 'counter', 'app' ] }");
  });

  test('m() and m(M) show modules, exports and versions', async () => {
    const all = await t.run('m()');
    assert.match(all, /^Module\s+Version\s+File/);
    assert.match(all, /^counter\s+v\d+ \+old\s+ebin\/counter\.js/m);
    for (const r of runtimeModules) assert.match(all, new RegExp(`^${r}\\s.*\\(runtime\\)`, 'm'));
    for (const line of all.split('\n')) assert.ok(line.length <= 80, `fits 80 columns: ${line}`);
    const one = await t.run('m(counter)');
    assert.match(one, /Module counter/);
    assert.match(one, /exports: +boom\/0, inc\/1, loop\/1/);
    assert.match(one, /current: vsn \w+/);
    assert.match(one, /old: +vsn \w+.*\(used by 0 processes\)/);
  });

  test('the shell is a process: self(), receive, flush() (S7.1, S7.2)', async () => {
    const pid = await t.run('self()');
    assert.match(pid, /^<0\.\d+\.0>$/);
    assert.equal(await t.run('self() === self()'), 'true');
    assert.equal(
      await t.run("send(self(), 'one'); send(self(), { n: 2 }); flush()"),
      "Shell got 'one'\nShell got { n: 2 }",
    );
    assert.equal(await t.run('flush()'), '');
    // A promise is awaited; top-level await works too.
    assert.equal(await t.run("send(self(), 'three'); receive()"), "'three'");
    assert.equal(await t.run('await Promise.resolve(5)'), '5');
  });

  test('Ctrl+C interrupts a receive that waits forever: one short line, and the next message is not lost', async () => {
    t.line('receive()');
    await new Promise((r) => setTimeout(r, 300));
    t.press('C-c');
    const s = await t.waitFor(/hotcode> receive\(\)\ninterrupted\nhotcode>/);
    assert.doesNotMatch(s, /ERR_SCRIPT_EXECUTION_INTERRUPTED|Script execution was interrupted/);
    assert.equal(await t.run("send(self(), 'after'); flush()"), "Shell got 'after'");
  });

  test('Ctrl+C stops an endless loop of the line, and ends a process it left before its first wait (S0.5)', async () => {
    t.line('while (true) {}');
    await new Promise((r) => setTimeout(r, 300));
    t.press('C-c');
    await t.waitFor(/while \(true\) \{\}\n(\^C)?interrupted\nhotcode>/);
    t.line('spawn(() => { while (true) {} })');
    await new Promise((r) => setTimeout(r, 300));
    t.press('C-c');
    const s = await t.waitFor(
      /interrupted; ended (<0\.\d+\.0>) \(interrupted before its first wait\)/,
    );
    const pid = /interrupted; ended (<0\.\d+\.0>)/.exec(s)[1];
    assert.doesNotMatch(s, /CRASH REPORT.*interrupted/, 'the interrupted line says it all');
    assert.doesNotMatch(await t.run('i()'), new RegExp(pid.replace(/[.<>]/g, '\\$&')));
    assert.equal(await t.run('1 + 1'), '2');
  });

  test('code. + Tab lists the API before what every object has (S7.3)', async () => {
    t.type('code.');
    t.press('Tab');
    await new Promise((r) => setTimeout(r, 100));
    t.press('Tab');
    const s = await t.waitFor(/code\.__proto__[\s\S]*hotcode> code\.\s*$/);
    t.press('C-u');
    // The list is printed between the line Tab was pressed on and the prompt shown again.
    const again = s.lastIndexOf('hotcode> code.');
    const list = s.slice(s.lastIndexOf('hotcode> code.', again - 1), again);
    assert.ok(list.indexOf('code.softPurge') > 0, list);
    assert.ok(list.indexOf('code.softPurge') < list.indexOf('code.__proto__'), list);
    assert.ok(list.indexOf('code.versions') < list.indexOf('code.constructor'), list);
  });

  test('a mistyped module gets the closest name; exit() with no reason keeps the shell (S7.6)', async () => {
    assert.equal(
      await t.run('c(cuonter)'),
      'Uncaught ReferenceError: cuonter is not defined (did you mean counter?)',
    );
    assert.equal(
      await t.run("c('cuonter')"),
      "{ error: 'nofile' }\nno source for cuonter in src; did you mean counter?",
    );
    const pid = await t.run('self()');
    assert.match(await t.run('exit()'), /^exit\(\) needs a reason/);
    assert.equal(await t.run('self()'), pid);
  });

  test('i() and regs() list processes in a table that fits 80 columns', async () => {
    const pid = await t.run("const p = spawn('counter', 'loop', [0]); register('looper', p); p");
    const table = await t.run('i()');
    assert.match(table, /^Pid\s+Initial call\s+Name\s+Msgs\s+Status\s+Code in use/);
    assert.match(
      table,
      new RegExp(
        `^${pid.replace(/[.<>]/g, '\\$&')}\\s+counter\\.loop/1\\s+looper\\s+0\\s+waiting\\s+counter`,
        'm',
      ),
    );
    assert.match(table, /\bshell\b/);
    for (const line of table.split('\n')) assert.ok(line.length <= 80, `fits 80 columns: ${line}`);
    assert.match(await t.run('regs()'), /^looper\s+<0\.\d+\.0>\s+counter\.loop\/1/m);
    assert.equal(await t.run('mod("process").hello()'), "'hello from the process module'");
    assert.equal(await t.run('typeof process.pid'), "'number'");
  });

  test('an expression that kills the shell process: a new one takes over (S7.1)', async () => {
    const before = await t.run('self()');
    const out = await t.run("exit('kill')");
    assert.match(
      out,
      new RegExp(
        `shell process ${before.replace(/[.<>]/g, '\\$&')} exited: kill; new shell process <0\\.\\d+\\.0>`,
      ),
    );
    const now = await t.run('self()');
    assert.notEqual(now, before);
    assert.equal(await t.run('1 + 2'), '3');
    // A linked process that crashes takes the shell down with it, as in Erlang.
    const crash = await t.run("spawnLink(() => { throw new Error('linked crash') }); 'spawned'");
    assert.match(crash, /new shell process/);
    await t.waitFor(/CRASH REPORT.*\n.*Error: linked crash/);
    assert.equal(await t.run('2 + 2'), '4');
  });

  test('help() lists the commands', async () => {
    const out = await t.run('help()');
    for (const cmd of ['c(M)', 'l(M)', 'm()', 'i()', 'flush()', 'mm()', 'lm()', 'regs()', 'help()'])
      assert.ok(out.includes(cmd), cmd);
  });

  test('mm() and lm(): modified object files are listed and loaded', async () => {
    assert.equal(await t.run('mm()'), '[]');
    save(root, 'src/counter.ts', version('counter_v3.ts'));
    assert.match(await t.run("compile.file('counter', { typecheck: false })"), /module: 'counter'/);
    assert.equal(await t.run('mm()'), "[ 'counter' ]");
    assert.equal(await t.run('lm()'), "[ { module: 'counter' } ]");
    assert.equal(await t.run('counter.inc(1)'), '1001');
  });

  test('history is kept in a file of the project (Ctrl+D leaves)', async () => {
    t.press('C-d');
    await t
      .waitFor((s) => !/hotcode> ?$/.test(s.trimEnd()) || s.includes('Pane is dead'), 10_000)
      .catch(() => {});
    const file = join(root, 'history');
    for (let i = 0; i < 50 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(readFileSync(file, 'utf8'), /counter\.inc\(41\)/);
  });
});

describe('q() (S7.6)', { skip, timeout: 120_000 }, () => {
  let t;
  after(() => t?.kill());

  test('leaves the shell and stops the node, status 0', async () => {
    const root = project();
    t = Terminal.start(['shell', '--no-typecheck'], { cwd: root });
    await t.waitFor(/^hotcode> ?$/m, 60_000);
    t.line('q()');
    assert.equal(await t.exited(), 0);
    assert.doesNotMatch(t.screen(), /Uncaught/);
  });
});
