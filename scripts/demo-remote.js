// npm run demo:remote — a running service upgraded from another process (issue 12, S9).
//
// Starts the HTTP service of examples/http as a detached named node
// (`start({ name: 'http-demo' })`, its own process group), puts it under
// keep-alive load from this process, and meanwhile, from a second process
// working on its own copy of the sources:
//   1. `hotcode deploy http-demo httpHandler --upgrade --change httpHandler:httpHandler`
//      deploys v2 (new responses, a new state shape migrated by codeChange);
//   2. `hotcode deploy http-demo httpHandler` with a handler whose request type no
//      longer matches its caller on the node (httpListener): refused by the type
//      gate on the deploying side, nothing changes on the node;
// then `hotcode stop http-demo`. The last line is exactly:
//   requests: N, failed: F, deployed: v1->v2, refused: yes
//
// Everything lives in a temp dir (HOTCODE_RUNTIME_DIR, HOTCODE_SECRET_FILE):
// your ~/.hotcode is not touched.
//
// Options: --clients N (1–64, default 8), --pause S (seconds of load between the
// steps, 0.2–10, default 1), --json (the measures as JSON on the line before the last).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clamp, freePort, get } from './demo-http.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const example = join(root, 'examples', 'http');
const cli = join(root, 'dist', 'cli', 'main.js');
const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '8' },
    pause: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
const clients = Math.round(clamp(values.clients, 1, 64, 8));
const pauseMs = clamp(values.pause, 0.2, 10, 1) * 1000;
const log = (line) => process.stdout.write(`${line}\n`);
const NAME = 'http-demo';

// ---- a sandbox: the service's project, the workstation's copy, the control dir and secret ----
const dir = mkdtempSync(join(tmpdir(), 'hotcode-demo-remote-'));
const service = join(dir, 'service');
const workstation = join(dir, 'workstation');
for (const d of [service, workstation]) {
  mkdirSync(join(d, 'src'), { recursive: true });
  for (const f of readdirSync(join(example, 'src')))
    copyFileSync(join(example, 'src', f), join(d, 'src', f));
  writeFileSync(join(d, 'hotcode.config.json'), '{ "src": ["src"], "out": "ebin" }\n');
}
const runtime = join(dir, 'run');
mkdirSync(runtime, { mode: 0o700 });
const secret = join(dir, 'secret');
writeFileSync(secret, randomBytes(32), { mode: 0o600 });
const env = {
  ...process.env,
  HOTCODE_RUNTIME_DIR: runtime,
  HOTCODE_SECRET_FILE: secret,
  NO_COLOR: '1',
};

/** `hotcode …` from the workstation (a second process): { status, stdout, stderr }. */
function hotcode(args) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { cwd: workstation, env, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ status: error ? (error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let node;
let exitCode = 1;
try {
  // ---- the service: a detached named node -------------------------------------------------
  const port = await freePort();
  const script = join(service, 'service.mjs');
  writeFileSync(
    script,
    [
      `import { c, start, supervisor } from ${JSON.stringify(join(root, 'dist', 'index.js'))};`,
      `await start({ name: ${JSON.stringify(NAME)}, src: 'src', out: 'ebin', typecheck: false });`,
      "const r = await c(['httpHandler', 'httpListener', 'httpSup']);",
      "if (!('modules' in r)) { console.log('failed', JSON.stringify(r)); process.exit(1); }",
      `await supervisor.start('httpSup', ${port}, { name: 'httpSup' });`,
      "console.log('ready');",
      '',
    ].join('\n'),
  );
  const out = openSync(join(dir, 'service.log'), 'a');
  node = spawn(process.execPath, [script], {
    cwd: service,
    env,
    detached: true,
    stdio: ['ignore', out, out],
  });
  node.unref();
  for (let i = 0; !readFileSync(join(dir, 'service.log'), 'utf8').includes('ready'); i++) {
    if (node.exitCode !== null || i > 300)
      throw new Error(
        `the service did not start:\n${readFileSync(join(dir, 'service.log'), 'utf8')}`,
      );
    await sleep(20);
  }
  log(
    `service: node ${NAME} (pid ${node.pid}), http://127.0.0.1:${port}/, load: ${clients} keep-alive clients`,
  );

  // ---- the load -----------------------------------------------------------------------------
  let requests = 0;
  let failed = 0;
  let loading = true;
  const failures = [];
  const seen = new Set();
  const agents = [];
  const client = async (i) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    let n = 0;
    while (loading) {
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
  const probe = async () => {
    const body = ((await get(undefined, port, '/probe')).body ?? '').trim();
    return { version: body.slice(0, 2), body };
  };
  const show = (r) =>
    `${r.stdout}${r.stderr}`
      .trim()
      .split('\n')
      .map((l) => `  | ${l}`)
      .join('\n');

  // ---- 1. deploy v2 as a release upgrade ---------------------------------------------------
  await sleep(pauseMs);
  const before = await probe();
  log(`${before.version} answers: ${before.body}`);
  copyFileSync(
    join(example, 'releases', 'v2', 'httpHandler.ts'),
    join(workstation, 'src', 'httpHandler.ts'),
  );
  const cmd1 = ['deploy', NAME, 'httpHandler', '--upgrade', '--change', 'httpHandler:httpHandler'];
  log(`$ hotcode ${cmd1.join(' ')}`);
  const t1 = performance.now();
  const d1 = await hotcode(cmd1);
  log(`${show(d1)}\n  (exit ${d1.status}, ${Math.round(performance.now() - t1)} ms)`);
  const after = await probe();
  log(`${after.version} answers: ${after.body}`);

  // ---- 2. a deploy the type gate refuses: httpListener on the node calls the handler ---------
  await sleep(pauseMs);
  const v2 = readFileSync(join(example, 'releases', 'v2', 'httpHandler.ts'), 'utf8');
  writeFileSync(
    join(workstation, 'src', 'httpHandler.ts'),
    v2
      .replace("export const vsn = 'v2';", "export const vsn = 'v3';")
      .replace(
        '  conn: number;',
        '  conn: number;\n  /** v3 wants the headers too. */\n  headers: Record<string, string>;',
      )
      .replaceAll('`v2 ', '`v3 '),
  );
  const cmd2 = ['deploy', NAME, 'httpHandler'];
  log(
    `$ hotcode ${cmd2.join(' ')}    # a handler whose request type its caller on the node does not fill`,
  );
  const d2 = await hotcode(cmd2);
  log(`${show(d2)}\n  (exit ${d2.status})`);
  const still = await probe();
  log(`${still.version} still answers: ${still.body}`);

  await sleep(pauseMs);
  loading = false;
  await load;
  for (const a of agents) a.destroy();

  // ---- the node's own view, then stop it ---------------------------------------------------
  const st = await hotcode(['status', NAME]);
  log(`$ hotcode status ${NAME}\n${show(st)}`);
  const stopped = await hotcode(['stop', NAME]);
  log(`$ hotcode stop ${NAME}\n${show(stopped)}`);

  const deployed =
    d1.status === 0 && before.version === 'v1' && after.version === 'v2'
      ? 'v1->v2'
      : `${before.version}->${after.version}`;
  const refused =
    d2.status === 1 && /httpListener\.ts:\d+:\d+ - error/.test(d2.stderr) && still.version === 'v2'
      ? 'yes'
      : 'no';
  if (failures.length) log(`failures: ${failures.join(' | ')}`);
  if (values.json)
    log(JSON.stringify({ requests, failed, versionsSeen: [...seen].sort(), deployed, refused }));
  log(`requests: ${requests}, failed: ${failed}, deployed: ${deployed}, refused: ${refused}`);
  exitCode =
    failed === 0 && deployed === 'v1->v2' && refused === 'yes' && stopped.status === 0 ? 0 : 1;
} finally {
  // The service is ours: if `hotcode stop` did not end it, end it by its pid.
  if (node?.pid !== undefined && node.exitCode === null) {
    try {
      process.kill(node.pid, 0);
      process.kill(node.pid, 'SIGKILL');
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
