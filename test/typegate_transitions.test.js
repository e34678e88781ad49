// S6.2, the transition: an old version of a module that processes still run after
// the load is type-checked, from its recorded source, against the new versions.
// Gate level (createTypeGate with in-memory requests); which versions are in use
// is the node's business (S4.3) — here the requests say it.
//
// Fixture: test/fixtures/typegate/chat — `room.loop` formats each message with
// `fmt.line(from, text)` and loops through `self.loop` (the current version).
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'fixtures', 'typegate');
const moduleUrl = process.env.HOTCODE_TYPEGATE_MODULE
  ? pathToFileURL(process.env.HOTCODE_TYPEGATE_MODULE).href
  : new URL('../dist/compiler/typegate/index.js', import.meta.url).href;
const { createTypeGate } = await import(moduleUrl);

const version = (file) => readFileSync(join(fixtures, 'versions', file), 'utf8');

describe('S6.2 transitions: old versions in use are checked against the new code', () => {
  let root;
  let gate;
  let fmt1;
  let room1;
  const file = (m) => join(root, 'src', `${m}.ts`);
  const src = (module, text) => ({ module, file: file(module), text });
  /** room's version 1, as the node would send it: in use by one process. */
  const oldRoom = (text = room1) => ({
    id: 'room@1',
    label: 'version 1, used by <0.85.0>',
    ...src('room', text),
  });

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'typegate-chat-'));
    cpSync(join(fixtures, 'chat'), root, { recursive: true });
    fmt1 = readFileSync(file('fmt'), 'utf8');
    room1 = readFileSync(file('room'), 'utf8');
    gate = createTypeGate({ root, srcDirs: [join(root, 'src')] });
  });
  after(async () => {
    await gate.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('the end state alone passes: fmt.line takes a record and room is changed with it', async () => {
    const r = await gate.check({
      changed: [src('fmt', version('fmt.record.ts')), src('room', version('room.record.ts'))],
      loaded: [],
    });
    assert.deepEqual(r, { ok: true, diagnostics: [] });
  });

  test('the same change is refused when a process still runs room version 1', async () => {
    const r = await gate.check({
      changed: [src('fmt', version('fmt.record.ts')), src('room', version('room.record.ts'))],
      loaded: [],
      transitions: [oldRoom()],
      previous: [src('fmt', fmt1), src('room', room1)],
    });
    assert.equal(r.ok, false);
    assert.deepEqual(r.brokenTransitions, ['room@1']);
    // Every error is in the old version; the new sources are fine.
    assert.ok(r.diagnostics.length > 0);
    for (const d of r.diagnostics) {
      assert.equal(d.transition, 'version 1, used by <0.85.0>');
      assert.equal(d.file, file('room'));
    }
    // `fmt.line(m.from, m.text)`: line 12 of version 1, the call's arguments.
    const [d] = r.diagnostics;
    assert.equal(d.code, 2554);
    assert.equal(d.line, 12);
    assert.equal(room1.split('\n')[d.line - 1].slice(d.column - 1, d.column + 9), 'm.text);');
    assert.match(d.message, /Expected 1 arguments, but got 2/);
  });

  test('a widening change (a new optional parameter) that version 1 still satisfies passes', async () => {
    const r = await gate.check({
      changed: [src('fmt', version('fmt.optional.ts'))],
      loaded: [src('room', room1)],
      transitions: [oldRoom()],
      previous: [src('fmt', fmt1)],
    });
    assert.deepEqual(r, { ok: true, diagnostics: [] });
  });

  test("the old version's self call goes to the new version: a loop signature change is refused", async () => {
    const r = await gate.check({
      changed: [src('room', version('room.loop_options.ts'))],
      loaded: [src('fmt', fmt1)],
      transitions: [oldRoom()],
      previous: [src('room', room1)],
    });
    assert.equal(r.ok, false);
    assert.deepEqual(r.brokenTransitions, ['room@1']);
    assert.deepEqual(
      r.diagnostics.map((d) => [d.line, d.code, d.transition]),
      [[13, 2554, 'version 1, used by <0.85.0>']],
    );
  });

  test('an error the old version already had before the change does not refuse it', async () => {
    const withError = version('room.preexisting_error.ts');
    const widening = await gate.check({
      changed: [src('fmt', version('fmt.optional.ts'))],
      loaded: [src('room', room1)],
      transitions: [oldRoom(withError)],
      previous: [src('fmt', fmt1)],
    });
    assert.deepEqual(widening, { ok: true, diagnostics: [] });
    // A breaking change is still refused, for its own error only.
    const breaking = await gate.check({
      changed: [src('fmt', version('fmt.record.ts')), src('room', version('room.record.ts'))],
      loaded: [],
      transitions: [oldRoom(withError)],
      previous: [src('fmt', fmt1), src('room', room1)],
    });
    assert.equal(breaking.ok, false);
    assert.deepEqual(
      breaking.diagnostics.map((d) => [d.line, d.code]),
      [[13, 2554]],
    );
  });

  test('without `previous`, the changed modules count as new: a break is still refused', async () => {
    const r = await gate.check({
      changed: [src('fmt', version('fmt.record.ts')), src('room', version('room.record.ts'))],
      loaded: [],
      transitions: [oldRoom()],
    });
    assert.equal(r.ok, false);
    assert.deepEqual(r.brokenTransitions, ['room@1']);
  });

  test('an old version that imports none of the changed modules is not checked', async () => {
    const before = (await gate.stats()).transitionsChecked;
    const r = await gate.check({
      changed: [src('fmt', version('fmt.record.ts')), src('room', version('room.record.ts'))],
      loaded: [],
      // lobby imports nothing: even a version that does not type-check cannot be broken by fmt
      transitions: [
        { id: 'lobby@3', label: 'version 3', ...src('lobby', version('lobby.broken.ts')) },
      ],
      previous: [src('fmt', fmt1), src('room', room1)],
    });
    assert.deepEqual(r, { ok: true, diagnostics: [] });
    assert.equal((await gate.stats()).transitionsChecked, before);
  });

  test('after a refusal the gate checks the change itself again (its view is restored)', async () => {
    const refused = await gate.check({
      changed: [src('fmt', version('fmt.record.ts')), src('room', version('room.record.ts'))],
      loaded: [],
      transitions: [oldRoom()],
      previous: [src('fmt', fmt1), src('room', room1)],
    });
    assert.equal(refused.ok, false);
    const alone = await gate.check({
      changed: [src('fmt', version('fmt.record.ts'))],
      loaded: [src('room', version('room.record.ts'))],
    });
    assert.deepEqual(alone, { ok: true, diagnostics: [] });
    const stale = await gate.check({
      changed: [src('fmt', version('fmt.record.ts'))],
      loaded: [src('room', room1)],
    });
    assert.equal(stale.ok, false, 'room version 1 as the current version breaks too');
    assert.equal(stale.brokenTransitions, undefined);
    assert.ok(stale.diagnostics.every((d) => d.transition === undefined));
  });

  test('a malformed transition is a TypeError, and nothing is checked', async () => {
    await assert.rejects(
      gate.check({
        changed: [],
        loaded: [],
        transitions: [{ module: 'room', file: 'x', text: '' }],
      }),
      (err) => err instanceof TypeError && /TransitionSource/.test(err.message),
    );
  });
});
