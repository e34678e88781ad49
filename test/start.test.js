// The README's first command: `npm start` runs the shell on the bundled
// examples/ with the type gate on — and the tour's first step, c(counter),
// loads (the examples are judged by examples/tsconfig.json, S6.2).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('npm start', { timeout: 90_000 }, () => {
  it('opens the shell on examples/, where c(counter) type-checks and loads', async () => {
    const out = mkdtempSync(join(tmpdir(), 'hotcode-start-')); // leave examples/ebin alone
    const { stdout, stderr } = await new Promise((resolve, reject) => {
      const child = execFile(
        process.execPath,
        [join(root, 'dist', 'cli', 'main.js'), 'shell', '--out', out],
        { cwd: root, timeout: 80_000, env: { ...process.env, NO_COLOR: '1', HOTCODE_HISTORY: '' } },
        (error, stdout, stderr) => (error ? reject(error) : resolve({ stdout, stderr })),
      );
      child.stdin.end('c(counter)\npid = counter.start(0)\ni()\nq()\n');
    });
    assert.doesNotMatch(stdout + stderr, /error TS\d+/);
    assert.match(stdout, /\{ module: 'counter' \}/);
    assert.match(stdout, /counter\.loop\/1\s+0\s+waiting\s+counter/);
  });
});
