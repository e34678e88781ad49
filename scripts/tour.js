// npm run tour — the README's five-minute tour, step by step, in the real
// shell (a shell session, type gate on) on a temporary copy of examples/:
// a counter process upgraded from v1 to v2 while it keeps its state, its old
// version soft-purged, then a change that breaks the types refused while the
// running code stays as it was. Prints the transcript the README shows (the
// repository's examples/ are left as they were).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processInfo, start, stop } from '../dist/index.js';
import { services } from '../dist/node.js';
import { createShellSession } from '../dist/shell/session.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'hotcode-tour-'));
const examples = join(dir, 'examples');
cpSync(join(root, 'examples'), examples, {
  recursive: true,
  filter: (f) => !f.includes('ebin'),
});
// Paths print as the README shows them: examples/counter.ts.
process.chdir(dir);
const file = join(examples, 'counter.ts');
/** Edits examples/counter.ts as a person would in an editor: [from, to] pairs. */
const edit = (what, ...pairs) => {
  let text = readFileSync(file, 'utf8');
  for (const [from, to] of pairs) {
    if (!text.includes(from)) throw new Error(`tour: examples/counter.ts has no ${from}`);
    text = text.replace(from, to);
  }
  writeFileSync(file, text);
  console.log(`# (edit examples/counter.ts: ${what})`);
};

let status = 0;
await start({ src: examples, out: join(examples, 'ebin'), typecheck: true });
try {
  // The shell warms the type gate while you type; so does the tour (the first check loads TypeScript).
  await services.warmTypeGate();
  const session = createShellSession({ src: [examples], output: (text) => console.log(text) });
  /** One line at the prompt, as the README shows it, and what the shell printed. */
  const line = async (code) => {
    console.log(`hotcode> ${code}`);
    const r = await session.evaluate(code);
    if (r.type === 'incomplete') throw new Error(`tour: incomplete line ${code}`);
    if (r.text !== '') console.log(r.text);
    return r;
  };
  /** Waits until the counter's reply is in the shell's mailbox (messages between processes take a turn). */
  const replied = async (n = 1) => {
    while ((processInfo(session.pid())?.messageQueueLen ?? 0) < n)
      await new Promise((resolve) => setImmediate(resolve));
  };

  await line('c(counter)                 // compile, type-check, load examples/counter.ts');
  await line('pid = counter.start(0)     // a process looping by self.loop(count)');
  await line("send(pid, { op: 'inc' }); send(pid, { op: 'get', from: self() })");
  await replied();
  await line("flush()                    // print and empty the shell's mailbox");

  edit(
    'step() returns 10, vsn = 2',
    ['return 1;', 'return 10;'],
    ['export const vsn = 1;', 'export const vsn = 2;'],
  );
  await line('c(counter)');
  await line(
    "send(pid, { op: 'inc' }); send(pid, { op: 'inc' }); send(pid, { op: 'get', from: self() })",
  );
  await replied();
  await line('flush()');
  await line('m(counter)');
  await line("code.softPurge('counter')");

  edit('step(): string, a type error', ['step(): number', 'step(): string']);
  const refused = await line('c(counter)');
  await line('i()');
  if (!/error: 'compile'/.test(refused.text)) status = 1;
  session.close();
} finally {
  await stop();
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  status === 0
    ? '\ntour done: the counter kept its state across the upgrade, v1 was purged, and the change that broke the types was refused.'
    : '\ntour: something went differently from the README',
);
process.exit(status);
