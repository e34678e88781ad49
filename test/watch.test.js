// Watch mode: a save is compiled (type gate included) and loaded; one line per
// reload; a broken save leaves the running code alone; rapid saves coalesce.
// Waits for the reload line, never sleeps for it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { c, code, mod, start, stop } from '../dist/index.js';
import { watch } from '../dist/watch/index.js';
import { cliChild, hasTmux, project, save, Terminal, version } from './fixtures/shell/harness.js';

const skip = hasTmux() ? false : 'tmux is not installed (apt-get install tmux)';

describe('hotcode shell --watch', { skip, timeout: 300_000 }, () => {
  let root;
  let t;
  before(async () => {
    root = project('hotcode-watch-');
    t = Terminal.start(['shell', '--watch'], { cwd: root });
    await t.waitFor(/^hotcode> ?$/m, 60_000);
    assert.equal(await t.run('counter.inc(1)'), '2');
  });
  after(() => t?.kill());

  test('a save loads the new version and prints one line; the next call runs it', async () => {
    save(root, 'src/counter.ts', version('counter_v2.ts'));
    await t.waitFor(/^counter: v2 loaded \(killed 0, \d+ ms\)$/m, 60_000);
    assert.equal(await t.run('counter.inc(1)'), '101');
  });

  test('a save with a type error prints the diagnostics and leaves the running code', async () => {
    save(root, 'src/counter.ts', version('counter_broken.ts'));
    await t.waitFor(
      /^counter: not loaded, 1 error; the running code is unchanged\n\s+src\/counter\.ts:6:3 - error TS2322/m,
      60_000,
    );
    assert.equal(await t.run('counter.inc(1)'), '101');
  });

  test('a save that puts the running version back says so, and loads nothing', async () => {
    save(root, 'src/counter.ts', version('counter_v2.ts'));
    await t.waitFor(/^counter: back to the running version \(v2\); nothing to load$/m, 60_000);
    assert.equal(await t.run('counter.inc(1)'), '101');
  });

  test('the next good save applies', async () => {
    save(root, 'src/counter.ts', version('counter_v3.ts'));
    await t.waitFor(/^counter: v3 loaded \(killed 0, \d+ ms\)$/m, 60_000);
    assert.equal(await t.run('counter.inc(1)'), '1001');
    assert.doesNotMatch(
      t.screen(),
      /counter: v\d+ loaded.*\n(?:.*\n)*counter: v2 loaded/,
      'one line per reload',
    );
  });
});

describe('hotcode run --watch', { timeout: 120_000 }, () => {
  test('a running process sees the new code; a second reload purges the version it runs in', async () => {
    const root = project('hotcode-watch-', 'watch');
    const p = cliChild(['run', '--watch', '--no-typecheck', 'ticker', 'main'], { cwd: root });
    try {
      await p.waitFor((o) => o.stdout.includes('value one'), 'the first value');
      // One line at start says that it watches, and where.
      assert.match(p.out.stderr, /^hotcode: watching src: a saved module is reloaded\n/m);
      save(root, 'src/ticker.ts', version('ticker_two.ts'));
      await p.waitFor(
        (o) => /ticker: v2 loaded \(killed 0, \d+ ms\)/.test(o.stderr),
        'the v2 reload line',
      );
      await p.waitFor(
        (o) => o.stdout.includes('value two'),
        'the old loop calling the new value()',
      );
      // main still runs in v1 (local calls): loading v3 purges v1 and kills it (S4.1).
      save(root, 'src/ticker.ts', version('ticker_three.ts'));
      await p.waitFor(
        (o) => /ticker: v3 loaded \(killed 1, \d+ ms\)/.test(o.stderr),
        'the v3 reload line',
      );
      // No process is left: the node exits, 1 because main did not end normally.
      assert.equal(await p.exited, 1);
    } finally {
      await p.stop();
    }
  });
});

describe('the watcher (in this process)', { timeout: 120_000 }, () => {
  let root;
  let w;
  const reports = [];
  let waiters = [];
  const onReport = (r) => {
    reports.push(r);
    for (const f of waiters) f();
  };
  /** Resolves when a report matching `pred` has come (after index `from`). */
  const reported = (pred, from = 0) =>
    new Promise((resolve) => {
      const check = () => {
        const r = reports.slice(from).find(pred);
        if (r) {
          waiters = waiters.filter((f) => f !== check);
          resolve(r);
        }
      };
      waiters.push(check);
      check();
    });

  before(async () => {
    root = project('hotcode-watch-', 'watch');
    await start({ root, src: 'src', out: 'ebin', typecheck: true });
    assert.deepEqual(await c(['adder', 'user_of_adder']), { modules: ['adder', 'user_of_adder'] });
    w = watch({ src: [`${root}/src`], onReport });
  });
  after(async () => {
    w?.close();
    await stop();
  });

  test('a signature change that breaks an importer is refused, then loads with the fix of the importer', async () => {
    const from = reports.length;
    save(root, 'src/adder.ts', version('adder_3.ts'));
    const refused = await reported((r) => r.type === 'compile_failed', from);
    assert.deepEqual(refused.modules, ['adder']);
    assert.ok(
      refused.diagnostics.some((d) => d.file.endsWith('user_of_adder.ts')),
      'the importer is checked',
    );
    assert.equal(mod('user_of_adder').three(), 3);
    assert.equal(code.versions('adder').old, undefined, 'nothing was loaded');
    // Saving the importer retries the pending adder with it, as one change.
    save(root, 'src/user_of_adder.ts', version('user_of_adder_3.ts'));
    await reported((r) => r.type === 'loaded' && r.module === 'adder', from);
    await reported((r) => r.type === 'loaded' && r.module === 'user_of_adder', from);
    assert.equal(mod('user_of_adder').three(), 3);
    assert.equal(mod('adder').add(1, 2, 3), 6);
  });

  test('rapid saves coalesce; the last one is what runs', async () => {
    const from = reports.length;
    const n = 20;
    for (let i = 1; i <= n; i++)
      save(
        root,
        'src/adder.ts',
        `export function add(a: number, b: number, c: number): number {\n  return ${i};\n}\n`,
      );
    await reported(
      (r) => r.type === 'loaded' && r.module === 'adder' && mod('adder').add(0, 0, 0) === n,
      from,
    );
    await w.idle();
    const loads = reports.slice(from).filter((r) => r.type === 'loaded');
    assert.ok(loads.length < n, `${loads.length} loads for ${n} saves`);
    assert.equal(mod('adder').add(0, 0, 0), n);
    assert.equal(reports.slice(from).filter((r) => r.type !== 'loaded').length, 0);
  });

  test('a save that changes nothing (same text) loads nothing', async () => {
    await w.idle();
    const from = reports.length;
    const seq = code.versions('adder').current.seq;
    save(root, 'src/adder.ts', version('adder_3.ts'));
    await reported((r) => r.type === 'loaded' && r.module === 'adder', from);
    const after1 = code.versions('adder').current.seq;
    assert.notEqual(after1, seq);
    save(root, 'src/adder.ts', version('adder_3.ts')); // the same text again
    save(root, 'src/user_of_adder.ts', version('user_of_adder_3.ts')); // unchanged too
    // A later real change shows that the watcher went past those events.
    save(
      root,
      'src/user_of_adder.ts',
      `${version('user_of_adder_3.ts')}\nexport const marker = 1;\n`,
    );
    await reported((r) => r.type === 'loaded' && r.module === 'user_of_adder', from);
    await w.idle();
    assert.equal(code.versions('adder').current.seq, after1, 'adder was not reloaded');
  });
});
