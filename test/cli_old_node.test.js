// The hotcode command on a Node older than 22 (engines: >= 22) says so in one
// line instead of crashing on a flag it does not know. Uses this machine's
// system node when it is older than 22; skipped otherwise.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
const system = spawnSync(
  '/usr/bin/env',
  ['-i', 'PATH=/usr/local/bin:/usr/bin:/bin', 'node', '--version'],
  {
    encoding: 'utf8',
  },
);
const major = system.status === 0 ? Number(system.stdout.trim().slice(1).split('.')[0]) : undefined;

describe('hotcode on an old Node', { timeout: 60_000 }, () => {
  it(
    'exits 1 with a one-line message naming the version',
    { skip: !(major < 22) && 'no Node < 22 here' },
    () => {
      const r = spawnSync(
        '/usr/bin/env',
        ['-i', 'PATH=/usr/local/bin:/usr/bin:/bin', 'node', cli, 'shell'],
        {
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^hotcode needs Node\.js 22 or newer \(this is v\d+/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      // In this repository, the suitable Node is the dev dependency that npm ci installs.
      assert.match(
        r.stderr,
        /Node \d+\.\d+\.\d+ as a dev dependency: run npm ci, then npm start, npm test or npx hotcode/,
      );
    },
  );
});
