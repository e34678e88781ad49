// Issue 7's demo: the HTTP service of examples/http upgraded under load
// (run as a child process with a smaller load), and its listener restarted
// after a purge on the same port (it closes its server when its signal aborts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  c,
  code,
  monitor,
  run,
  setLogger,
  start,
  stop,
  supervisor,
  whereis,
} from '../dist/index.js';
import { downOf, quietLogger } from './behavioursHelpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('npm run demo:upgrade', { timeout: 90_000 }, () => {
  it('serves every request across v1 -> v2 and a rolled-back v3, and prints the summary last', async () => {
    const { stdout, code: status } = await new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(root, 'scripts', 'demo-upgrade.js'), '--clients', '3', '--seconds', '1.5', '--json'],
        { cwd: root, timeout: 60_000 },
        (error, stdout, stderr) => resolve({ stdout, stderr, code: error ? (error.code ?? 1) : 0 }),
      );
    });
    const lines = stdout.trim().split('\n');
    const last = lines.at(-1);
    assert.match(last, /^requests: \d+, failed: 0, upgraded: v1->v2, rolled back: yes$/, stdout);
    const measures = JSON.parse(lines.at(-2));
    // One sample response of each version, and numbers a person reads (0.1 ms, not 0.9937…).
    assert.match(stdout, /^v1 answers: v1 GET \/probe: request \d+ on connection \d+$/m);
    assert.match(stdout, /^v2 answers: v2 GET \/probe: /m);
    assert.match(stdout, /^upgrade v1 -> v2: ok, the handler paused \d+(\.\d)? ms$/m);
    assert.doesNotMatch(stdout, /\d\.\d{2,}/);
    assert.ok(measures.requests > 0);
    assert.equal(measures.failed, 0);
    assert.deepEqual(measures.versionsSeen, ['v1', 'v2']);
    assert.equal(typeof measures.pausedMs, 'number');
    assert.equal(status, 0);
  });
});

describe('the listener owns its http.Server', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotcode-demo-test-'));
  const src = join(dir, 'src');
  mkdirSync(src);
  for (const f of readdirSync(join(root, 'examples', 'http', 'src')))
    copyFileSync(join(root, 'examples', 'http', 'src', f), join(src, f));
  before(async () => {
    await start({ src, out: join(dir, 'ebin'), typecheck: false });
    setLogger(quietLogger());
  });
  after(() => stop());

  const get = (port) =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/x', agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });

  it('a listener killed by a purge is restarted and listens on the same port again', async () => {
    assert.ok('modules' in (await c(['httpHandler', 'httpListener', 'httpSup'])));
    const port = await new Promise((resolve) => {
      const s = http.createServer().listen(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    const sup = await supervisor.start('httpSup', port);
    assert.match(await get(port), /^v1 GET \/x: request 1 on connection \d+/);
    const listener = (await supervisor.whichChildren(sup)).find((x) => x.id === 'listener').pid;
    assert.deepEqual(await c('httpListener'), { module: 'httpListener' }); // the listener now runs old code
    const gone = downOf(run, monitor, listener);
    assert.equal(code.purge('httpListener'), true);
    assert.equal(await gone, 'killed');
    const restarted = (await supervisor.whichChildren(sup)).find((x) => x.id === 'listener').pid;
    assert.ok(restarted !== undefined && restarted !== listener, 'restarted, without EADDRINUSE');
    assert.match(await get(port), /^v1 GET \/x/);
    assert.ok(whereis('httpHandler'));
  });
});
