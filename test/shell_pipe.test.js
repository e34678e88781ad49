// S7.1 with piped input: lines run one at a time, in order, as Erlang's shell
// does — `c(m)` then `m.f()` must see the new version.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { project, writeSource } from './helpers.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');

describe('S7.1 the shell on piped input', { timeout: 240_000 }, () => {
  it('evaluates each line after the previous one finished', () => {
    const p = project();
    writeSource(p, 'ver.ts', 'export function v(): number {\n  return 1;\n}\n');
    const input = [
      'await new Promise((r) => setTimeout(r, 200)); "first"',
      '"second"',
      'c(ver)',
      'ver.v()',
      '',
    ].join('\n');
    const r = spawnSync(
      process.execPath,
      [cli, 'shell', '--src', p.src, '--out', p.out, '--no-typecheck'],
      {
        input,
        encoding: 'utf8',
        cwd: p.dir,
        env: { ...process.env, HOTCODE_HISTORY: '', NO_COLOR: '1' },
        timeout: 60_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    const at = (s) => out.indexOf(s);
    assert.ok(at("'first'") >= 0 && at("'first'") < at("'second'"), out);
    assert.ok(at("'second'") < at("{ module: 'ver' }"), out);
    assert.match(out.slice(at("{ module: 'ver' }")), /\n1\n/);
  });

  it('runs a line queued behind an awaited one even when the input ends right after it', () => {
    const p = project();
    writeSource(p, 'ver.ts', 'export function v(): number {\n  return 7;\n}\n');
    for (let i = 0; i < 3; i++) {
      const r = spawnSync(
        process.execPath,
        [cli, 'shell', '--src', p.src, '--out', p.out, '--no-typecheck'],
        {
          input: 'c(ver)\nver.v()\n',
          encoding: 'utf8',
          cwd: p.dir,
          env: { ...process.env, HOTCODE_HISTORY: '', NO_COLOR: '1' },
          timeout: 60_000,
        },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /\{ module: 'ver' \}\n7\n/, r.stdout);
    }
  });

  it('q() leaves: the node stops with status 0 and the lines after it do not run (S7.6)', () => {
    const p = project();
    const r = spawnSync(
      process.execPath,
      [cli, 'shell', '--src', p.src, '--out', p.out, '--no-typecheck'],
      {
        input: "'before'\nq()\n'after'\n",
        encoding: 'utf8',
        cwd: p.dir,
        env: { ...process.env, HOTCODE_HISTORY: '', NO_COLOR: '1' },
        timeout: 60_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /'before'/);
    assert.doesNotMatch(r.stdout, /'after'/);
  });

  it('input that stops in the middle goes on at the next line', () => {
    const p = project();
    const r = spawnSync(
      process.execPath,
      [cli, 'shell', '--src', p.src, '--out', p.out, '--no-typecheck'],
      {
        input: 'await new Promise((r) => setTimeout(r, 100))\nMath.max(1,\n2,\n3)\n{ a: 1 }\n',
        encoding: 'utf8',
        cwd: p.dir,
        env: { ...process.env, HOTCODE_HISTORY: '', NO_COLOR: '1' },
        timeout: 60_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\b3\n(hotcode> )*\{ a: 1 \}\n/);
    assert.doesNotMatch(r.stdout, /SyntaxError/);
  });
});
