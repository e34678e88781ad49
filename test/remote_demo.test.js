// Issue 12's demo (npm run demo:remote): the HTTP example as a detached named
// node under keep-alive load, v2 deployed to it by `hotcode deploy --upgrade`
// from a second process, a deploy refused by the type gate (a caller on the
// node), every request served; run here with a smaller load.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('npm run demo:remote', { timeout: 180_000 }, () => {
  it('deploys v1 -> v2 under load, refuses the broken deploy, fails no request, prints the summary last', async () => {
    const { stdout, stderr, status } = await new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(root, 'scripts', 'demo-remote.js'), '--clients', '2', '--pause', '0.3', '--json'],
        { cwd: root, timeout: 150_000 },
        (error, stdout, stderr) =>
          resolve({ stdout, stderr, status: error ? (error.code ?? 1) : 0 }),
      );
    });
    assert.equal(status, 0, `${stdout}\n${stderr}`);
    const lines = stdout.trim().split('\n');
    assert.match(lines.at(-1), /^requests: \d+, failed: 0, deployed: v1->v2, refused: yes$/);
    const measures = JSON.parse(lines.at(-2));
    assert.ok(measures.requests > 0);
    assert.deepEqual(measures.versionsSeen, ['v1', 'v2']);
    assert.match(stdout, /^ {2}\| httpHandler: 1 -> 2$/m);
    assert.match(
      stdout,
      /^ {2}\| hotcode: deploy refused: 1 error\(s\); nothing changed on node http-demo$/m,
    );
  });
});
