// S6.2 transitions in the shell (S7.6): a change that would break a version
// a process still runs is refused; the shell prints each diagnostic with the
// version and its users, and a hint naming { oldCode: 'kill' }; with that
// option the change loads and the shell says whom it killed.
//
// The refusal itself is the runtime's (the type gate); on a runtime that does
// not check transitions yet, the change simply loads, and this test says so
// and skips.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isProcessAlive, processes, start, stop } from '../dist/index.js';
import { createShellSession } from '../dist/shell/session.js';
import { project } from './fixtures/shell/harness.js';

const root = project('hotcode-transition-', 'transition');
const src = join(root, 'src');
let session;
let printed = [];

before(async () => {
  await start({ root, src: 'src', out: 'ebin', typecheck: true });
  session = createShellSession({ src: [src], output: (t) => printed.push(t) });
});
after(async () => {
  session?.close();
  await stop();
});

describe('S6.2 a transition refused in the shell', { timeout: 180_000 }, () => {
  test('the version and its users, a hint, then oldCode: kill loads and says killed', async (t) => {
    assert.equal(
      (await session.evaluate("c(['room', 'lobby'])")).text,
      "{ modules: [ 'room', 'lobby' ] }",
    );
    const pid = (await session.evaluate('p = spawn(lobby.loop)')).text;
    for (const m of ['room', 'lobby'])
      writeFileSync(join(src, `${m}.ts`), readFileSync(join(root, 'versions', `${m}_2.ts`)));
    printed = [];
    const r = await session.evaluate("c(['room', 'lobby'])");
    if (/modules/.test(r.text)) {
      t.skip('the runtime loaded the change: it does not check transitions yet');
      return;
    }
    const lines = r.text.split('\n');
    assert.equal(lines[0], "{ error: 'compile' }");
    assert.match(
      lines[1],
      new RegExp(
        `^hint: .*${pid.replace(/[.<>]/g, '\\$&')} in lobby.*c\\(\\['room', 'lobby'\\], …\\) with \\{ oldCode: 'kill' \\}`,
      ),
    );
    assert.match(
      printed.join('\n'),
      new RegExp(
        `lobby\\.ts:\\d+:\\d+ \\(version \\d+, used by ${pid.replace(/[.<>]/g, '\\$&')}\\) - error TS2554`,
      ),
    );
    assert.ok(
      processes().some((p) => String(p) === pid),
      'refused: nothing changed',
    );
    const killed = await session.evaluate("c(['room', 'lobby'], { oldCode: 'kill' })");
    assert.equal(killed.text, `{ modules: [ 'room', 'lobby' ] }\nkilled 1: ${pid}`);
    assert.ok(!processes().some((p) => String(p) === pid && isProcessAlive(p)));
  });
});
