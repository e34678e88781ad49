// `npm run tour` is what the README says it is (S7): the same steps, typed in
// the shell with the type gate on, printing what the README shows — the
// upgrade that keeps the counter's state, m(), the soft purge, the refused
// change and i(). Run as a new user would: a child process on this Node.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The transcript in the README's tour: the lines of its ```text blocks. */
function readmeTranscript() {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const from = readme.indexOf('## A five-minute tour');
  const to = readme.indexOf('\n## ', from + 1);
  const section = readme.slice(from, to);
  const lines = [];
  for (const block of section.matchAll(/```text\n([\s\S]*?)```/g))
    lines.push(...block[1].trimEnd().split('\n'));
  return lines;
}

/** What may differ between two runs: clock times. */
const normalize = (line) =>
  line
    .replace(/\d{1,2}:\d{2}:\d{2}( [AP]M)?/g, 'TIME')
    .replace(/\s+/g, ' ')
    .trimEnd();

describe('npm run tour', { timeout: 120_000 }, () => {
  it('types the README tour in the shell and prints what the README shows', async () => {
    const out = await new Promise((resolve, reject) =>
      execFile(
        process.execPath,
        [join(root, 'scripts', 'tour.js')],
        { encoding: 'utf8', timeout: 100_000, env: { ...process.env, NO_COLOR: '1' } },
        (error, stdout, stderr) =>
          error ? reject(new Error(`${error}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const transcript = out
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('# (edit ') && !l.startsWith('tour done'))
      .map(normalize);
    const readme = readmeTranscript().map(normalize);
    assert.ok(readme.length > 20, 'the README has the tour');
    assert.deepEqual(transcript, readme);
    // The story the README tells, in the tour's own words.
    assert.match(out, /Shell got \{ count: 1, vsn: 1 \}[\s\S]*Shell got \{ count: 12, vsn: 2 \}/);
    assert.match(out, /softPurge\('counter'\)\ntrue/);
    assert.match(out, /error TS2322[\s\S]*\{ error: 'compile' \}\nhotcode> i\(\)/);
    assert.match(out, /tour done/);
  });
});
