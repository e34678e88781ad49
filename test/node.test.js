// S0: a node — start/stop, the code path it starts with, the public API's shape.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as hotcode from '../dist/index.js';
import { project, writeSource } from './helpers.js';

const { c, code, mod, spawn, start, stop, isProcessAlive, receive } = hotcode;

describe('S0.1 start and stop', () => {
  it('the code path is [out, ...path, runtime dir]; start again with the same options does nothing', async () => {
    const p = project();
    const extra = project();
    await start({ src: p.src, out: p.out, path: [extra.src], typecheck: false });
    try {
      const path = code.getPath();
      assert.equal(path[0], p.out);
      assert.equal(path[1], extra.src);
      assert.equal(path.length, 3);
      assert.match(path[2], /stdlib[/\\]ebin$/);
      await start({ src: p.src, out: p.out, path: [extra.src], typecheck: false });
      await assert.rejects(start({ src: p.src, out: join(p.dir, 'other') }), {
        code: 'already_started',
      });
    } finally {
      await stop();
    }
  });

  it('stop kills every process and unloads every module; a later start begins afresh', async () => {
    const p = project();
    await start({ src: p.src, out: p.out, typecheck: false });
    writeSource(p, 'kept.ts', 'export const x = 1;\n');
    await c('kept');
    const pid = spawn(async () => {
      await receive();
    });
    const handle = mod('kept');
    await stop();
    assert.equal(isProcessAlive(pid), false);
    await start({ src: p.src, out: p.out, typecheck: false });
    try {
      assert.equal(code.isLoaded('kept'), false);
      assert.equal(handle.x, 1, 'the same handle autoloads in the new node');
      assert.equal(mod('kept'), handle);
    } finally {
      await stop();
    }
  });

  it('calls that need a node say so', async () => {
    assert.throws(() => code.getPath(), { code: 'not_started' });
    await assert.rejects(c('x'), { code: 'not_started' });
  });
});

describe('S0.3 the public API', () => {
  it('exports every name of the contract, with the promised synchronous/asynchronous split', async () => {
    const names = [
      'start',
      'stop',
      'run',
      'c',
      'l',
      'lm',
      'mm',
      'mod',
      'compile',
      'code',
      'spawn',
      'spawnLink',
      'spawnMonitor',
      'self',
      'send',
      'receive',
      'sendAfter',
      'cancelTimer',
      'link',
      'unlink',
      'monitor',
      'demonitor',
      'exit',
      'trapExit',
      'signal',
      'register',
      'unregister',
      'whereis',
      'registered',
      'processInfo',
      'processes',
      'isProcessAlive',
      'checkProcessCode',
      'genServer',
      'sys',
      'supervisor',
      'upgrade',
      'connect',
      'connectCluster',
      'Pid',
    ];
    for (const n of names) assert.ok(n in hotcode, n);
    // connect and connectCluster are promises even when they fail (S0.3)
    const nodedown = hotcode.connect({ socket: '/nonexistent/hotcode-test.sock' });
    assert.ok(nodedown instanceof Promise);
    await assert.rejects(nodedown, { code: 'nodedown' });
    const p = project();
    await start({ src: p.src, out: p.out, typecheck: false });
    try {
      writeSource(p, 'syncy.ts', 'export const x = 1;\n');
      const compiled = hotcode.compile.file('syncy');
      assert.ok(compiled instanceof Promise);
      await compiled;
      const cr = c('syncy');
      assert.ok(cr instanceof Promise);
      await cr;
      assert.ok(!(hotcode.l('syncy') instanceof Promise));
      assert.ok(!(code.purge('syncy') instanceof Promise));
      assert.ok(!(code.loadFile('syncy') instanceof Promise));
      assert.ok(hotcode.lm() instanceof Promise);
      assert.ok(Array.isArray(hotcode.mm()));
      const ran = hotcode.run(() => 1);
      assert.ok(ran instanceof Promise);
      assert.equal(await ran, 1);
    } finally {
      await stop();
    }
  });
});

describe('S0.4 pids and module arguments', () => {
  it('a pid is an opaque object printed <0.N.0>; a handle is accepted wherever a module is', async () => {
    const p = project();
    await start({ src: p.src, out: p.out, typecheck: false });
    try {
      const pid = spawn(() => {});
      assert.equal(typeof pid, 'object');
      assert.match(`${pid}`, /^<0\.\d+\.0>$/);
      writeSource(p, 'arg.ts', 'export const x = 1;\n');
      assert.deepEqual(await c(mod('arg')), { module: 'arg' });
      assert.deepEqual(code.versions(mod('arg')), code.versions('arg'));
    } finally {
      await stop();
    }
  });
});
