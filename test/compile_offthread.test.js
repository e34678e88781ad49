// A large module's rewrite runs in a worker thread (docs/architecture.md, the
// compiler): the event loop keeps turning while it compiles, and what is written
// is exactly what the main thread would have written — object file, exports,
// source map and diagnostics alike. If the worker dies, the compile still ends.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { transform } from 'esbuild';
import { transformOptions } from '../dist/compiler/compile.js';
import {
  OFF_THREAD_CHARS,
  rewriteStageOffThread,
  stopCompilerWorker,
} from '../dist/compiler/offthread.js';
import { rewriteStage } from '../dist/compiler/stage.js';
import { c, mod, start, stop } from '../dist/index.js';
import { project, writeSource } from './helpers.js';

/** A module of `n` exported functions, `f0 … f{n-1}`, each returning its number. */
const big = (n, extra = '') =>
  `${Array.from({ length: n }, (_, i) => `export function f${i}(x: number): number { return x + ${i}; }`).join('\n')}\n${extra}`;

async function stageInput(module, source) {
  const file = `/virtual/${module}.ts`;
  const out = await transform(source, transformOptions(file));
  return { module, file, source, code: out.code, map: out.map };
}

describe('the rewrite of a large module, off the main thread', { timeout: 120_000 }, () => {
  const p = project();
  before(() => start({ src: p.src, out: p.out, typecheck: false }));
  after(async () => {
    await stop();
    await stopCompilerWorker();
  });

  it('gives exactly what the main thread gives: code, map, exports', async () => {
    const input = await stageInput('wide', big(6000));
    assert.ok(input.code.length > OFF_THREAD_CHARS, 'large enough to go to the worker');
    assert.deepEqual(await rewriteStageOffThread(input), rewriteStage(input));
  });

  it('diagnostics point at the source line, as on the main thread', async () => {
    const input = await stageInput(
      'wrong',
      big(6000, 'const __hc_mine = 1;\nexport { __hc_mine };\n'),
    );
    const r = await rewriteStageOffThread(input);
    assert.equal(r.ok, false);
    assert.deepEqual(r, rewriteStage(input));
    assert.equal(r.diagnostics[0].line, 6001);
    assert.match(r.diagnostics[0].message, /reserved/);
  });

  it('the event loop runs while a large module is rewritten; a small one is rewritten in place', async () => {
    const turnsDuring = async (input) => {
      let turns = 0;
      let spinning = true;
      const spin = () => {
        turns++;
        if (spinning) setImmediate(spin);
      };
      setImmediate(spin);
      const r = await rewriteStageOffThread(input);
      spinning = false;
      assert.equal(r.ok, true);
      return turns;
    };
    assert.ok((await turnsDuring(await stageInput('wide3', big(6000)))) >= 1);
    assert.equal(await turnsDuring(await stageInput('narrow', big(10))), 0);
  });

  it('c() of a large module loads it, and its stack traces point into the source', async () => {
    writeSource(
      p,
      'wide.ts',
      big(6000, 'export function boom(): never { throw new Error("boom"); }\n'),
    );
    assert.deepEqual(await c('wide'), { module: 'wide' });
    assert.equal(mod('wide').f5999(1), 6000);
    assert.throws(
      () => mod('wide').boom(),
      (e) => /wide\.ts:6001:/.test(e.stack),
    );
  });

  it('a worker that dies mid-request: the compile ends anyway, with the same result', async () => {
    const input = await stageInput('wide2', big(6000));
    const pending = rewriteStageOffThread(input);
    await stopCompilerWorker();
    assert.deepEqual(await pending, rewriteStage(input));
  });
});
