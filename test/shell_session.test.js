// The shell session (S7.1–S7.6) driven as a remote front end would drive
// it: lines in, text out, no terminal. What a person sees in a terminal is
// tested in shell.test.js; this is the session's contract.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { code, isProcessAlive, processes, start, stop } from '../dist/index.js';
import { createShellSession } from '../dist/shell/session.js';
import { project } from './fixtures/shell/harness.js';

const root = project('hotcode-session-', 'session');
const src = join(root, 'src');
let session;
let printed = [];
const output = (text) => printed.push(text);
/** What the session printed since the last call. */
const drain = () => {
  const text = printed.join('\n');
  printed = [];
  return text;
};

before(async () => {
  await start({ root, src: 'src', out: 'ebin', typecheck: true });
  session = createShellSession({ src: [src], output });
});
after(async () => {
  session?.close();
  await stop();
});

describe('S7.1 evaluating lines', { timeout: 60_000 }, () => {
  test('a value, an error, top-level await, declarations that outlive their line', async () => {
    assert.deepEqual(await session.evaluate('1 + 1'), { type: 'value', text: '2' });
    assert.deepEqual(await session.evaluate('const x = await Promise.resolve(21)'), {
      type: 'value',
      text: '',
    });
    assert.deepEqual(await session.evaluate('x * 2'), { type: 'value', text: '42' });
    assert.deepEqual(await session.evaluate('{ a: 1 }'), { type: 'value', text: '{ a: 1 }' });
    const e = await session.evaluate("throw new Error('bad')");
    assert.equal(e.type, 'error');
    assert.match(e.text, /^Uncaught Error: bad/);
    // A promise the line yields is awaited.
    assert.deepEqual(await session.evaluate('Promise.resolve(7)'), { type: 'value', text: '7' });
  });

  test('a line that stops in the middle asks for the next one', async () => {
    assert.deepEqual(await session.evaluate('Math.max(1,'), { type: 'incomplete' });
    assert.deepEqual(await session.evaluate('Math.max(1,\n2)'), { type: 'value', text: '2' });
    assert.deepEqual(await session.evaluate('await Promise.resolve(['), { type: 'incomplete' });
  });

  test('lines run one at a time, in the order given, as the shell process', async () => {
    const order = [];
    const first = session
      .evaluate("await new Promise((r) => setTimeout(r, 50)); 'first'")
      .then((r) => order.push(r.text));
    const second = session.evaluate("'second'").then((r) => order.push(r.text));
    await Promise.all([first, second]);
    assert.deepEqual(order, ["'first'", "'second'"]);
    assert.equal((await session.evaluate('self()')).text, String(session.pid()));
  });

  test('interrupt() ends the wait of a line; its receive takes no later message', async () => {
    const waiting = session.evaluate('receive()');
    assert.equal(session.interrupt(), true, 'a line is waiting once evaluate has returned');
    const r = await waiting;
    assert.equal(r.type, 'interrupted');
    assert.equal(r.text, 'interrupted');
    assert.doesNotMatch(r.text, /ERR_SCRIPT_EXECUTION_INTERRUPTED/);
    drain();
    await session.evaluate("send(self(), 'after'); flush()");
    assert.equal(drain(), "Shell got 'after'");
    assert.equal(session.interrupt(), false, 'nothing waits now');
  });

  test('exit() with no reason says what it needs and leaves the shell process alone', async () => {
    const pid = session.pid();
    drain();
    assert.deepEqual(await session.evaluate('exit()'), { type: 'value', text: '' });
    assert.match(drain(), /^exit\(\) needs a reason: exit\(reason\) ends the shell process/);
    assert.equal(session.pid(), pid);
    assert.equal(isProcessAlive(pid), true);
  });

  test('q() asks the front end to leave (S7.6)', async () => {
    assert.deepEqual(await session.evaluate('q()'), { type: 'value', text: '', quit: true });
    assert.deepEqual(await session.evaluate('1'), { type: 'value', text: '1' });
  });
});

describe('S7.3 completion', { timeout: 60_000 }, () => {
  test('code. lists the API before what every object has', async () => {
    const [hits, word] = await session.complete('code.');
    assert.equal(word, 'code.');
    const api = Object.keys(code)
      .sort()
      .map((k) => `code.${k}`);
    assert.deepEqual(hits.slice(0, api.length), api);
    for (const k of ['__proto__', 'constructor', 'hasOwnProperty'])
      assert.ok(hits.indexOf(`code.${k}`) > api.length, `${k} comes after the API`);
    assert.deepEqual((await session.complete('code.soft'))[0], ['code.softPurge']);
  });

  test('a module name completes to its exports only when asked to load it', async () => {
    assert.match((await session.evaluate("compile.file('looper')")).text, /module: 'looper'/);
    assert.deepEqual(await session.complete('looper.'), [[], 'looper.']);
    assert.equal(code.isLoaded('looper'), false, 'completing without load loads nothing');
    assert.deepEqual(await session.complete('looper.', { load: true }), [
      ['looper.loop'],
      'looper.',
    ]);
    const [words] = await session.complete('');
    for (const w of ['looper', 'c', 'recompile', 'q', 'h', 'spawn'])
      assert.ok(words.includes(w), w);
  });
});

describe('S7.6 commands', { timeout: 180_000 }, () => {
  test('a mistyped module name gets the closest known names', async () => {
    const bare = await session.evaluate('c(cuonter)');
    assert.equal(bare.type, 'error');
    assert.match(
      bare.text,
      /^Uncaught ReferenceError: cuonter is not defined \(did you mean counter\?\)$/,
    );
    const quoted = await session.evaluate("c('cuonter')");
    // The directories searched, as the working directory sees them (src when run in the project).
    assert.equal(quoted.type, 'value');
    assert.match(
      quoted.text,
      /^\{ error: 'nofile' \}\nno source for cuonter in \S*src; did you mean counter\?$/,
    );
    const far = await session.evaluate("c('zzzzzz')");
    assert.match(far.text, /^\{ error: 'nofile' \}\nno source for zzzzzz in \S*src$/);
  });

  test('c(M) says whom its purge killed: killed 1: <pid>', async () => {
    assert.equal((await session.evaluate('c(looper)')).text, "{ module: 'looper' }");
    const pid = (await session.evaluate('p = spawn(looper.loop)')).text;
    assert.equal(
      (await session.evaluate('c(looper)')).text,
      "{ module: 'looper' }",
      'p now runs old code',
    );
    const r = await session.evaluate('c(looper)');
    assert.equal(r.text, `{ module: 'looper' }\nkilled 1: ${pid}`);
    assert.ok(!processes().some((p) => String(p) === pid));
  });

  test('recompile() loads, as one change, every loaded module whose source changed', async () => {
    drain();
    assert.deepEqual(await session.evaluate('recompile()'), {
      type: 'value',
      text: '{ modules: [] }',
    });
    assert.match(drain(), /nothing to recompile/);
    assert.equal((await session.evaluate('c(counter)')).type, 'value');
    const file = join(src, 'counter.ts');
    writeFileSync(file, readFileSync(file, 'utf8').replace('x + 1', 'x + 2'));
    const looper = join(src, 'looper.ts');
    writeFileSync(looper, `${readFileSync(looper, 'utf8')}\nexport const edited = true;\n`);
    assert.equal(
      (await session.evaluate('recompile()')).text,
      "{ modules: [ 'counter', 'looper' ] }",
    );
    assert.match(drain(), /recompiling counter, looper/);
    assert.equal((await session.evaluate('counter.inc(1)')).text, '3');
    // A change that does not type-check is refused as one, and the running code stays.
    writeFileSync(file, readFileSync(file, 'utf8').replace('x + 2', 'String(x)'));
    const refused = await session.evaluate('recompile()');
    assert.equal(refused.text, "{ error: 'compile' }");
    assert.match(drain(), /src\/counter\.ts:\d+:\d+ - error TS2322/);
    assert.equal((await session.evaluate('counter.inc(1)')).text, '3');
  });

  test('genServer.call<R>: the caller names the reply type, and the gate holds it to it (S8.1)', async () => {
    assert.equal((await session.evaluate('c(asker)')).text, "{ module: 'asker' }");
    writeFileSync(join(src, 'asker.ts'), readFileSync(join(root, 'versions', 'asker_wrong.ts')));
    drain();
    assert.equal((await session.evaluate('c(asker)')).text, "{ error: 'compile' }");
    assert.match(
      drain(),
      /asker\.ts:5:9 - error TS2322: Type 'string' is not assignable to type 'number'/,
    );
  });

  test('h() is help(), and its examples are functions the bundled examples have', async () => {
    drain();
    await session.evaluate('h()');
    const help = drain();
    for (const cmd of ['recompile()', 'q()', 'help() | h()', 'c(M)'])
      assert.ok(help.includes(cmd), cmd);
    const examples = new URL('../examples/', import.meta.url);
    const counter = readFileSync(new URL('counter.ts', examples), 'utf8');
    const greeter = readFileSync(new URL('greeter.ts', examples), 'utf8');
    assert.match(help, /counter\.start\(\)/);
    assert.match(counter, /export function start\(/);
    assert.match(help, /greeter\.greet\('Ada'\)/);
    assert.match(greeter, /export function greet\(/);
  });

  test('a typed change that has not answered in time says type-checking… (S7.6)', async () => {
    const lines = [];
    const quick = createShellSession({ src: [src], output: (t) => lines.push(t), slowChangeMs: 0 });
    try {
      writeFileSync(
        join(src, 'counter.ts'),
        'export function inc(x: number): number {\n  return x;\n}\n',
      );
      assert.equal((await quick.evaluate('c(counter)')).text, "{ module: 'counter' }");
      assert.deepEqual(lines, ['type-checking…']);
      lines.length = 0;
      await quick.evaluate('c(counter, { typecheck: false })');
      assert.deepEqual(lines, [], 'an untyped change does not');
    } finally {
      quick.close();
    }
  });
});
