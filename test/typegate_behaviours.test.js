// Issue 7 with S6.2: the behaviours' exported types let the type gate check a
// callback module's state and messages.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { c, genServer, start, stop } from '../dist/index.js';
import { project } from './helpers.js';

const p = project();
const put = (text) => writeFileSync(join(p.src, 'srv.ts'), text);
const server = (handleCallBody) =>
  [
    "import type { CallResult, CastResult, From, GenServerModule } from 'hotcode';",
    "import * as self from './srv';",
    'type State = { n: number };',
    'export function init(start: number): State {',
    '  return { n: start };',
    '}',
    "export function handleCall(req: 'get', _from: From, s: State): CallResult<number, State> {",
    `  ${handleCallBody}`,
    '}',
    'export function handleCast(by: number, s: State): CastResult<State> {',
    '  return { state: { n: s.n + by } };',
    '}',
    "self satisfies GenServerModule<State, 'get', number, number, number>;",
  ].join('\n');

before(() => start({ root: p.dir, src: 'src', out: 'ebin' }));
after(() => stop());

describe('genServer callback modules are type-checked', () => {
  it('a well-typed server loads and serves', async () => {
    put(server('return { reply: s.n, state: s };'));
    assert.deepEqual(await c('srv'), { module: 'srv' });
    const pid = await genServer.start('srv', 41);
    genServer.cast(pid, 1);
    assert.equal(await genServer.call(pid, 'get'), 42);
    await genServer.stop(pid);
  });

  it('a handleCall returning the wrong state shape is refused', async () => {
    put(server('return { reply: s.n, state: { count: s.n } };'));
    const r = await c('srv');
    assert.equal(r.error, 'compile');
    assert.ok(
      r.diagnostics.some((d) => d.file === join(p.src, 'srv.ts') && d.line === 8),
      JSON.stringify(r.diagnostics),
    );
  });
});
