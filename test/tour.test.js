// The scripted tour (`npm run tour`) as a new user would run it: a child
// process on the same Node, checking what it prints.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('npm run tour', () => {
  it('upgrades the counter from v1 to v2 while it keeps its state, then soft-purges v1', () => {
    const out = execFileSync(process.execPath, [join(root, 'scripts', 'tour.js')], {
      encoding: 'utf8',
    });
    assert.match(out, /two incs, then get\s+→ \{"count":2,"vsn":1\}/);
    assert.match(out, /same process, two incs\s+→ \{"count":13,"vsn":2\}/);
    assert.match(out, /softPurge\('counter'\)\s+→ true/);
    assert.match(out, /tour done/);
  });
});
