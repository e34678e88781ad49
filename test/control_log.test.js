// S9.3 The control log: every authenticated command and refused connection, with
// its time and peer, in `<dir>/<name>.log` (0600) — and bounded: past
// `control.logMaxBytes` it moves to `<name>.log.1` and a new file starts.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, start, stop } from '../dist/index.js';
import { project } from './helpers.js';

const runtime = process.env.HOTCODE_RUNTIME_DIR;
const file = join(runtime, 'rotor.log');
const lines = (f) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : []);

describe('S9.3 the control log is rotated by size', { timeout: 60_000 }, () => {
  const p = project();
  before(() =>
    start({
      name: 'rotor',
      src: p.src,
      out: p.out,
      typecheck: false,
      control: { logMaxBytes: 2048 },
    }),
  );
  after(() => stop());

  test('past the limit the log moves to .log.1 (one generation kept), both 0600, every line whole', async () => {
    const remote = await connect('rotor');
    try {
      for (let i = 0; i < 80; i++) await remote.status();
    } finally {
      await remote.close();
    }
    assert.ok(existsSync(`${file}.1`), 'rotated');
    assert.ok(
      statSync(file).size <= 2048,
      `the live log is within the limit: ${statSync(file).size}`,
    );
    assert.ok(statSync(`${file}.1`).size <= 2048);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(`${file}.1`).mode & 0o777, 0o600);
    const all = [...lines(`${file}.1`), ...lines(file)];
    for (const l of all) assert.match(l, /^\d{4}-\d\d-\d\dT[\d:.]+Z \S/);
    // the newest lines are kept, in order: the last command is the live file's last line
    assert.match(all.at(-1), /status/);
  });

  test('a limit that is not an integer of at least 1 KiB is refused (badarg), and nothing starts', async () => {
    await stop();
    for (const logMaxBytes of [0, 100, 1.5, '10MB', -1])
      await assert.rejects(
        start({ name: 'rotor2', src: p.src, out: p.out, control: { logMaxBytes } }),
        {
          code: 'badarg',
        },
      );
    assert.equal(existsSync(join(runtime, 'rotor2.sock')), false);
  });
});
