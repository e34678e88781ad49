// S4.5: after purge nothing in the runtime holds the purged version; memory
// does not grow with the number of versions ever loaded. S3.3: a process
// looping by tail calls runs in constant memory. Needs --expose-gc (npm test passes it).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  c,
  code,
  compile,
  exit,
  mod,
  receive,
  run,
  self,
  send,
  spawn,
  start,
  stop,
} from '../dist/index.js';
import { project, writeSource } from './helpers.js';

// --expose-gc given to `node --test` does not reach the test's own process: turn it on here.
v8.setFlagsFromString('--expose-gc');
const gc = globalThis.gc ?? vm.runInNewContext('gc');
const p = project();
before(() => start({ src: p.src, out: p.out, typecheck: false }));
after(() => stop());

async function settle() {
  for (let i = 0; i < 4; i++) {
    gc();
    await tick();
  }
}

/** A ~100 KB module. */
function bigModule(version) {
  const fns = [];
  for (let i = 0; fns.join('\n').length < 100_000; i++)
    fns.push(
      `export function f${i}(x: number): number {\n  const table = [${Array.from({ length: 20 }, (_, k) => k * i).join(', ')}];\n  return table[x % table.length]! + ${version};\n}`,
    );
  return `export const vsn = ${version};\nexport const marker = { version: ${version} };\n${fns.join('\n')}\n`;
}

describe(
  'S4.5 purged versions are garbage-collected',
  { skip: !gc && 'run with --expose-gc' },
  () => {
    it('1,000 reloads of a 100 KB module: every purged version is collected, heap stays flat', async () => {
      writeSource(p, 'big.ts', bigModule(1));
      await compile.file('big');
      const bytes = code.getObjectCode('big').bytes;
      assert.ok(bytes.length > 100_000);
      code.loadFile('big');
      // `marker` is an object each version creates: a WeakRef on it tells whether the version is alive
      const versions = [];
      await settle();
      const heapBefore = process.memoryUsage().heapUsed;
      const N = 1000;
      for (let i = 0; i < N; i++) {
        assert.deepEqual(code.loadBinary('big', `big-${i}.js`, bytes), { module: 'big' });
        assert.equal(mod('big').f1(3), 4);
        if (i % 50 === 0) versions.push(new WeakRef(mod('big').marker));
      }
      code.loadBinary('big', 'last.js', bytes);
      code.purge('big');
      await settle();
      const alive = versions.filter((r) => r.deref() !== undefined).length;
      assert.equal(alive, 0, `${alive} of ${versions.length} purged versions are still reachable`);
      const grown = process.memoryUsage().heapUsed - heapBefore;
      // Measured here: −0.8 MB (the heap shrinks as the first versions' caches go). The contract
      // is ≤ 1 KB per version (docs/architecture.md): 1 MB for 1,000, with the margin of a noisy machine.
      assert.ok(
        grown < 1024 * 1024,
        `heap grew by ${(grown / 1024).toFixed(0)} KB over ${N} versions (more than 1 KB per version)`,
      );
    });
  },
);

describe(
  'S3.3 a process looping by tail calls runs in constant memory',
  { skip: !gc && 'run with --expose-gc' },
  () => {
    before(async () => {
      writeSource(
        p,
        'looper.ts',
        [
          "import { receive, send, type Pid } from 'hotcode';",
          "import * as self from './looper';",
          'export async function loop(n: number): Promise<number> {',
          '  const m = await receive<{ from?: Pid; stop?: boolean }>();',
          '  if (m.stop) return n;',
          '  if (m.from) send(m.from, n);',
          '  return self.loop(n + 1);',
          '}',
          'export async function local(n: number): Promise<number> {',
          '  const m = await receive<{ from?: Pid; stop?: boolean }>();',
          '  if (m.stop) return n;',
          '  if (m.from) send(m.from, n);',
          '  return local(n + 1);',
          '}',
        ].join('\n'),
      );
      await c('looper');
    });

    for (const fn of ['loop', 'local']) {
      it(`return ${fn === 'loop' ? 'self.loop' : 'local'}(n) over 200,000 messages keeps the heap flat`, async () => {
        await run(async () => {
          const pid = spawn(mod('looper')[fn], 0);
          const me = self();
          const batch = async (k) => {
            for (let i = 0; i < k; i++) send(pid, {});
            send(pid, { from: me });
            return receive();
          };
          await batch(10_000);
          await settle();
          const before = process.memoryUsage().heapUsed;
          for (let b = 0; b < 20; b++) await batch(10_000);
          await settle();
          const grown = process.memoryUsage().heapUsed - before;
          // plain JavaScript keeps ~96 B per iteration: 19 MB here
          assert.ok(
            grown < 2 * 1024 * 1024,
            `heap grew by ${(grown / 1024).toFixed(0)} KB over 200,000 messages`,
          );
          exit(pid, 'kill');
        });
      });
    }
  },
);
