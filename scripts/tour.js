// A scripted five-minute tour of a live upgrade on the bundled examples:
// a counter process upgraded from v1 to v2 while it keeps its state, then a
// process stuck in old code purged. Runs in a temporary copy of examples/,
// so the repository is left as it was.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { c, code, mod, receive, run, self, send, start, stop } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'hotcode-tour-'));
cpSync(join(root, 'examples'), join(dir, 'src'), {
  recursive: true,
  filter: (f) => !f.includes('ebin'),
});
const say = (line) => console.log(line);

await start({ src: join(dir, 'src'), out: join(dir, 'ebin'), typecheck: false });
await run(async () => {
  const counter = mod('counter');
  say(`c('counter')            → ${JSON.stringify(await c('counter'))}`);
  const pid = counter.start(0);
  say(`counter.start(0)        → ${pid}`);
  send(pid, { op: 'inc' });
  send(pid, { op: 'inc' });
  send(pid, { op: 'get', from: self() });
  say(`two incs, then get      → ${JSON.stringify(await receive())}`);

  const file = join(dir, 'src', 'counter.ts');
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace('return 1;', 'return 10;').replace('vsn = 1', 'vsn = 2'),
  );
  say(`edit: step() now 10     → c('counter') → ${JSON.stringify(await c('counter'))}`);
  send(pid, { op: 'inc' }); // wakes it in v1; its qualified self.loop call enters v2
  send(pid, { op: 'inc' });
  send(pid, { op: 'get', from: self() });
  say(
    `same process, two incs  → ${JSON.stringify(await receive())}   (state kept; the first inc woke in v1: +1, then v2: +10)`,
  );
  const { versions } = code;
  say(
    `versions('counter')     → current ${versions('counter').current.vsn}, old ${versions('counter').old?.vsn ?? '-'}`,
  );
  say(`softPurge('counter')    → ${code.softPurge('counter')}   (nobody runs v1 any more)`);
  send(pid, { op: 'stop' });
});
await stop();
say('tour done: the counter kept its state across the upgrade; old code was purged.');
