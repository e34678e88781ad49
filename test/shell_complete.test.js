// S7.3 completion of a module's exports, also for the runtime's own modules
// whose names are API globals too (genServer, sys, supervisor).
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { start, stop } from '../dist/index.js';
import { startShell } from '../dist/shell/index.js';
import { project, useFixture } from './helpers.js';

const p = project();
let sh;
before(async () => {
  useFixture(p, 'core/math_v1.ts', 'math.ts');
  await start({ src: p.src, out: p.out, typecheck: false });
  sh = startShell({
    src: [p.src],
    input: new PassThrough(),
    output: new PassThrough(),
    terminal: false,
    history: false,
  });
});
after(async () => {
  sh.repl.close();
  await stop();
});

const complete = (line) =>
  new Promise((res, rej) => sh.repl.completer(line, (e, r) => (e ? rej(e) : res(r))));

describe('S7.3 Tab after a module name lists its exports', { timeout: 30_000 }, () => {
  it('genServer. lists the behaviour functions', async () => {
    const [hits, word] = await complete('genServer.');
    assert.equal(word, 'genServer.');
    for (const f of ['call', 'cast', 'start', 'startLink', 'stop', 'reply'])
      assert.ok(hits.includes(`genServer.${f}`), `${f} in ${hits}`);
  });

  it('sys.ch completes to changeCode; an empty word lists modules and commands', async () => {
    assert.deepEqual((await complete('sys.ch'))[0], ['sys.changeCode']);
    const [all] = await complete('');
    for (const m of [
      'genServer',
      'supervisor',
      'sys',
      'release',
      'math',
      'c',
      'l',
      'm',
      'i',
      'flush',
    ])
      assert.ok(all.includes(m), m);
  });
});
