// npm run demo:upgrade — a live HTTP service upgraded under load (issue 7).
//
// Starts the service of examples/http (a supervisor, a handler genServer, a
// listener process) on 127.0.0.1, runs a bounded load (a fixed number of
// keep-alive clients for a fixed time), and meanwhile performs a release
// upgrade v1 → v2 (new responses, new state shape migrated by codeChange),
// then a broken upgrade to v3 whose codeChange throws and which must roll
// back. The last line is exactly:
//   requests: N, failed: F, upgraded: v1->v2, rolled back: yes
//
// Options: --clients N (1–64, default 8), --seconds S (1–30, default 3),
// --json (also print the measures as JSON on the line before the last).
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { c, code, compile, start, stop, supervisor, upgrade } from '../dist/index.js';
import { clamp, freePort, get } from './demo-http.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const example = join(root, 'examples', 'http');
const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const clients = Math.round(clamp(values.clients, 1, 64, 8));
const seconds = clamp(values.seconds, 1, 30, 3);
const log = (line) => process.stdout.write(`${line}\n`);

const dir = mkdtempSync(join(tmpdir(), 'hotcode-demo-'));
const src = join(dir, 'src');
mkdirSync(src);
for (const f of readdirSync(join(example, 'src')))
  copyFileSync(join(example, 'src', f), join(src, f));

let exitCode = 1;
try {
  await start({ src, out: join(dir, 'ebin'), typecheck: false });
  const loaded = await c(['httpHandler', 'httpListener', 'httpSup']);
  if (!('modules' in loaded)) throw new Error(`compile failed: ${JSON.stringify(loaded)}`);
  const port = await freePort();
  await supervisor.start('httpSup', port, { name: 'httpSup' });
  log(
    `service: http://127.0.0.1:${port}/ (handler ${code.versions('httpHandler').current.vsn}), load: ${clients} keep-alive clients for ${seconds} s`,
  );

  // ---- the load ----------------------------------------------------------------------
  let requests = 0;
  let failed = 0;
  const seen = new Set();
  const failures = [];
  const deadline = Date.now() + seconds * 1000;
  const agents = [];
  const client = async (i) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    let n = 0;
    while (Date.now() < deadline) {
      const r = await get(agent, port, `/client/${i}/${n++}`);
      requests++;
      const version = /^(v\d) /.exec(r.body ?? '')?.[1];
      if (r.error || r.status !== 200 || version === undefined) {
        failed++;
        if (failures.length < 5) failures.push(r.error?.message ?? `${r.status} ${r.body}`);
      } else seen.add(version);
    }
  };
  const load = Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  const at = (fraction) =>
    new Promise((r) =>
      setTimeout(r, Math.max(0, deadline - seconds * 1000 * (1 - fraction) - Date.now())),
    );
  /** One request outside the load: the version that answers, and what it says. */
  const probe = async () => {
    const body = ((await get(undefined, port, '/probe')).body ?? '').trim();
    return { version: body.slice(0, 2), body };
  };
  const ms = (x) => Math.round(x * 10) / 10;

  // ---- v1 → v2 ------------------------------------------------------------------------
  await at(1 / 3);
  const before = await probe();
  log(`${before.version} answers: ${before.body}`);
  copyFileSync(join(example, 'releases', 'v2', 'httpHandler.ts'), join(src, 'httpHandler.ts'));
  const built = await compile.file('httpHandler');
  if (!('module' in built)) throw new Error(`compile v2 failed: ${JSON.stringify(built)}`);
  const up = await upgrade({
    load: ['httpHandler'],
    change: [{ server: 'httpHandler', module: 'httpHandler' }],
  });
  const after = await probe();
  log(
    `upgrade ${before.version} -> ${code.versions('httpHandler').current.vsn}: ${up.ok ? `ok, the handler paused ${ms(up.pausedMs)} ms` : `${up.error}${up.reason ? ` (${up.reason.message ?? up.reason})` : ''}`}`,
  );
  log(`${after.version} answers: ${after.body}`);

  // ---- a broken release: v2 → v3 must roll back -------------------------------------------
  await at(2 / 3);
  copyFileSync(join(example, 'releases', 'v3', 'httpHandler.ts'), join(src, 'httpHandler.ts'));
  const built3 = await compile.file('httpHandler');
  if (!('module' in built3)) throw new Error(`compile v3 failed: ${JSON.stringify(built3)}`);
  const down = await upgrade({
    load: ['httpHandler'],
    change: [{ server: 'httpHandler', module: 'httpHandler' }],
  });
  const still = await probe();
  log(
    `upgrade to v3: ${down.error} (${down.reason?.message ?? down.reason}), rolled back: ${down.rolledBack}; handler ${code.versions('httpHandler').current.vsn}, answering ${still.version}`,
  );
  await load;
  for (const a of agents) a.destroy();
  const upgraded =
    up.ok && before.version === 'v1' && after.version === 'v2'
      ? 'v1->v2'
      : `${before.version}->${after.version}`;
  const rolledBack =
    down.rolledBack === true &&
    still.version === 'v2' &&
    code.versions('httpHandler').current.vsn === 'v2'
      ? 'yes'
      : 'no';
  if (failures.length) log(`failures: ${failures.join(' | ')}`);
  if (values.json)
    log(
      JSON.stringify({
        requests,
        failed,
        pausedMs: ms(up.pausedMs),
        versionsSeen: [...seen].sort(),
        upgraded,
        rolledBack,
      }),
    );
  log(
    `requests: ${requests}, failed: ${failed}, upgraded: ${upgraded}, rolled back: ${rolledBack}`,
  );
  exitCode = failed === 0 && upgraded === 'v1->v2' && rolledBack === 'yes' ? 0 : 1;
} finally {
  await stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
