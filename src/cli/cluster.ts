/**
 * The cluster commands of `hotcode` (S11.2):
 *
 *   hotcode deploy --cluster URL [--group G] [--timeout S] [--allow-missing]
 *                  [--change SERVER:MODULE …] [--no-typecheck] [MODULE…]
 *   hotcode rollback --cluster URL [--group G] [--timeout S] [--allow-missing]
 *   hotcode nodes --cluster URL [--group G]
 *
 * One line per node and a summary; exit 0 when every node switched, 1
 * otherwise. Credentials: `--user`/`--pass`/`--token`, or the environment
 * (`HOTCODE_NATS_USER`, `HOTCODE_NATS_PASS`, `HOTCODE_NATS_TOKEN`), or the
 * project's `"cluster"` configuration.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type ClusterClient,
  type ClusterDeployResult,
  type ClusterNodeOutcome,
  connectCluster,
} from '../cluster/client.js';
import { createStyle, formatDiagnostics, wantsColor } from '../shell/format.js';
import type { ClusterOptions } from '../types.js';
import { ConfigError, loadConfig } from './config.js';

export const CLUSTER_COMMANDS = ['deploy', 'rollback', 'nodes'] as const;

const USAGE = `Usage:
  hotcode deploy --cluster URL [--group G] [--timeout S] [--allow-missing]
                 [--change SERVER:MODULE …] [--no-typecheck] [MODULE…]
      compile and type-check here against the group's current release, upload,
      and switch every live node of the group to the new release, or none
      (no MODULE: every module whose source differs from the release's)
  hotcode rollback --cluster URL [--group G] [--timeout S] [--allow-missing]
      move the group back to the parent of its current release
  hotcode nodes --cluster URL [--group G]
      list the group's nodes, their release and their last heartbeat

Options:
  --cluster URL      the NATS server (nats://host:4222), JetStream enabled
  --group G          the group of nodes (default: the configuration's, else default)
  --timeout S        deadline of each phase in seconds (default 10)
  --allow-missing    go on without nodes that die or do not vote in time
  --change S:M       migrate server S with M's codeChange as nodes switch (S8.4)
  --no-typecheck     compile without the type gate
  --src DIR          source directory (repeatable; default: the configuration's, else src)
  --config FILE      read the configuration from this file
  --user U, --pass P, --token T
                     NATS credentials (or HOTCODE_NATS_USER / _PASS / _TOKEN)
`;

/** Is this command line one of ours (`deploy`, `rollback` or `nodes` with `--cluster`)? */
export function isClusterCommand(argv: readonly string[]): boolean {
  return (
    (CLUSTER_COMMANDS as readonly string[]).includes(argv[0] ?? '') &&
    argv.some((a) => a === '--cluster' || a.startsWith('--cluster='))
  );
}

function fail(message: string): never {
  process.stderr.write(`hotcode: ${message}\n`);
  process.exit(1);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** The line of one node. */
export function nodeLine(n: ClusterNodeOutcome, release: number, t0: number | undefined): string {
  const why = `${n.error ?? ''}${n.reason ? `${n.error ? ': ' : ''}${n.reason}` : ''}`;
  switch (n.result) {
    case 'switched':
      return `${n.name}: release ${release}${n.preparedMs !== undefined ? `, prepared in ${Math.round(n.preparedMs)} ms` : ''}${n.switchedAt !== undefined && t0 !== undefined ? `, switched at +${seconds(n.switchedAt - t0)}` : ''}`;
    case 'refused':
      return `${n.name}: refused — ${why}`;
    case 'dropped':
      return `${n.name}: voted yes, dropped what it prepared`;
    case 'missing':
      return `${n.name}: no vote — ${why}`;
    case 'failed':
      return `${n.name}: failed to switch — ${why}`;
    case 'unconfirmed':
      return `${n.name}: no acknowledgement — ${why}`;
    default:
      return `${n.name}: ${n.result}`;
  }
}

/** Prints a deploy's or rollback's result; the exit status. */
export function printResult(r: ClusterDeployResult, out: (line: string) => void): number {
  const err = createStyle(wantsColor(process.stderr));
  if ('ok' in r) {
    const times = r.nodes.flatMap((n) => (n.switchedAt !== undefined ? [n.switchedAt] : []));
    const t0 = times.length ? Math.min(...times) : undefined;
    for (const n of r.nodes) out(nodeLine(n, r.release, t0));
    for (const m of r.missing) out(`${m}: left behind (it catches up when it comes back)`);
    const switched = r.nodes.filter((n) => n.result === 'switched').length;
    out(
      `${r.kind === 'rollback' ? `rolled back to release ${r.release} (from ${r.from})` : `release ${r.release}`} on ${switched} node${switched === 1 ? '' : 's'}, switched within ${seconds(r.switchedWithinMs)}${r.modules.length ? ` (${r.modules.join(', ')})` : ''}`,
    );
    return r.nodes.every((n) => n.result === 'switched') ? 0 : 1;
  }
  switch (r.error) {
    case 'compile':
      process.stderr.write(`${formatDiagnostics(r.diagnostics, err)}\n`);
      process.stderr.write(`hotcode: ${r.message}\n`);
      return 1;
    case 'unchanged':
      out(r.message);
      return 0;
    case 'aborted':
    case 'failed': {
      for (const n of r.nodes) out(nodeLine(n, r.release, undefined));
      process.stderr.write(`hotcode: ${r.message}\n`);
      return 1;
    }
    default:
      process.stderr.write(`hotcode: ${r.message}\n`);
      return 1;
  }
}

/** `hotcode deploy|rollback|nodes --cluster URL …`. */
export async function clusterMain(argv: string[]): Promise<never> {
  const command = argv[0] as (typeof CLUSTER_COMMANDS)[number];
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv.slice(1),
      options: {
        cluster: { type: 'string' },
        group: { type: 'string' },
        timeout: { type: 'string' },
        'allow-missing': { type: 'boolean' },
        change: { type: 'string', multiple: true },
        'no-typecheck': { type: 'boolean' },
        typecheck: { type: 'boolean' },
        src: { type: 'string', multiple: true },
        config: { type: 'string' },
        user: { type: 'string' },
        pass: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    fail(`${(e as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  let cfg: ReturnType<typeof loadConfig>;
  try {
    cfg = loadConfig(process.cwd(), values.config as string | undefined);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
  const url = values.cluster as string | undefined;
  if (!url) fail(`${command} --cluster needs the NATS URL (nats://host:4222)`);
  const env = process.env;
  const pick = (k: 'user' | 'pass' | 'token', envName: string) =>
    (values[k] as string | undefined) ?? env[envName] ?? cfg.cluster?.[k];
  const options: ClusterOptions = {
    servers: url,
    group: (values.group as string | undefined) ?? cfg.cluster?.group ?? 'default',
  };
  for (const [k, e] of [
    ['user', 'HOTCODE_NATS_USER'],
    ['pass', 'HOTCODE_NATS_PASS'],
    ['token', 'HOTCODE_NATS_TOKEN'],
  ] as const) {
    const v = pick(k, e);
    if (v !== undefined) options[k] = v;
  }
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    const s = Number(values.timeout);
    if (!Number.isFinite(s) || s < 0.1 || s > 3600)
      fail(`--timeout takes seconds, 0.1 to 3600 (got '${String(values.timeout)}')`);
    timeoutMs = Math.round(s * 1000);
  }
  if (command !== 'deploy') {
    for (const k of ['change', 'src', 'no-typecheck', 'typecheck'])
      if (values[k] !== undefined) fail(`${command} takes no --${k}`);
    if (positionals.length) fail(`${command} takes no modules (got ${positionals.join(' ')})`);
  }
  if (command === 'nodes' && (timeoutMs !== undefined || values['allow-missing']))
    fail('nodes takes no --timeout or --allow-missing');
  const change = ((values.change as string[] | undefined) ?? []).map((c) => {
    const m = /^([^:]+):([^:]+)$/.exec(c);
    if (!m) fail(`--change takes SERVER:MODULE (got '${c}')`);
    return { server: m[1]!, module: m[2]! };
  });

  let client: ClusterClient;
  try {
    client = await connectCluster(options);
  } catch (e) {
    fail((e as Error).message);
  }
  let status = 1;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    if (command === 'nodes') status = await nodesCommand(client, options, out);
    else {
      const common = {
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(values['allow-missing'] ? { allowMissing: true } : {}),
      };
      const r =
        command === 'rollback'
          ? await client.rollback(common)
          : await client.deploy(positionals, {
              ...common,
              root: cfg.root,
              src: (values.src as string[] | undefined)?.map((d) => resolve(d)) ??
                cfg.src ?? [resolve(cfg.root, 'src')],
              typecheck: values['no-typecheck'] ? false : (cfg.typecheck ?? true),
              ...(change.length ? { change } : {}),
            });
      status = printResult(r, out);
    }
  } catch (e) {
    process.stderr.write(`hotcode: ${(e as Error).message}\n`);
    status = 1;
  } finally {
    // The answer is printed: a connection that does not close promptly must not hold the exit.
    await Promise.race([client.close(), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
  process.exit(status);
}

async function nodesCommand(
  client: ClusterClient,
  options: ClusterOptions,
  out: (line: string) => void,
): Promise<number> {
  const [nodes, current] = await Promise.all([client.nodes(), client.current()]);
  out(
    `group ${options.group}: ${current ? `release ${current.release}${current.parent !== null ? ` (parent ${current.parent})` : ''} by ${current.by}` : 'no release yet'}`,
  );
  if (nodes.length === 0) {
    out('no nodes');
    return 0;
  }
  const width = Math.max(...nodes.map((n) => n.name.length));
  for (const n of nodes) {
    const rel = n.release === null ? 'no release' : `release ${n.release}`;
    const behind = current && n.live && n.release !== current.release ? ' (not current)' : '';
    const failed = n.failed ? `, failed release ${n.failed.release}: ${n.failed.error}` : '';
    out(
      `${n.name.padEnd(width)}  ${rel}${behind}  ${n.live ? 'live' : 'down'}, heartbeat ${seconds(n.heartbeatAgeMs)} ago, pid ${n.pid} on ${n.host}${failed}`,
    );
  }
  return 0;
}
