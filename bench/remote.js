// Remote-control benchmarks (issue 12, S9), against a named node in a
// child process (a private runtime dir and secret in a temp dir):
//   remote.rpc_us       median rpc round trip over the Unix socket (target ≤ 300 µs)
//   remote.deploy_ms    node.deploy(['m0']) of an edited 50-line module, warm, end to end:
//                       describe, compile and type-check here, load there (target ≤ 150 ms)
//   remote.node_rss_mb  the node's RSS with 10 loaded modules after 100 deploys (target ≤ 120)
//
// `node bench/remote.js` prints them.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { distUrl, fiftyLines, makeProject, median, round } from './util.js';

const RPC_WARMUP = 300;
const RPCS = 2000;
const DEPLOY_WARMUP = 3;
const DEPLOYS = 100;
const MODULES = 10;

const moduleText = (i, n) =>
  `${fiftyLines(n, `m${i}_`)}\nexport function value(): number {\n  return ${n};\n}\n`;

/** The node: start({ name }), compile the modules, say ready. */
const NODE = `
import { c, start } from ${JSON.stringify(distUrl)};
const [name, src, out, modules] = process.argv.slice(2);
await start({ name, src, out, typecheck: false });
const r = await c(modules.split(','));
if (!('modules' in r)) { console.log('failed', JSON.stringify(r)); process.exit(1); }
console.log('ready');
setInterval(() => {}, 1 << 30);
`;

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : undefined;
}

export async function benchRemote() {
  const modules = {};
  for (let i = 0; i < MODULES; i++) modules[`m${i}`] = moduleText(i, 0);
  const p = makeProject(modules, 'hotcode-bench-remote-');
  const runtime = join(p.root, 'run');
  mkdirSync(runtime, { mode: 0o700 });
  const secret = join(p.root, 'secret');
  writeFileSync(secret, randomBytes(32), { mode: 0o600 });
  process.env.HOTCODE_RUNTIME_DIR = runtime;
  process.env.HOTCODE_SECRET_FILE = secret;
  const script = join(p.root, 'node.mjs');
  writeFileSync(script, NODE);
  const child = spawn(
    process.execPath,
    [script, 'bench', p.src, p.out, Object.keys(modules).join(',')],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const { connect } = await import(distUrl);
  let node;
  try {
    await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('ready')) resolve();
        if (out.includes('failed')) reject(new Error(out));
      });
      child.on('exit', (s) => reject(new Error(`the node exited (${s}): ${out}`)));
    });
    const rssAtStart = rssMb(child.pid);
    node = await connect('bench');

    // ---- rpc round trips ---------------------------------------------------------------
    for (let i = 0; i < RPC_WARMUP; i++) await node.rpc('m0', 'value', []);
    const rpc = [];
    for (let i = 0; i < RPCS; i++) {
      const t = performance.now();
      await node.rpc('m0', 'value', []);
      rpc.push((performance.now() - t) * 1000);
    }
    rpc.sort((a, b) => a - b);

    // ---- deploys of an edited 50-line module (the gate warm on this side) ------------------
    const opts = { src: [p.src], root: p.root };
    const times = [];
    for (let n = 1; n <= DEPLOYS; n++) {
      p.write('m0', moduleText(0, n));
      const t = performance.now();
      const r = await node.deploy(['m0'], opts);
      const ms = performance.now() - t;
      if (!('modules' in r)) throw new Error(`deploy ${n} failed: ${JSON.stringify(r)}`);
      if (n > DEPLOY_WARMUP) times.push(ms);
    }
    const answer = await node.rpc('m0', 'value', []);
    if (answer !== DEPLOYS) throw new Error(`after ${DEPLOYS} deploys m0 answers ${answer}`);
    // The node's own figure, after a moment for the deploys' garbage to be collected.
    await new Promise((r) => setTimeout(r, 500));
    const rss = rssMb(child.pid) ?? (await node.status()).memory.rss / 1048576;
    return [
      {
        id: 'remote.rpc_us',
        value: round(median(rpc), 1),
        unit: 'µs',
        detail: { calls: RPCS, p90: round(rpc[Math.floor(rpc.length * 0.9)], 1) },
      },
      {
        id: 'remote.deploy_ms',
        value: round(median(times), 1),
        unit: 'ms',
        detail: {
          deploys: times.length,
          p90: round([...times].sort((a, b) => a - b)[Math.floor(times.length * 0.9)], 1),
          typecheck: true,
        },
      },
      {
        id: 'remote.node_rss_mb',
        value: round(rss, 1),
        unit: 'MB',
        detail: { modules: MODULES, deploys: DEPLOYS, rssAtStartMb: round(rssAtStart ?? 0, 1) },
      },
    ];
  } finally {
    await node?.close();
    child.kill();
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    p.remove();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchRemote()) console.log(`${r.id}: ${r.value} ${r.unit}`, r.detail);
}
