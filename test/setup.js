// Loaded into every test file's process (npm test: node --test --import ./test/setup.js).
// Named nodes listen for control and need a secret (S9.1, S9.2): each test file gets a
// runtime directory and a secret file of its own, so no test touches ~/.hotcode or the
// shared /tmp/hotcode-<uid>, and test files running at once never see each other's
// sockets or names. The nodes and commands a test starts inherit these (a forked node
// loads this file too, but it is not a test file, so it keeps its test's sandbox).
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (/\.test\.[cm]?js$/.test(process.argv[1] ?? '')) {
  const dir = mkdtempSync(join(tmpdir(), 'hotcode-run-'));
  const runtime = join(dir, 'runtime');
  mkdirSync(runtime, { mode: 0o700 });
  process.env.HOTCODE_TEST_SANDBOX = dir;
  process.env.HOTCODE_RUNTIME_DIR = runtime;
  process.env.HOTCODE_SECRET_FILE = join(dir, 'secret');
}
