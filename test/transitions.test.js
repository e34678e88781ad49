// S6.2 type-checked transitions, end to end through the public API: a chat
// room process waits in room's version 1 while fmt.line changes shape; the
// change — even with room fixed in the same c — is refused, naming version 1
// and its users; { oldCode: 'kill' } loads it and kills exactly them, and a
// supervisor restarts the child on the new code. A widening change passes;
// an old version no process uses is never checked; so is the upgrade's
// (S8.4) only outside its change.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  c,
  code,
  compile,
  exit,
  genServer,
  isProcessAlive,
  mod,
  monitor,
  receive,
  run,
  self,
  send,
  setLogger,
  spawn,
  start,
  stop,
  supervisor,
  upgrade,
  whereis,
} from '../dist/index.js';
import { project, writeSource } from './helpers.js';

const p = project();
before(async () => {
  await start({ root: p.dir, src: p.src, out: p.out }); // the type gate on
  setLogger({ error() {} });
});
after(() => stop());

const fmt1 =
  "export function line(from: string, text: string): string { return '[' + from + '] ' + text; }\n";
const fmt2 =
  "export function line(m: { from: string; text: string }): string { return '[' + m.from + '] ' + m.text; }\n";
const fmtWide =
  "export function line(from: string, text: string, at?: number): string { return '[' + from + '] ' + text + (at ?? ''); }\n";
/** room: a process loop that formats each message with fmt.line. */
const room = (call) =>
  [
    "import { receive, send, type Pid } from 'hotcode';",
    "import * as fmt from './fmt';",
    "import * as self from './room';",
    'export async function loop(n: number): Promise<void> {',
    '  const m = await receive<{ from: string; text: string; to: Pid }>();',
    `  send(m.to, { chat: ${call} });`,
    '  return self.loop(n + 1);',
    '}',
    'export function start(): Pid { return spawnRoom(); }',
    "import { spawnLink } from 'hotcode';",
    'function spawnRoom(): Pid { return spawnLink(self.loop, 0); }',
  ].join('\n');
const oldCall = 'fmt.line(m.from, m.text)';
const newCall = 'fmt.line({ from: m.from, text: m.text })';

async function chat(pid, from, text) {
  return run(async () => {
    send(pid, { from, text, to: self() });
    return (await receive()).chat;
  });
}

describe('S6.2 the transition a change makes processes go through', () => {
  it('the chat scenario: refused naming the version and its users; oldCode kill kills exactly them', async () => {
    writeSource(p, 'fmt.ts', fmt1);
    writeSource(p, 'room.ts', room(oldCall));
    assert.deepEqual(await c(['fmt', 'room']), { modules: ['fmt', 'room'] });
    const user = spawn(mod('room').loop, 0);
    const bystander = spawn(async () => {
      await receive();
    });
    assert.equal(await chat(user, 'ann', 'hi'), '[ann] hi');

    // fmt alone: refused (room's current version calls the old shape) — the end state
    writeSource(p, 'fmt.ts', fmt2);
    assert.equal((await c('fmt')).error, 'compile');
    // fmt and a fixed room together: the end state checks, but the room process
    // waits in room's version 1, which will call the new fmt.line the old way
    writeSource(p, 'room.ts', room(newCall));
    const r = await c(['fmt', 'room']);
    assert.equal(r.error, 'compile');
    const breaks = r.diagnostics.filter((d) => d.transition !== undefined);
    assert.ok(breaks.length > 0, JSON.stringify(r.diagnostics));
    assert.match(breaks[0].file, /room\.ts$/);
    assert.equal(breaks[0].transition, `version 1, used by ${user}`);
    assert.equal(breaks[0].code, 2554);
    assert.deepEqual(r.oldUsers, [{ module: 'room', pids: [user] }]);
    assert.equal(code.versions('fmt').current.md5 === code.versions('fmt').old?.md5, false);
    assert.equal(mod('fmt').line('a', 'b'), '[a] b', 'nothing was loaded');
    assert.equal(await chat(user, 'bob', 'still v1'), '[bob] still v1');

    // load anyway: exactly the users of the broken version die
    const loaded = await c(['fmt', 'room'], { oldCode: 'kill' });
    assert.deepEqual(loaded, { modules: ['fmt', 'room'] });
    assert.deepEqual(loaded.killed, [user]);
    assert.equal(isProcessAlive(user), false);
    assert.equal(isProcessAlive(bystander), true);
    const fresh = spawn(mod('room').loop, 0);
    assert.equal(await chat(fresh, 'cy', 'v2'), '[cy] v2');
    for (const pid of [fresh, bystander]) exit(pid, 'kill');
  });

  it('a supervisor restarts a child killed by oldCode: kill, on the new code', async () => {
    writeSource(p, 'fmt.ts', fmt1);
    writeSource(p, 'room.ts', room(oldCall));
    assert.deepEqual(await c(['fmt', 'room']), { modules: ['fmt', 'room'] });
    writeSource(
      p,
      'rooms.ts',
      "export function init() { return { strategy: 'one_for_one', intensity: 5, children: [{ id: 'room', start: ['room', 'start', []] }] }; }\n",
    );
    await c('rooms');
    const sup = await supervisor.start('rooms');
    const [{ pid: child }] = await supervisor.whichChildren(sup);
    assert.equal(await chat(child, 'ann', 'hi'), '[ann] hi');
    writeSource(p, 'fmt.ts', fmt2);
    writeSource(p, 'room.ts', room(newCall));
    assert.equal((await c(['fmt', 'room'])).error, 'compile');
    const gone = run(async () => {
      const ref = monitor(child);
      return (await receive((m) => m?.type === 'DOWN' && m.ref === ref)).reason;
    });
    const r = await c(['fmt', 'room'], { oldCode: 'kill' });
    assert.deepEqual(r.killed, [child]);
    assert.equal(await gone, 'killed');
    let next;
    for (;;) {
      [{ pid: next }] = await supervisor.whichChildren(sup);
      if (next !== undefined && next !== child) break;
      await new Promise((res) => setImmediate(res));
    }
    assert.equal(await chat(next, 'bob', 'new code'), '[bob] new code');
    await genServer.stop(sup);
  });

  it('a widening change that old versions still satisfy is accepted', async () => {
    writeSource(p, 'fmt.ts', fmt1);
    writeSource(p, 'room.ts', room(oldCall));
    assert.deepEqual(await c(['fmt', 'room']), { modules: ['fmt', 'room'] });
    const user = spawn(mod('room').loop, 0);
    writeSource(p, 'room.ts', `${room(oldCall)}\nexport const touched = 1;\n`);
    assert.deepEqual(await c('room'), { module: 'room' }); // user now waits in room's old version
    writeSource(p, 'fmt.ts', fmtWide);
    const r = await c('fmt');
    assert.deepEqual(r, { module: 'fmt' });
    assert.deepEqual(r.killed, []);
    assert.equal(await chat(user, 'ann', 'ok'), '[ann] ok');
    exit(user, 'kill');
  });

  it('an old version no process uses is never checked (no false refusal)', async () => {
    writeSource(p, 'fmt.ts', fmt1);
    writeSource(p, 'room.ts', room(oldCall));
    assert.deepEqual(await c(['fmt', 'room']), { modules: ['fmt', 'room'] });
    // nobody runs room: the change of both loads at once
    writeSource(p, 'fmt.ts', fmt2);
    writeSource(p, 'room.ts', room(newCall));
    assert.deepEqual(await c(['fmt', 'room']), { modules: ['fmt', 'room'] });
  });

  it('an upgrade counts only the processes outside its change', async () => {
    const server = (v, call) =>
      [
        "import { receive } from 'hotcode';",
        "import * as fmt from './fmt';",
        `export const vsn = '${v}';`,
        'type S = { n: number };',
        'export function init(): S { return { n: 0 }; }',
        `export function handleCall(m: { from: string; text: string }, _f: unknown, s: S) { return { reply: ${call}, state: s }; }`,
        'export function codeChange(_o: unknown, s: S): S { return s; }',
        'export async function later(): Promise<string> {',
        '  const m = await receive<{ from: string; text: string }>();',
        `  return ${call};`,
        '}',
      ].join('\n');
    writeSource(p, 'fmt.ts', fmt1);
    writeSource(p, 'room.ts', room(oldCall));
    writeSource(p, 'talk.ts', server('1', oldCall));
    assert.deepEqual(await c(['fmt', 'room', 'talk']), { modules: ['fmt', 'room', 'talk'] });
    const pid = await genServer.start('talk', undefined, { name: 'talk' });
    const outsider = spawn(mod('talk').later); // waits in talk's version 1, outside the change
    writeSource(p, 'fmt.ts', fmt2);
    writeSource(p, 'room.ts', room(newCall));
    writeSource(p, 'talk.ts', server('2', newCall));
    assert.ok('modules' in (await compile.file(['fmt', 'room', 'talk'])));
    const spec = {
      load: ['fmt', 'room', 'talk'],
      change: [{ server: 'talk', module: 'talk' }],
    };
    const refused = await upgrade(spec);
    assert.equal(refused.error, 'compile');
    assert.equal(refused.rolledBack, true);
    assert.deepEqual(refused.oldUsers, [{ module: 'talk', pids: [outsider] }]);
    assert.ok(refused.diagnostics.every((d) => d.transition !== undefined));
    assert.equal(code.versions('talk').current.vsn, '1', 'nothing changed');
    // the server itself runs the new code after its codeChange: it does not count
    exit(outsider, 'kill');
    const r = await upgrade(spec);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(await genServer.call(pid, { from: 'ann', text: 'hi' }), '[ann] hi');
    assert.equal(whereis('talk'), pid);
    await genServer.stop(pid);
  });
});
