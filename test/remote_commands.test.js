// S9.4 The commands: hotcode rpc, eval, status, deploy, stop and remote
// against a node started by `hotcode run --name`, from another directory
// (the deploying machine's copy of the sources). Output and exit status as a
// person or a script sees them; bad input gets a clear error and changes
// nothing on the node.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from '../dist/index.js';
import { exited, sandbox, stopChild } from './fixtures/control/harness.js';
import { hasTmux, Terminal } from './fixtures/shell/harness.js';

const box = sandbox('hotcode-cmds-');
after(() => box.cleanup());

const MODULES = join(import.meta.dirname, 'fixtures', 'control', 'modules');
const fixture = (f) => readFileSync(join(MODULES, f), 'utf8');
const WAITER = (n) =>
  `import { receive } from 'hotcode';\nexport function n(): number { return ${n}; }\nexport async function wait(): Promise<void> { await receive(); }\n`;
const APP = [
  "import { genServer, register, spawn } from 'hotcode';",
  "import * as waiter from './waiter';",
  'export async function main(): Promise<void> {',
  "  await genServer.start('kv', undefined, { name: 'kv' });",
  "  register('w', spawn(waiter.wait));",
  "  console.log('app main started');",
  '  await new Promise(() => {});',
  '}',
  '',
].join('\n');

const files = {
  'src/app.ts': APP,
  'src/counter.ts': fixture('counter.ts'),
  'src/room.ts': fixture('room_v1.ts'),
  'src/lobby.ts': fixture('lobby.ts'),
  'src/kv.ts': fixture('kv_v1.ts'),
  'src/waiter.ts': WAITER(1),
};
const nodeRoot = box.project(
  { ...files, 'hotcode.config.json': JSON.stringify({ typecheck: false }) },
  'service',
);
// The deploying side: its own project with the same sources.
const here = box.project({ ...files, 'hotcode.config.json': '{}' }, 'deployer');
const write = (module, text) => writeFileSync(join(here, 'src', `${module}.ts`), text);
const put = (module, f) => copyFileSync(join(MODULES, f), join(here, 'src', `${module}.ts`));
const hotcode = (args, opts = {}) => box.cli(args, { cwd: here, ...opts });

let node;
before(async () => {
  node = await box.startCli(['run', '--name', 'cmds', 'app', 'main'], {
    cwd: nodeRoot,
    ready: /app main started/,
  });
});
after(() => stopChild(node.child));

describe('S9.4 hotcode rpc', { timeout: 120_000 }, () => {
  test('runs MODULE.FUNCTION(...ARGS) there: ARGS are JSON, other words strings; the result as JSON', async () => {
    const r = await hotcode(['rpc', 'cmds', 'counter', 'add', '2', '40']);
    assert.deepEqual(r, { status: 0, stdout: '42\n', stderr: '' });
    const e = await hotcode([
      'rpc',
      'cmds',
      'counter',
      'echo',
      '5',
      'hello',
      '"5"',
      '{"a":[1]}',
      'true',
      '--not-an-option',
    ]);
    assert.equal(e.stdout, '[5,"hello","5",{"a":[1]},true,"--not-an-option"]\n');
    assert.equal((await hotcode(['rpc', 'cmds', 'counter', 'nothing'])).stdout, 'null\n');
    const bySocket = await hotcode([
      'rpc',
      '--socket',
      join(box.runtime, 'cmds.sock'),
      'counter',
      'add',
      '1',
      '2',
    ]);
    assert.equal(bySocket.stdout, '3\n');
  });

  test('errors: the code and message on stderr, status 1, and the node goes on', async () => {
    const undef = await hotcode(['rpc', 'cmds', 'counter', 'nope']);
    assert.equal(undef.status, 1);
    assert.equal(
      undef.stderr,
      'hotcode: undef: counter.nope/0 is not a function exported by counter\n',
    );
    const boom = await hotcode(['rpc', 'cmds', 'counter', 'boom']);
    assert.equal(boom.stderr, 'hotcode: exit: the process exited: TypeError: boom\n');
    const coded = await hotcode(['rpc', 'cmds', 'counter', 'coded']);
    assert.equal(coded.stderr, 'hotcode: out_of_stock: out of stock\n');
    const json = await hotcode(['rpc', 'cmds', 'counter', 'echo', '{a:1}']);
    assert.equal(json.status, 1);
    assert.match(json.stderr, /^hotcode: argument 1 \(\{a:1\}\) is not valid JSON: .*quote it/);
    const down = await hotcode(['rpc', 'nosuchnode', 'counter', 'add']);
    assert.match(down.stderr, /^hotcode: nodedown: cannot reach node nosuchnode .*no socket there/);
    const wrong = join(box.dir, 'wrong-secret');
    writeFileSync(wrong, Buffer.alloc(32, 4), { mode: 0o600 });
    const auth = await hotcode(['rpc', 'cmds', 'counter', 'add', '--secret-file', wrong]);
    // (after the function, words are arguments: --secret-file goes before)
    assert.equal(auth.status, 0);
    const auth2 = await hotcode(['rpc', '--secret-file', wrong, 'cmds', 'counter', 'add']);
    assert.equal(auth2.status, 1);
    assert.match(auth2.stderr, /^hotcode: auth: node cmds .* refused the secret/);
    const usage = await hotcode(['rpc', 'cmds', 'counter']);
    assert.match(usage.stderr, /^hotcode: rpc needs a module and a function/);
    assert.equal((await hotcode(['rpc', 'cmds', 'counter', 'add', '1', '1'])).stdout, '2\n');
  });
});

describe('S9.4 hotcode eval and status', { timeout: 120_000 }, () => {
  test('eval prints what the shell prints; an error goes to stderr with status 1', async () => {
    assert.deepEqual(await hotcode(['eval', 'cmds', 'counter.add(20, 22)']), {
      status: 0,
      stdout: '42\n',
      stderr: '',
    });
    const bad = await hotcode(['eval', 'cmds', 'nosuch.thing']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^hotcode: eval: Uncaught ReferenceError: nosuch is not defined/);
  });

  test('status: name, pid, uptime, memory, processes, and each module with its versions', async () => {
    const r = await hotcode(['status', 'cmds']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(
      lines[0],
      new RegExp(
        `^node cmds \\(pid ${node.pid}\\), up \\d+\\S*( \\d+\\S*)?, rss [\\d.]+ MB, heap [\\d.]+ MB of [\\d.]+ MB, \\d+ processes$`,
      ),
    );
    assert.match(lines[1], /^module\s+current\s+old\s+in old code$/);
    assert.match(r.stdout, /^counter\s+1 \(\S+\)\s+-$/m);
    assert.match(r.stdout, /^runtime modules: .*genServer/m);
  });
});

describe('S9.4 hotcode deploy', { timeout: 180_000 }, () => {
  test('one line per module, room: 1 -> 2; status shows the old version and its process; killed N', async () => {
    write('waiter', WAITER(2));
    const r = await hotcode(['deploy', 'cmds', 'waiter']);
    assert.deepEqual(r, { status: 0, stdout: 'waiter: 1 -> 2\n', stderr: '' });
    const st = await hotcode(['status', 'cmds']);
    assert.match(st.stdout, /^waiter\s+2 \(\S+\)\s+1 \(\S+\)\s+1 process$/m);
    write('waiter', WAITER(3));
    const pid = (await hotcode(['eval', 'cmds', "whereis('w')"])).stdout.trim();
    const again = await hotcode(['deploy', 'cmds', 'waiter']);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, `waiter: 2 -> 3\nkilled 1 (${pid})\n`);
    assert.equal((await hotcode(['rpc', 'cmds', 'waiter', 'n'])).stdout, '3\n');
  });

  test('a type error in a caller on the node: diagnostics, status 1, nothing changed', async () => {
    // the check is against the versions loaded on the node: lobby is loaded by its first call
    assert.equal((await hotcode(['rpc', 'cmds', 'lobby', 'welcome'])).stdout, '"hello ada (r1)"\n');
    put('room', 'room_breaks_lobby.ts');
    put('lobby', 'lobby_adapted.ts'); // adapted here; the node still runs the old lobby
    const r = await hotcode(['deploy', 'cmds', 'room']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /lobby\.ts:\d+:\d+ - error TS2345/);
    assert.match(
      r.stderr,
      /hotcode: deploy refused: 1 error\(s\); nothing changed on node cmds\n$/,
    );
    assert.equal(r.stdout, '');
    assert.equal((await hotcode(['rpc', 'cmds', 'lobby', 'welcome'])).stdout, '"hello ada (r1)"\n');
  });

  test('a syntax error: diagnostics, status 1, nothing changed', async () => {
    put('room', 'bad_syntax.ts');
    const r = await hotcode(['deploy', 'cmds', 'room']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /room\.ts:\d+:\d+ - error/);
    assert.equal((await hotcode(['rpc', 'cmds', 'lobby', 'welcome'])).stdout, '"hello ada (r1)"\n');
  });

  test('--check type-checks and prepares, loads nothing; --no-typecheck loads what does not type-check', async () => {
    put('room', 'room_v2.ts');
    put('lobby', 'lobby.ts');
    const check = await hotcode(['deploy', 'cmds', 'room', '--check']);
    assert.deepEqual(check, {
      status: 0,
      stdout: 'room: 1 -> checked (--check: nothing loaded)\n',
      stderr: '',
    });
    assert.equal((await hotcode(['rpc', 'cmds', 'lobby', 'welcome'])).stdout, '"hello ada (r1)"\n');
    write('counter', `${fixture('counter.ts')}\nexport const wrong: number = 'x';\n`);
    assert.equal((await hotcode(['deploy', 'cmds', 'counter'])).status, 1);
    const loose = await hotcode(['deploy', 'cmds', 'counter', '--no-typecheck']);
    assert.deepEqual(loose, { status: 0, stdout: 'counter: 1 -> 2\n', stderr: '' });
    assert.equal((await hotcode(['rpc', 'cmds', 'counter', 'add', '1', '1'])).stdout, '2\n');
  });

  test('no modules named: every module whose source differs; nothing to deploy when none does', async () => {
    // room (v2 here) differs; counter and waiter match what was deployed
    const r = await hotcode(['deploy', 'cmds', '--no-typecheck']);
    assert.deepEqual(r, { status: 0, stdout: 'room: 1 -> 2\n', stderr: '' });
    const none = await hotcode(['deploy', 'cmds']);
    assert.deepEqual(none, {
      status: 0,
      stdout: 'nothing to deploy: node cmds runs every module as its source here is\n',
      stderr: '',
    });
  });

  test('--upgrade --change SERVER:MODULE: a release upgrade that migrates the server’s state', async () => {
    await hotcode(['eval', 'cmds', "genServer.call('kv', 'inc')"]);
    put('kv', 'kv_v2.ts');
    const r = await hotcode(['deploy', 'cmds', 'kv', '--upgrade', '--change', 'kv:kv']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^kv: 1 -> 2\nupgrade: servers paused [\d.]+ ms\n$/);
    const state = await hotcode([
      'eval',
      'cmds',
      "JSON.stringify(await genServer.call('kv', 'get'))",
    ]);
    assert.equal(state.stdout, `'{"vsn":"kv2","state":{"total":1,"since":"migrated from kv1"}}'\n`);
    const usage = await hotcode(['deploy', 'cmds', 'kv', '--change', 'kv:kv']);
    assert.match(usage.stderr, /^hotcode: --change SERVER:MODULE goes with --upgrade/);
    const bad = await hotcode(['deploy', 'cmds', 'kv', '--upgrade', '--change', 'kv']);
    assert.match(bad.stderr, /^hotcode: --change takes SERVER:MODULE/);
  });
});

describe('S9.4 hotcode remote', { timeout: 120_000 }, () => {
  test('piped lines run in the node, in order; q() detaches and the node goes on', async () => {
    const r = await hotcode(['remote', 'cmds'], {
      input:
        'counter.add(1,\n2)\nconsole.log("from the node"); 7\n[1, 2].map((x) => x * 2)\nq()\nconsole.log("not run")\n',
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(
      lines[0],
      /^hotcode remote shell on node cmds \(pid \d+, hotcode [\d.]+\); q\(\) or Ctrl\+D detaches/,
    );
    assert.deepEqual(lines.slice(1), ['3', 'from the node', '7', '[ 2, 4 ]', '']);
    assert.equal((await hotcode(['rpc', 'cmds', 'counter', 'add', '1', '1'])).stdout, '2\n');
  });

  test('in a terminal: Tab completes the node’s modules, Ctrl-C interrupts the line (even an endless loop), Ctrl-D detaches', async (t) => {
    if (!hasTmux()) return t.skip('tmux is not installed: the terminal is not tested');
    const term = Terminal.start(['remote', 'cmds'], {
      cwd: here,
      env: { HOTCODE_RUNTIME_DIR: box.runtime, HOTCODE_SECRET_FILE: box.secret, NO_COLOR: '1' },
    });
    t.after(() => term.kill());
    await term.waitFor('cmds> ');
    term.type('coun');
    term.press('Tab');
    await term.waitFor('cmds> counter');
    term.type('.add(1, 2)');
    term.press('Enter');
    await term.waitFor(/counter\.add\(1, 2\)\n3\ncmds> $/m);
    term.line('await receive()');
    await term.waitFor('cmds> await receive()\n');
    term.press('C-c');
    await term.waitFor(/await receive\(\)\ninterrupted\ncmds> /);
    term.line('for (;;) {}');
    await term.waitFor('cmds> for (;;) {}\n');
    term.press('C-c');
    await term.waitFor(/for \(;;\) \{\}\ninterrupted\ncmds> /);
    term.line('counter.add(2, 2)');
    await term.waitFor(/counter\.add\(2, 2\)\n4\n/);
    term.press('C-d');
    // (the status of a detach is checked with piped input above; tmux's report of a pane's
    // exit status can lag far behind under load, so it is not waited for here)
    await term.waitFor(/^detached from node cmds; it keeps running$/m);
    // detached: the node is still up
    const remote = await connect('cmds');
    assert.equal((await remote.status()).pid, node.pid);
    await remote.close();
  });
});

describe('S9.4 hotcode stop', { timeout: 60_000 }, () => {
  test('stops the node (every process, then its OS process, status 0)', async () => {
    const r = await hotcode(['stop', 'cmds']);
    assert.deepEqual(r, { status: 0, stdout: `node cmds (pid ${node.pid}) stopped\n`, stderr: '' });
    assert.deepEqual(await exited(node.child), { status: 0, signal: null });
    const gone = await hotcode(['status', 'cmds']);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /^hotcode: nodedown/);
  });
});
