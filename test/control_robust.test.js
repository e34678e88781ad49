// S9.3 Robustness: length-prefixed frames, ≤ 4 KiB before authentication and
// ≤ 64 MiB after; malformed, oversized, slow (5 s) and random-byte
// connections are closed and nothing else is affected; at most 64
// connections at once; every authenticated command is logged with its time
// and peer. And a seeded fuzz of the frame parser.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  MAX_FRAME,
  MAX_FRAME_BEFORE_AUTH,
} from '../dist/control/frame.js';
import { connect } from '../dist/index.js';
import {
  closedBy,
  frame,
  frameReader,
  rawConnect,
  rawHandshake,
  sandbox,
  seeded,
  stopChild,
} from './fixtures/control/harness.js';

const box = sandbox('hotcode-robust-');
after(() => box.cleanup());

const COUNTER = [
  "import { receive, self, send, whereis, type Pid } from 'hotcode';",
  'export function add(a: number, b: number): number { return a + b; }',
  'export async function holder(n: number): Promise<void> {',
  '  const m = await receive<{ from: Pid }>();',
  '  send(m.from, n);',
  '  return holder(n + 1);',
  '}',
  'export async function ask(): Promise<number> {',
  "  send(whereis('holder')!, { from: self() });",
  '  return receive<number>();',
  '}',
  '',
].join('\n');

let node;
let secret;
const path = () => join(box.runtime, 'sturdy.sock');

before(async () => {
  secret = readFileSync(box.secret);
  const root = box.project({
    'src/counter.ts': COUNTER,
    'src/boot.ts': [
      "import { register, spawn } from 'hotcode';",
      "import * as counter from './counter';",
      "export function boot(): void { register('holder', spawn(counter.holder, 0)); }",
      '',
    ].join('\n'),
  });
  node = await box.startNode({
    start: { name: 'sturdy', src: join(root, 'src'), out: join(root, 'ebin'), typecheck: false },
    compile: ['counter', 'boot'],
    spawn: [{ module: 'boot', fn: 'boot' }],
  });
});
after(() => stopChild(node.child));

/** The node, its processes and other connections go on: a right client gets answers, state intact. */
let asked = 0;
async function stillServing(other) {
  const remote = await connect('sturdy');
  assert.equal(await remote.rpc('counter', 'add', [40, 2]), 42);
  // the holder process kept its state: it answers 0, 1, 2… in order
  assert.equal(await remote.rpc('counter', 'ask', []), asked++);
  assert.equal((await remote.status()).pid, node.pid);
  await remote.close();
  if (other) assert.equal(await other.rpc('counter', 'add', [1, 1]), 2);
}

describe(
  'S9.3 a bad connection closes that connection and nothing else',
  { timeout: 120_000 },
  () => {
    let bystander;
    before(async () => {
      bystander = await connect('sturdy');
    });
    after(() => bystander.close());

    test('an oversized length prefix before authentication', async () => {
      const s = await rawConnect(path());
      const read = frameReader(s);
      await read.next();
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(MAX_FRAME_BEFORE_AUTH + 1);
      s.write(prefix);
      assert.deepEqual(await read.next(), { closed: true });
      await stillServing(bystander);
    });

    test('an oversized frame after authentication (over 64 MiB)', async () => {
      const h = await rawHandshake(path(), secret);
      assert.ok(h.welcome.welcome);
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(MAX_FRAME + 1);
      h.socket.write(prefix);
      assert.deepEqual(await h.read.next(), { closed: true });
      await stillServing(bystander);
    });

    test('a frame that is not JSON, one of length 0, one that is not an object, one that is not a request', async () => {
      for (const bad of [
        Buffer.from('\x00\x00\x00\x05{nope'),
        Buffer.from([0, 0, 0, 0]),
        frame([1, 2, 3]),
        null, // after authentication: { hello: 1 } is no request
      ]) {
        const h = bad === null ? await rawHandshake(path(), secret) : undefined;
        const s = h?.socket ?? (await rawConnect(path()));
        const read = h?.read ?? frameReader(s);
        if (!h) await read.next();
        s.write(bad ?? frame({ hello: 1 }));
        let f = await read.next();
        if (f.denied) f = await read.next();
        assert.deepEqual(f, { closed: true });
      }
      await stillServing(bystander);
    });

    test('a client that does not authenticate within 5 s is closed', async () => {
      const s = await rawConnect(path());
      const read = frameReader(s);
      assert.ok((await read.next()).nonce);
      // say nothing: the node hangs up (the test's own timeout bounds the wait)
      assert.deepEqual(await read.next(), { closed: true });
      await stillServing(bystander);
      assert.match(
        readFileSync(join(box.runtime, 'sturdy.log'), 'utf8'),
        /closed: no authentication within 5 s/,
      );
    });

    test('200 connections of random bytes (seeded): all closed, the node up and serving', async () => {
      const rnd = seeded(0x5eed);
      const runs = [];
      for (let i = 0; i < 200; i++) {
        const bytes = rnd.bytes(1 + rnd.int(6000));
        runs.push(
          (async () => {
            const s = await rawConnect(path());
            s.on('error', () => {});
            s.resume(); // read (and drop) what the node says, so its hang-up is seen
            s.write(bytes);
            // random bytes end in a refusal or a bad frame; a short prefix is a silent client (5 s)
            await closedBy(s);
          })(),
        );
        // at most 50 at a time: the limit is 64
        if (runs.length % 50 === 0) await Promise.all(runs.splice(0));
      }
      await Promise.all(runs);
      await stillServing(bystander);
    });

    test('at most 64 connections at once: the 65th is closed at once; then room again', async () => {
      const open = [];
      // the bystander is one
      for (let i = 0; i < 63; i++) {
        const s = await rawConnect(path());
        const read = frameReader(s);
        assert.ok((await read.next()).nonce, `connection ${i + 2} greeted`);
        open.push(s);
      }
      const extra = await rawConnect(path());
      const read = frameReader(extra);
      assert.deepEqual(await read.next(), { closed: true }, 'no greeting for the 65th');
      for (const s of open) s.destroy();
      await Promise.all(open.map(closedBy));
      await stillServing(bystander);
    });
  },
);

describe(
  'S9.3 every authenticated command is logged with its time and peer',
  { timeout: 60_000 },
  () => {
    test('the log file (0600) has a line per command: ISO time, peer, command', async () => {
      const remote = await connect('sturdy', { client: 'tester@box pid 1' });
      await remote.rpc('counter', 'add', [1, 2]);
      await remote.status();
      await remote.close();
      const log = readFileSync(join(box.runtime, 'sturdy.log'), 'utf8');
      assert.match(
        log,
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z unix#\d+ \(tester@box pid 1\) rpc counter\.add\/2$/m,
      );
      assert.match(log, /^\S+Z unix#\d+ \(tester@box pid 1\) status$/m);
    });
  },
);

describe('S9.3 the frame parser under a seeded fuzz', { timeout: 60_000 }, () => {
  /** Splits `buf` at random points. */
  function chunks(rnd, buf) {
    const out = [];
    let i = 0;
    while (i < buf.length) {
      const n = 1 + rnd.int(Math.min(64, buf.length - i));
      out.push(buf.subarray(i, i + n));
      i += n;
    }
    return out;
  }

  function randomValue(rnd, depth = 0) {
    const k = rnd.int(depth > 2 ? 4 : 6);
    if (k === 0) return rnd.int(1e6) - 5e5;
    if (k === 1) return rnd.bytes(rnd.int(20)).toString('latin1');
    if (k === 2) return rnd.next() < 0.5;
    if (k === 3) return null;
    if (k === 4) return Array.from({ length: rnd.int(4) }, () => randomValue(rnd, depth + 1));
    const o = {};
    for (let i = rnd.int(4); i > 0; i--) o[`k${rnd.int(100)}`] = randomValue(rnd, depth + 1);
    return o;
  }

  test('random bytes only ever give frames or a FrameError; valid frames survive any split', () => {
    const rnd = seeded(20241202);
    const deadline = Date.now() + 8000;
    let cases = 0;
    while (cases < 20_000 && Date.now() < deadline) {
      cases++;
      // 1. valid frames, split anywhere, come back whole and in order
      const values = Array.from({ length: 1 + rnd.int(4) }, () => ({ v: randomValue(rnd) }));
      const d = new FrameDecoder(MAX_FRAME);
      const got = [];
      for (const c of chunks(rnd, Buffer.concat(values.map((v) => encodeFrame(v)))))
        got.push(...d.push(c));
      assert.deepEqual(got, JSON.parse(JSON.stringify(values)));
      assert.equal(d.buffered, 0);
      // 2. random bytes (sometimes after a valid frame): frames or a FrameError, nothing else
      const junk =
        rnd.next() < 0.3
          ? Buffer.concat([encodeFrame({ ok: 1 }), rnd.bytes(rnd.int(300))])
          : rnd.bytes(rnd.int(300));
      const j = new FrameDecoder(rnd.next() < 0.5 ? MAX_FRAME_BEFORE_AUTH : MAX_FRAME);
      try {
        for (const c of chunks(rnd, junk))
          for (const f of j.push(c))
            assert.ok(f !== null && typeof f === 'object' && !Array.isArray(f));
      } catch (e) {
        assert.ok(e instanceof FrameError, `not a FrameError: ${e}`);
        assert.ok(['oversized', 'malformed'].includes(e.code));
        // after a failure it takes nothing more
        assert.throws(() => j.push(Buffer.from([1])), FrameError);
      }
      // a decoder never holds more than one frame's worth
      assert.ok(j.buffered <= 4 + MAX_FRAME);
    }
    assert.ok(cases >= 1000, `only ${cases} cases ran`);
  });

  test('the limits: exactly 4 KiB passes before authentication, one byte more does not', () => {
    const body = 'x'.repeat(MAX_FRAME_BEFORE_AUTH - 8);
    const f = encodeFrame({ a: body });
    assert.equal(f.length - 4, MAX_FRAME_BEFORE_AUTH);
    assert.equal(new FrameDecoder().push(f).length, 1);
    const g = encodeFrame({ a: `${body}x` });
    assert.throws(
      () => new FrameDecoder().push(g),
      (e) => e.code === 'oversized',
    );
  });
});
