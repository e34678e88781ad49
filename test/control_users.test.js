// S9.1/S9.2 another OS user cannot connect: the socket's directory is 0700
// and the socket 0600, so a client running as `nobody` (setpriv or runuser)
// is refused by the kernel before any byte is exchanged — even if the
// directory were opened up by mistake, and with a secret of its own. Skipped,
// with the reason, where this process cannot switch users.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from '../dist/index.js';
import { CLI, sandbox, stopChild } from './fixtures/control/harness.js';

const box = sandbox('hotcode-users-');
after(() => box.cleanup());

const NOBODY = 65534;

/** How to run a command as nobody here, or why not. */
function asNobody() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0)
    return { why: 'not running as root: cannot run a client as another user' };
  for (const [tool, args] of [
    ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--']],
    ['runuser', ['-u', 'nobody', '--']],
  ]) {
    try {
      execFileSync(tool, [...args, 'true'], { stdio: 'ignore' });
      return { prefix: [tool, ...args] };
    } catch {}
  }
  return { why: 'neither setpriv nor runuser can switch to nobody here' };
}

/** Runs `node -e code` as nobody: { status, stdout, stderr }. */
function runAsNobody(prefix, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(prefix[0], [...prefix.slice(1), process.execPath, ...args], {
      env: { PATH: process.env.PATH, ...env },
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

const PROBE = `
const net = require('node:net');
const fs = require('node:fs');
const [path, secret] = process.argv.slice(1);
try { fs.readFileSync(secret); console.log('secret: read'); } catch (e) { console.log('secret: ' + e.code); }
const s = net.createConnection(path);
s.on('connect', () => { console.log('socket: connected'); s.destroy(); });
s.on('error', (e) => console.log('socket: ' + e.code));
`;

describe('S9.1 another OS user cannot connect', { timeout: 60_000 }, () => {
  const how = asNobody();
  let node;
  let sock;
  before(async () => {
    if (how.why) return;
    const root = box.project({ 'src/counter.ts': 'export const n = 1;\n' });
    node = await box.startNode({
      start: { name: 'private', src: join(root, 'src'), out: join(root, 'ebin'), typecheck: false },
    });
    sock = join(box.runtime, 'private.sock');
  });
  after(() => node && stopChild(node.child));

  test('nobody: the socket cannot be reached, the secret cannot be read', async (t) => {
    if (how.why) return t.skip(how.why);
    const r = await runAsNobody(how.prefix, ['-e', PROBE, sock, box.secret]);
    assert.equal(r.stdout, 'secret: EACCES\nsocket: EACCES\n', r.stderr);
  });

  test('even with the directories opened up by mistake, the socket itself is 0600', async (t) => {
    if (how.why) return t.skip(how.why);
    chmodSync(box.dir, 0o755);
    chmodSync(box.runtime, 0o755);
    try {
      const r = await runAsNobody(how.prefix, ['-e', PROBE, sock, box.secret]);
      assert.equal(r.stdout, 'secret: EACCES\nsocket: EACCES\n', r.stderr);
    } finally {
      chmodSync(box.runtime, 0o700);
      chmodSync(box.dir, 0o700);
    }
  });

  test('nobody with a secret of its own, through hotcode: nodedown (permission denied); the node is fine', async (t) => {
    if (how.why) return t.skip(how.why);
    const theirs = mkdtempSync(join(tmpdir(), 'hotcode-nobody-'));
    t.after(() => rmSync(theirs, { recursive: true, force: true }));
    chownSync(theirs, NOBODY, NOBODY);
    chmodSync(theirs, 0o755);
    const secret = join(theirs, 'secret');
    writeFileSync(secret, Buffer.alloc(32, 1), { mode: 0o600 });
    chownSync(secret, NOBODY, NOBODY);
    chmodSync(box.dir, 0o711);
    try {
      const r = await runAsNobody(
        how.prefix,
        [CLI, 'rpc', '--socket', sock, '--secret-file', secret, 'counter', 'n'],
        { HOME: theirs, HOTCODE_HISTORY: '' },
      );
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^hotcode: nodedown: cannot reach the node at .*permission denied/);
    } finally {
      chmodSync(box.dir, 0o700);
    }
    const remote = await connect('private');
    assert.equal((await remote.status()).pid, node.pid);
    await remote.close();
  });
});
