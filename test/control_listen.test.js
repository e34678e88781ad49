// S9.1 Listening: a named node listens on <dir>/<name>.sock (dir 0700, socket
// 0600), refuses an insecure directory, a taken name and anything planted at
// its socket path, replaces a stale socket, has no TCP listener unless asked
// (then TLS 1.3 only, loopback unless allowRemote), and stop removes the
// socket. Nodes run as child processes in a private sandbox.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import tls from 'node:tls';
import { runtimeDir, socketPath } from '../dist/control/paths.js';
import { connect, start, stop } from '../dist/index.js';
import { freePort } from '../scripts/demo-http.js';
import { exited, NODE_SCRIPT, sandbox, stopChild } from './fixtures/control/harness.js';

const box = sandbox('hotcode-listen-');
after(() => box.cleanup());

const COUNTER = 'export function add(a: number, b: number): number { return a + b; }\n';

function nodeConfig(name, extra = {}) {
  const root = box.project({ 'src/counter.ts': COUNTER }, `p-${name}`);
  return {
    start: { name, src: join(root, 'src'), out: join(root, 'ebin'), typecheck: false, ...extra },
    compile: ['counter'],
  };
}

/** The TCP ports a process listens on (its own sockets, from /proc). */
function listeningTcpPorts(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {}
  }
  const ports = [];
  for (const file of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      // st 0A = LISTEN; inode is the 10th field
      if (f[3] === '0A' && inodes.has(f[9])) ports.push(Number.parseInt(f[1].split(':')[1], 16));
    }
  }
  return ports;
}

describe('S9.1 a named node listens on a private Unix socket', { timeout: 120_000 }, () => {
  test('<dir>/<name>.sock, socket 0600 and dir 0700, both the user’s; stop removes it', async () => {
    const node = await box.startNode(nodeConfig('alpha'));
    const sock = join(box.runtime, 'alpha.sock');
    const st = lstatSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, process.getuid());
    const dir = statSync(box.runtime);
    assert.equal(dir.mode & 0o777, 0o700);
    assert.equal(dir.uid, process.getuid());
    const remote = await connect('alpha', { secretFile: box.secret });
    assert.equal(await remote.rpc('counter', 'add', [2, 3]), 5);
    await remote.stop();
    assert.deepEqual(await exited(node.child), { status: 0, signal: null });
    assert.equal(existsSync(sock), false);
  });

  test('a missing directory is created with mode 0700', async () => {
    const dir = join(box.dir, 'fresh', 'run');
    const node = await box.startNode(nodeConfig('beta'), { env: { HOTCODE_RUNTIME_DIR: dir } });
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.ok(lstatSync(join(dir, 'beta.sock')).isSocket());
    await stopChild(node.child);
  });

  test('the directory: $HOTCODE_RUNTIME_DIR, else $XDG_RUNTIME_DIR/hotcode, else /tmp/hotcode-<uid>', () => {
    assert.equal(runtimeDir({ HOTCODE_RUNTIME_DIR: '/a/b', XDG_RUNTIME_DIR: '/x' }), '/a/b');
    assert.equal(runtimeDir({ XDG_RUNTIME_DIR: '/run/user/7' }), '/run/user/7/hotcode');
    assert.match(runtimeDir({}), new RegExp(`/hotcode-${process.getuid()}$`));
    assert.equal(socketPath('shop', '/d'), '/d/shop.sock');
  });

  test('$XDG_RUNTIME_DIR/hotcode is used when HOTCODE_RUNTIME_DIR is not set', async () => {
    const xdg = join(box.dir, 'xdg');
    mkdirSync(xdg, { mode: 0o700 });
    const env = { ...box.env, XDG_RUNTIME_DIR: xdg };
    delete env.HOTCODE_RUNTIME_DIR;
    const child = spawn(process.execPath, [NODE_SCRIPT, JSON.stringify(nodeConfig('gamma'))], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    box.children.add(child);
    let out = '';
    await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (/ready/.test(out)) resolve();
      });
      child.on('exit', () => reject(new Error(out)));
    });
    assert.ok(lstatSync(join(xdg, 'hotcode', 'gamma.sock')).isSocket());
    assert.equal(statSync(join(xdg, 'hotcode')).mode & 0o777, 0o700);
    await stopChild(child);
  });

  test('control_insecure: a directory that group or others can use, or that is not the user’s', async () => {
    const open = join(box.dir, 'open');
    mkdirSync(open, { mode: 0o700 });
    chmodSync(open, 0o755);
    await assert.rejects(
      box.startNode(nodeConfig('delta'), { env: { HOTCODE_RUNTIME_DIR: open } }),
      (e) => {
        assert.match(e.out, /failed control_insecure: .*accessible by group or others.*chmod 700/);
        return true;
      },
    );
    assert.equal(existsSync(join(open, 'delta.sock')), false);
    const theirs = join(box.dir, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    await assert.rejects(
      box.startNode(nodeConfig('delta'), { env: { HOTCODE_RUNTIME_DIR: theirs } }),
      (e) => {
        assert.match(e.out, /failed control_insecure: .*belongs to uid 65534/);
        return true;
      },
    );
    const link = join(box.dir, 'linked');
    symlinkSync(box.runtime, link);
    await assert.rejects(
      box.startNode(nodeConfig('delta'), { env: { HOTCODE_RUNTIME_DIR: link } }),
      (e) => {
        assert.match(e.out, /failed control_insecure: .*not a directory/);
        return true;
      },
    );
  });

  test('name_taken: a second node with a live node’s name fails; the first goes on', async () => {
    const first = await box.startNode(nodeConfig('taken'));
    await assert.rejects(box.startNode(nodeConfig('taken')), (e) => {
      assert.equal(e.status, 3);
      assert.match(
        e.out,
        /failed name_taken: .*a node named taken is running already.*hotcode stop taken/,
      );
      return true;
    });
    const remote = await connect('taken', { secretFile: box.secret });
    assert.equal((await remote.status()).pid, first.pid);
    await remote.close();
    await stopChild(first.child);
  });

  test('a stale socket file (its node was killed) is replaced', async () => {
    const first = await box.startNode(nodeConfig('stale'));
    first.child.kill('SIGKILL');
    await exited(first.child);
    const sock = join(box.runtime, 'stale.sock');
    assert.ok(lstatSync(sock).isSocket(), 'the killed node left its socket file');
    const second = await box.startNode(nodeConfig('stale'));
    const remote = await connect('stale', { secretFile: box.secret });
    assert.equal((await remote.status()).pid, second.pid);
    await remote.close();
    await stopChild(second.child);
  });

  test('a symbolic link or a file planted at the socket path is refused and left alone', async () => {
    const target = join(box.dir, 'precious.txt');
    writeFileSync(target, 'do not touch');
    const sock = join(box.runtime, 'planted.sock');
    symlinkSync(target, sock);
    await assert.rejects(box.startNode(nodeConfig('planted')), (e) => {
      assert.match(
        e.out,
        /failed control_insecure: .*planted\.sock is there and is not a socket \(a symbolic link\)/,
      );
      return true;
    });
    assert.equal(readFileSync(target, 'utf8'), 'do not touch');
    assert.ok(lstatSync(sock).isSymbolicLink());
    writeFileSync(join(box.runtime, 'plainfile.sock'), 'x');
    await assert.rejects(
      box.startNode(nodeConfig('plainfile')),
      /is there and is not a socket \(a file\)/,
    );
    assert.equal(readFileSync(join(box.runtime, 'plainfile.sock'), 'utf8'), 'x');
  });

  test('a name is 1–64 of [A-Za-z0-9_.-]: anything else is badarg and starts nothing', async () => {
    for (const name of ['', 'a/b', '../x', 'x'.repeat(65), 'sp ace', '..', 42])
      await assert.rejects(start({ name, typecheck: false }), (e) => e.code === 'badarg');
    // nothing was started: a start with no name works
    await start({ src: box.dir, out: join(box.dir, 'ebin-none'), typecheck: false });
    await stop();
  });

  test('control: false — a name, and no listener', async () => {
    const node = await box.startNode(nodeConfig('quiet', { control: false }));
    assert.equal(existsSync(join(box.runtime, 'quiet.sock')), false);
    assert.deepEqual(listeningTcpPorts(node.pid), []);
    await stopChild(node.child);
  });
});

describe('S9.1 TCP only when configured, TLS 1.3 only', { timeout: 120_000 }, () => {
  test('no TCP listener by default (the node’s sockets in /proc)', async (t) => {
    if (!existsSync('/proc/self/net/tcp')) return t.skip('no /proc/<pid>/net/tcp on this system');
    const node = await box.startNode(nodeConfig('notcp'));
    assert.deepEqual(listeningTcpPorts(node.pid), []);
    await stopChild(node.child);
  });

  test('control: { port }: TLS 1.3 with the secret as PSK on 127.0.0.1; plain TCP and TLS 1.2 get nothing', async () => {
    const port = await freePort();
    const node = await box.startNode(nodeConfig('tcp1', { control: { port } }));
    if (existsSync(`/proc/${node.pid}/net/tcp`))
      assert.deepEqual(listeningTcpPorts(node.pid), [port]);
    const remote = await connect({ host: '127.0.0.1', port }, { secretFile: box.secret });
    assert.equal(await remote.rpc('counter', 'add', [20, 22]), 42);
    await remote.close();
    // Plain TCP: the hotcode greeting never comes; the node hangs up on what is not TLS.
    const plain = net.createConnection(port, '127.0.0.1');
    let got = '';
    plain.on('data', (d) => (got += d.toString('latin1')));
    plain.write(Buffer.from('\x00\x00\x00\x10{"nonce":"AAAA"}'));
    await new Promise((resolve) => plain.on('close', resolve));
    assert.ok(!got.includes('hotcode'), 'no greeting over plain TCP');
    // TLS 1.2: refused in the handshake.
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = tls.connect({
          host: '127.0.0.1',
          port,
          maxVersion: 'TLSv1.2',
          pskCallback: () => ({ psk: Buffer.alloc(32), identity: 'hotcode' }),
          ciphers: 'PSK-AES128-GCM-SHA256',
          checkServerIdentity: () => undefined,
        });
        s.on('secureConnect', () => resolve(s));
        s.on('error', reject);
      }),
    );
    // The wrong key: the TLS handshake fails.
    const wrong = join(box.dir, 'wrong-secret');
    writeFileSync(wrong, Buffer.alloc(32, 1), { mode: 0o600 });
    await assert.rejects(connect({ host: '127.0.0.1', port }, { secretFile: wrong }), (e) =>
      ['nodedown', 'auth'].includes(e.code),
    );
    await stopChild(node.child);
  });

  test('a host other than loopback needs allowRemote; TLS cannot be turned off', async () => {
    const port = await freePort();
    await assert.rejects(
      box.startNode(nodeConfig('remote1', { control: { port, host: '0.0.0.0' } })),
      (e) => {
        assert.match(
          e.out,
          /failed control_insecure: .*0\.0\.0\.0 is not a loopback address.*allowRemote/,
        );
        return true;
      },
    );
    await assert.rejects(
      box.startNode(nodeConfig('remote2', { control: { port, tls: false } })),
      (e) => {
        assert.match(e.out, /failed control_insecure: .*TLS 1\.3 only/);
        return true;
      },
    );
    const node = await box.startNode(
      nodeConfig('remote3', { control: { port, host: '0.0.0.0', allowRemote: true } }),
    );
    const remote = await connect({ host: '127.0.0.1', port }, { secretFile: box.secret });
    assert.equal(await remote.rpc('counter', 'add', [1, 1]), 2);
    await remote.close();
    await stopChild(node.child);
  });
});

describe('S9.1 TCP with certificates instead of the PSK', { timeout: 120_000 }, () => {
  /** A CA, certificates for 127.0.0.1 it signed (server, client) and one it did not, or undefined. */
  function certificates() {
    const d = join(box.dir, 'pki');
    mkdirSync(d, { recursive: true });
    const ssl = (...args) => execFileSync('openssl', args, { cwd: d, stdio: 'ignore' });
    try {
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      ssl(
        'req',
        '-x509',
        ...ec,
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-subj',
        '/CN=test-ca',
        '-days',
        '1',
      );
      writeFileSync(join(d, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
      for (const who of ['server', 'client', 'stranger']) {
        ssl('req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who}`);
        const signer =
          who === 'stranger'
            ? ['-signkey', `${who}.key`]
            : ['-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'];
        ssl(
          'x509',
          '-req',
          '-in',
          `${who}.csr`,
          ...signer,
          '-out',
          `${who}.crt`,
          '-days',
          '1',
          '-extfile',
          'san.ext',
        );
      }
    } catch {
      return undefined;
    }
    return (n) => join(d, n);
  }

  test('control.tls { key, cert, ca }: a client with a certificate the CA signed gets in; others do not', async (t) => {
    const f = certificates();
    if (f === undefined) return t.skip('openssl is not available: no certificates to test with');
    const port = await freePort();
    const node = await box.startNode(
      nodeConfig('certs', {
        control: { port, tls: { key: f('server.key'), cert: f('server.crt'), ca: f('ca.crt') } },
      }),
    );
    const remote = await connect({
      host: '127.0.0.1',
      port,
      tls: { ca: f('ca.crt'), cert: f('client.crt'), key: f('client.key') },
    });
    assert.equal(await remote.rpc('counter', 'add', [3, 4]), 7);
    await remote.close();
    // a certificate the CA did not sign, and a PSK client: refused in the TLS handshake
    await assert.rejects(
      connect({
        host: '127.0.0.1',
        port,
        tls: { ca: f('ca.crt'), cert: f('stranger.crt'), key: f('stranger.key') },
      }),
      (e) => e.code === 'nodedown',
    );
    await assert.rejects(connect({ host: '127.0.0.1', port }), (e) => e.code === 'nodedown');
    await stopChild(node.child);
  });
});

describe(
  'S9.1 hotcode run and shell: --name, the package name, --no-control',
  { timeout: 120_000 },
  () => {
    const app = [
      "import { receive } from 'hotcode';",
      'export async function main(): Promise<void> {',
      "  console.log('app main started');",
      '  for (;;) await receive();',
      '}',
      '',
    ].join('\n');

    test('hotcode run names its node after package.json (scope dropped); hotcode stop ends it with 0', async () => {
      const root = box.project(
        {
          'package.json': JSON.stringify({ name: '@acme/shop-api', hotcode: { typecheck: false } }),
          'src/app.ts': app,
        },
        'pkgnamed',
      );
      const node = await box.startCli(['run', 'app', 'main'], {
        cwd: root,
        ready: /app main started/,
      });
      const remote = await connect('shop-api', { secretFile: box.secret });
      assert.equal((await remote.status()).name, 'shop-api');
      await remote.close();
      const r = await box.cli(['stop', 'shop-api']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^node shop-api \(pid \d+\) stopped$/m);
      assert.deepEqual(await exited(node.child), { status: 0, signal: null });
      assert.equal(existsSync(join(box.runtime, 'shop-api.sock')), false);
    });

    test('--name and config "name" override it; --no-control turns listening off', async () => {
      const root = box.project(
        {
          'package.json': JSON.stringify({
            name: 'pkg',
            hotcode: { typecheck: false, name: 'fromconfig' },
          }),
          'src/app.ts': app,
        },
        'named2',
      );
      const a = await box.startCli(['run', 'app', 'main'], {
        cwd: root,
        ready: /app main started/,
      });
      assert.ok(lstatSync(join(box.runtime, 'fromconfig.sock')).isSocket());
      await stopChild(a.child);
      const b = await box.startCli(['run', '--name', 'fromflag', 'app', 'main'], {
        cwd: root,
        ready: /app main started/,
      });
      const remote = await connect('fromflag', { secretFile: box.secret });
      await remote.close();
      await stopChild(b.child);
      const before = readdirSync(box.runtime).sort();
      const c = await box.startCli(['run', '--no-control', 'app', 'main'], {
        cwd: root,
        ready: /app main started/,
      });
      // The node is up (its main process runs) and made no socket.
      assert.deepEqual(readdirSync(box.runtime).sort(), before);
      assert.equal(existsSync(join(box.runtime, 'pkg.sock')), false);
      await stopChild(c.child);
    });

    test('a bad --name is a usage error', async () => {
      const r = await box.cli(['run', '--name', 'no/slash', 'app', 'main']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^hotcode: --name: a node name is 1 to 64 characters/);
    });
  },
);
