// S9.2 The secret: a file created 0600 with 32 random bytes when missing,
// refused when group or others can read it; a mutual HMAC challenge before
// anything else; a wrong secret, a replayed handshake and a command before
// authentication are refused and the node is unaffected; a refused client
// learns nothing, and later attempts wait ≥ 100 ms; the secret is never in
// argv, the environment, logs or error messages.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { proofOf } from '../dist/control/auth.js';
import { readSecret } from '../dist/control/secret.js';
import { connect } from '../dist/index.js';
import {
  closedBy,
  frame,
  frameReader,
  rawHandshake as handshake,
  rawConnect,
  sandbox,
  stopChild,
} from './fixtures/control/harness.js';

const box = sandbox('hotcode-secret-');
after(() => box.cleanup());

const COUNTER = [
  "import { receive, send, type Pid } from 'hotcode';",
  'export function add(a: number, b: number): number { return a + b; }',
  '/** A process holding a count: the node’s state that refused clients must not touch. */',
  'export async function holder(n: number): Promise<void> {',
  '  const m = await receive<{ from: Pid }>();',
  '  send(m.from, n);',
  '  return holder(n + 1);',
  '}',
  '',
].join('\n');

function nodeConfig(name, extra = {}) {
  const root = box.project({ 'src/counter.ts': COUNTER }, `p-${name}`);
  return {
    start: { name, src: join(root, 'src'), out: join(root, 'ebin'), typecheck: false, ...extra },
    compile: ['counter'],
  };
}

describe('S9.2 the secret file', { timeout: 60_000 }, () => {
  test('created when missing: 32 random bytes, mode 0600, in a 0700 directory', () => {
    const file = join(box.dir, 'made', 'here', 'secret');
    const s = readSecret(file);
    assert.equal(s.length, 32);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(box.dir, 'made', 'here')).mode & 0o777, 0o700);
    assert.deepEqual(readSecret(file), s, 'read again, the same secret');
    assert.notDeepEqual(readSecret(join(box.dir, 'made', 'other')), s);
  });

  test('the default is ~/.hotcode/secret, made by node and client alike', async () => {
    const home = join(box.dir, 'home');
    mkdirSync(home);
    const node = await box.startNode(nodeConfig('homed'), {
      env: { HOME: home, HOTCODE_SECRET_FILE: '' },
    });
    const file = join(home, '.hotcode', 'secret');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(home, '.hotcode')).mode & 0o777, 0o700);
    const remote = await connect('homed', { secretFile: file });
    assert.equal(await remote.rpc('counter', 'add', [1, 2]), 3);
    await remote.close();
    await stopChild(node.child);
  });

  test('control_insecure when group or others can read it — for the node and for a client', async () => {
    const file = join(box.dir, 'open-secret');
    writeFileSync(file, 'a secret nobody should see');
    chmodSync(file, 0o644);
    await assert.rejects(box.startNode(nodeConfig('leaky', { secretFile: file })), (e) => {
      assert.match(
        e.out,
        /failed control_insecure: the secret file .*open-secret is accessible by group or others \(mode 644\): chmod 600/,
      );
      assert.ok(!e.out.includes('a secret nobody'), 'the message never shows the secret');
      return true;
    });
    assert.throws(
      () => readSecret(file),
      (e) => e.code === 'control_insecure',
    );
    await assert.rejects(
      connect('leaky', { secretFile: file }),
      (e) => e.code === 'control_insecure',
    );
    chmodSync(file, 0o640);
    assert.throws(
      () => readSecret(file),
      (e) => e.code === 'control_insecure',
    );
    writeFileSync(join(box.dir, 'empty-secret'), '', { mode: 0o600 });
    assert.throws(() => readSecret(join(box.dir, 'empty-secret')), /is empty/);
  });
});

describe('S9.2 the handshake', { timeout: 60_000 }, () => {
  let node;
  let secret;
  const path = () => join(box.runtime, 'guarded.sock');
  before(async () => {
    secret = readFileSync(box.secret);
    node = await box.startNode({ ...nodeConfig('guarded'), spawn: [] });
  });
  after(() => stopChild(node.child));

  /** The node is unaffected: a right client still gets answers. */
  async function stillServing() {
    const remote = await connect('guarded');
    assert.equal(await remote.rpc('counter', 'add', [40, 2]), 42);
    assert.equal((await remote.status()).pid, node.pid);
    await remote.close();
  }

  test('the node speaks first with a nonce and nothing else about itself', async () => {
    const socket = await rawConnect(path());
    const hello = await frameReader(socket).next();
    assert.deepEqual(Object.keys(hello).sort(), ['hotcode', 'nonce', 'version']);
    assert.equal(Buffer.from(hello.nonce, 'base64').length, 32);
    assert.ok(!JSON.stringify(hello).includes('guarded'));
    socket.destroy();
  });

  test('a right proof: the node proves the secret too (mutual), and names itself only then', async () => {
    const h = await handshake(path(), secret);
    const clientNonce = Buffer.from(h.clientFrame.nonce, 'base64');
    const expected = proofOf(secret, 'node', Buffer.from(h.hello.nonce, 'base64'), clientNonce);
    assert.equal(h.welcome.welcome, expected.toString('base64'));
    assert.equal(h.welcome.node.name, 'guarded');
    h.socket.write(frame({ id: 1, cmd: 'ping', args: {} }));
    assert.deepEqual(await h.read.next(), { id: 1, ok: true, value: { pong: true } });
    h.socket.destroy();
  });

  test('a wrong secret: auth, nothing learnt, disconnected; the node unaffected', async () => {
    const wrong = join(box.dir, 'wrong');
    writeFileSync(wrong, Buffer.alloc(32, 9), { mode: 0o600 });
    await assert.rejects(connect('guarded', { secretFile: wrong }), (e) => {
      assert.equal(e.code, 'auth');
      return true;
    });
    const socket = await rawConnect(path());
    const read = frameReader(socket);
    const hello = await read.next();
    const cn = Buffer.alloc(32, 1);
    socket.write(
      frame({
        nonce: cn.toString('base64'),
        proof: proofOf(
          Buffer.alloc(32, 9),
          'client',
          Buffer.from(hello.nonce, 'base64'),
          cn,
        ).toString('base64'),
      }),
    );
    assert.deepEqual(await read.next(), { denied: true });
    assert.deepEqual(await read.next(), { closed: true });
    await stillServing();
  });

  test('a replayed handshake (a right answer from another connection) is refused', async () => {
    const first = await handshake(path(), secret);
    assert.ok(first.welcome.welcome, 'the first connection got in');
    first.socket.destroy();
    const socket = await rawConnect(path());
    const read = frameReader(socket);
    await read.next(); // a new nonce
    socket.write(frame(first.clientFrame));
    assert.deepEqual(await read.next(), { denied: true });
    await closedBy(socket);
    await stillServing();
  });

  test('a command before authentication is refused and gets no answer', async () => {
    const socket = await rawConnect(path());
    const read = frameReader(socket);
    await read.next();
    socket.write(frame({ id: 1, cmd: 'stop', args: {} }));
    assert.deepEqual(await read.next(), { denied: true });
    assert.deepEqual(await read.next(), { closed: true });
    await stillServing();
  });

  test('after a failure, every attempt is answered no sooner than 100 ms after it began', async () => {
    const socket = await rawConnect(path());
    const read = frameReader(socket);
    await read.next();
    socket.write(frame({ nonce: 'bad', proof: 'bad' }));
    assert.deepEqual(await read.next(), { denied: true });
    const t0 = performance.now();
    const remote = await connect('guarded');
    const took = performance.now() - t0;
    assert.ok(took >= 99, `the next (right) attempt answered after ${took} ms`);
    await remote.close();
  });

  test('a node that cannot prove the secret is refused by the client (auth)', async () => {
    const fake = join(box.runtime, 'impostor.sock');
    const server = net.createServer((s) => {
      s.write(
        frame({ hotcode: 'control', version: 1, nonce: Buffer.alloc(32, 3).toString('base64') }),
      );
      s.on('data', () =>
        s.write(
          frame({ welcome: Buffer.alloc(32).toString('base64'), node: { name: 'impostor' } }),
        ),
      );
    });
    await new Promise((r) => server.listen(fake, r));
    await assert.rejects(connect({ socket: fake }), (e) => {
      assert.equal(e.code, 'auth');
      assert.match(e.message, /did not prove that it knows the secret/);
      return true;
    });
    await new Promise((r) => server.close(r));
  });
});

describe('S9.2 the secret never shows', { timeout: 60_000 }, () => {
  test('not in /proc/<pid>/cmdline or environ, not on stdout or stderr, not in the log', async (t) => {
    const secret = readFileSync(box.secret);
    const forms = [secret.toString('hex'), secret.toString('base64'), secret.toString('latin1')];
    const node = await box.startNode(nodeConfig('discreet'));
    const remote = await connect('discreet');
    await remote.rpc('counter', 'add', [1, 1]);
    await remote.rpc('counter', 'nope', []).catch(() => {});
    await remote.eval('1 + 1');
    await remote.close();
    await connect('discreet', { secretFile: join(box.dir, 'wrong') }).catch(() => {});
    const places = { stdout: node.out, stderr: node.err };
    if (existsSync(`/proc/${node.pid}/cmdline`)) {
      places.cmdline = readFileSync(`/proc/${node.pid}/cmdline`, 'latin1');
      places.environ = readFileSync(`/proc/${node.pid}/environ`, 'latin1');
    } else t.diagnostic('no /proc: cmdline and environ not checked');
    await stopChild(node.child);
    places.log = readFileSync(join(box.runtime, 'discreet.log'), 'latin1');
    assert.match(places.log, /rpc counter\.add\/2/);
    for (const [where, text] of Object.entries(places))
      for (const f of forms) assert.ok(!text.includes(f), `the secret is in ${where}`);
    assert.ok(places.environ === undefined || places.environ.includes(box.secret), 'only its path');
  });

  test('a client’s argv and error messages hold the path, never the secret', async () => {
    const secret = readFileSync(box.secret);
    const r = await box.cli(['rpc', 'nosuchnode', 'counter', 'add', '1', '2']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^hotcode: nodedown: cannot reach node nosuchnode/);
    for (const f of [secret.toString('hex'), secret.toString('base64')])
      assert.ok(!r.stderr.includes(f) && !r.stdout.includes(f));
    // a client that cannot read its secret says which file, not what is in it
    const child = spawn(
      process.execPath,
      [
        '-e',
        `import('${new URL('../dist/index.js', import.meta.url).href}').then(m => m.connect('x', { secretFile: ${JSON.stringify(join(box.secret, 'under-a-file', 'secret'))} })).catch(e => { console.log(e.code, e.message); })`,
      ],
      {
        env: box.env,
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await new Promise((r) => child.on('exit', r));
    assert.match(
      out,
      /^control_insecure cannot read or create the secret file .*under-a-file\/secret \(ENOTDIR\)/,
    );
  });
});
