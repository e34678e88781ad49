/**
 * The remote-control commands of `hotcode` (S9.4), each a control client
 * (control/client.ts) of a named node:
 *
 *   hotcode remote NAME                    a shell evaluated in the node (remote-shell.ts)
 *   hotcode rpc NAME MODULE FUNCTION [ARGS…]
 *   hotcode eval NAME 'EXPR'
 *   hotcode deploy NAME [MODULE…] [--check] [--no-typecheck] [--upgrade --change SERVER:MODULE]
 *   hotcode status NAME
 *   hotcode stop NAME
 *
 * `--socket PATH` or `--host HOST --port N` take the place of NAME;
 * `--secret-file F` names the secret. Exit status 0, or 1 with the error on
 * standard error (`hotcode: nodedown: …`).
 */

import type { NodeStatus } from '../control/protocol.js';
import { type ConnectTarget, connect, type DeployResult, type RemoteNode } from '../index.js';
import { createStyle, formatDiagnostics, table, wantsColor } from '../shell/format.js';
import { remoteShell } from './remote-shell.js';

export const REMOTE_COMMANDS = new Set(['remote', 'rpc', 'eval', 'deploy', 'status', 'stop']);

export class RemoteUsageError extends Error {}

export interface RemoteSettings {
  src: string[];
  root: string;
  typecheck: boolean;
  oldCode: 'kill' | undefined;
}

const USAGE: Record<string, string> = {
  remote: 'hotcode remote NAME',
  rpc: 'hotcode rpc NAME MODULE FUNCTION [ARGS…]',
  eval: "hotcode eval NAME 'EXPRESSION'",
  deploy: 'hotcode deploy NAME [MODULE…]',
  status: 'hotcode status NAME',
  stop: 'hotcode stop NAME',
};

/** How many positionals name the node before a command's own arguments (0 with --socket/--host). */
export function targetPositionals(args: readonly string[]): number {
  return args.some((a) => a === '--socket' || a === '--host' || a === '--port') ? 0 : 1;
}

/** The node a command line names. */
function targetOf(
  command: string,
  positionals: string[],
  values: Record<string, unknown>,
): { target: ConnectTarget; shown: string } {
  const socket = values.socket as string | undefined;
  const host = values.host as string | undefined;
  const port = values.port as string | undefined;
  if (socket !== undefined) {
    if (host !== undefined || port !== undefined)
      throw new RemoteUsageError('--socket and --host/--port name two nodes: give one');
    return { target: { socket }, shown: socket };
  }
  if (host !== undefined || port !== undefined) {
    const p = Number(port);
    if (host === undefined || port === undefined || !Number.isInteger(p) || p <= 0 || p > 65535)
      throw new RemoteUsageError('--host HOST --port N go together (N a port number)');
    return { target: { host, port: p }, shown: `${host}:${p}` };
  }
  const name = positionals.shift();
  if (name === undefined)
    throw new RemoteUsageError(
      `${command} needs a node: ${USAGE[command]} (or --socket PATH, or --host HOST --port N, in place of NAME)`,
    );
  return { target: name, shown: name };
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = createStyle(wantsColor(process.stderr));

/** Fails with the error's code and message; never shows a stack (these are expected outcomes). */
function fail(e: unknown): never {
  const code = (e as { code?: unknown })?.code;
  const message = (e as { message?: unknown })?.message ?? String(e);
  const reason = (e as { reason?: unknown })?.reason;
  process.stderr.write(
    `hotcode: ${typeof code === 'string' ? `${code}: ` : ''}${message}${typeof reason === 'string' && !String(message).includes(reason) ? ` (${reason})` : ''}\n`,
  );
  process.exit(1);
}

/** Runs a remote command; exits the process. */
export async function remoteCommand(
  command: string,
  positionals: string[],
  rest: string[],
  values: Record<string, unknown>,
  settings: RemoteSettings,
): Promise<never> {
  const { target, shown } = targetOf(command, positionals, values);
  const secretFile = values['secret-file'] as string | undefined;
  checkArguments(command, positionals, values);
  const args = command === 'rpc' ? parseRpcArgs(rest) : [];
  let node: RemoteNode;
  try {
    node = await connect(target, secretFile !== undefined ? { secretFile } : {});
  } catch (e) {
    fail(e);
  }
  try {
    switch (command) {
      case 'remote': {
        const local = typeof target === 'string' || 'socket' in target;
        const status = await remoteShell(node, { shown, local });
        await node.close();
        process.exit(status);
        break;
      }
      case 'rpc':
        out(JSON.stringify((await node.rpc(positionals[0]!, positionals[1]!, args)) ?? null));
        break;
      case 'eval': {
        const text = await node.eval(positionals[0]!);
        if (text !== '') out(text);
        break;
      }
      case 'status':
        out(formatStatus(await node.status(), createStyle(wantsColor(process.stdout))));
        break;
      case 'stop':
        await node.stop();
        out(`node ${node.info.name} (pid ${node.info.pid}) stopped`);
        break;
      case 'deploy':
        await deployCommand(node, positionals, values, settings, shown);
        break;
    }
  } catch (e) {
    await node.close().catch(() => {});
    fail(e);
  }
  await node.close();
  process.exit(0);
}

function checkArguments(command: string, positionals: string[], values: Record<string, unknown>) {
  const extra = (n: number) => {
    if (positionals.length > n)
      throw new RemoteUsageError(
        `${command} takes ${n === 0 ? 'no arguments' : `${n} argument${n > 1 ? 's' : ''}`} after the node (got ${positionals.join(' ')}): ${USAGE[command]}`,
      );
  };
  if (command === 'rpc' && positionals.length < 2)
    throw new RemoteUsageError(`rpc needs a module and a function: ${USAGE.rpc}`);
  if (command === 'eval') {
    if (positionals.length === 0)
      throw new RemoteUsageError(`eval needs an expression: ${USAGE.eval}`);
    extra(1);
  }
  if (command === 'status' || command === 'stop' || command === 'remote') extra(0);
  if (command !== 'deploy')
    for (const flag of ['check', 'upgrade', 'change'])
      if (values[flag] !== undefined)
        throw new RemoteUsageError(`--${flag} is an option of hotcode deploy`);
  if (command === 'deploy' && values.change !== undefined && values.upgrade !== true)
    throw new RemoteUsageError('--change SERVER:MODULE goes with --upgrade');
}

/**
 * `rpc`'s arguments: each word is JSON if it parses (`5`, `true`, `'"x"'`,
 * `'{"a":1}'`), else a string; a word that starts like JSON (`{`, `[`, `"`)
 * but does not parse is refused, since it was most likely meant as JSON.
 */
export function parseRpcArgs(words: readonly string[]): unknown[] {
  return words.map((w, i) => {
    try {
      return JSON.parse(w) as unknown;
    } catch (e) {
      if (/^\s*[{["]/.test(w))
        throw new RemoteUsageError(
          `argument ${i + 1} (${w}) is not valid JSON: ${(e as Error).message}; a word that is not JSON is passed as a string, so quote it to mean one: '"${w.replace(/"/g, '\\"')}"'`,
        );
      return w;
    }
  });
}

// ---- deploy ------------------------------------------------------------------------------

function changeSpecs(values: Record<string, unknown>): { server: string; module: string }[] {
  const raw = (values.change as string[] | undefined) ?? [];
  return raw
    .flatMap((c) => c.split(','))
    .filter((c) => c !== '')
    .map((c) => {
      const m = /^([^:]+):([A-Za-z_$][\w$]*)$/.exec(c);
      if (!m)
        throw new RemoteUsageError(
          `--change takes SERVER:MODULE (a registered server and the module whose codeChange migrates it), got '${c}'`,
        );
      return { server: m[1]!, module: m[2]! };
    });
}

async function deployCommand(
  node: RemoteNode,
  modules: string[],
  values: Record<string, unknown>,
  s: RemoteSettings,
  shown: string,
): Promise<void> {
  const upgrade = values.upgrade === true ? { change: changeSpecs(values) } : undefined;
  const r = await node.deploy(modules, {
    src: s.src,
    typecheck: s.typecheck,
    ...(values.check === true ? { check: true } : {}),
    ...(upgrade ? { upgrade } : {}),
    ...(s.oldCode ? { oldCode: s.oldCode } : {}),
  });
  printDeploy(r, values.check === true, shown);
}

function printDeploy(r: DeployResult, check: boolean, shown: string): void {
  const warnings = (r as { warnings?: Parameters<typeof formatDiagnostics>[0] }).warnings;
  if (warnings?.length) process.stderr.write(`${formatDiagnostics(warnings, err)}\n`);
  if (!('error' in r)) {
    const versions =
      (r as { versions?: { module: string; from?: number; to?: number }[] }).versions ?? [];
    if (r.modules.length === 0) {
      out(`nothing to deploy: node ${shown} runs every module as its source here is`);
      return;
    }
    for (const v of versions) {
      const from = v.from === undefined ? 'new' : String(v.from);
      out(
        check
          ? `${v.module}: ${from} -> checked (--check: nothing loaded)`
          : `${v.module}: ${from} -> ${v.to ?? '?'}`,
      );
    }
    const paused = (r as { pausedMs?: number }).pausedMs;
    if (paused !== undefined) out(`upgrade: servers paused ${Math.round(paused * 10) / 10} ms`);
    const oldInUse = (r as { oldInUse?: string[] }).oldInUse;
    if (oldInUse?.length) out(`old versions still in use: ${oldInUse.join(', ')}`);
    if (r.killed.length) out(`killed ${r.killed.length} (${r.killed.join(', ')})`);
    return;
  }
  const e = r as { error: unknown; diagnostics?: unknown; message?: unknown; module?: unknown };
  const nothing = `nothing changed on node ${shown}`;
  if (e.error === 'compile') {
    const ds = (e.diagnostics ?? []) as Parameters<typeof formatDiagnostics>[0];
    process.stderr.write(`${formatDiagnostics(ds, err)}\n`);
    const oldUsers = (e as { oldUsers?: { module: string; pids: string[] }[] }).oldUsers;
    const hint = oldUsers?.length
      ? `; old versions in use would break: ${oldUsers.map((u) => `${u.module} (${u.pids.join(', ')})`).join(', ')} — --old-code kill loads anyway, killing those processes`
      : '';
    fail({
      message: `deploy refused: ${ds.filter((d) => d.category === 'error').length} error(s); ${nothing}${hint}`,
    });
  }
  if (e.error === 'nofile')
    fail({ code: 'nofile', message: `${String(e.message ?? e.module)}; ${nothing}` });
  if (e.error === 'conflict')
    fail({
      code: 'conflict',
      message: `the node's loaded versions of ${(e as { modules?: string[] }).modules?.join(', ')} changed since this deploy was checked; ${nothing} — run the deploy again`,
    });
  if (Array.isArray(e.error))
    fail({
      code: 'load',
      message: `${(e.error as { module: string; error: string }[]).map((x) => `${x.module}: ${x.error}`).join(', ')}; ${nothing}`,
    });
  const f = e as {
    error: string;
    module?: string;
    server?: string;
    reason?: string;
    rolledBack?: boolean;
  };
  if (f.rolledBack)
    fail({
      code: f.error,
      message: `the upgrade failed${f.server ? ` (server ${f.server}` : ''}${f.module ? `${f.server ? ', ' : ' ('}module ${f.module}` : ''}${f.server || f.module ? ')' : ''}${f.reason ? `: ${f.reason}` : ''}; rolled back, ${nothing}`,
    });
  fail({ code: f.error, message: `${f.reason ?? 'the deploy failed'}; ${nothing}` });
}

// ---- status ------------------------------------------------------------------------------

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function formatStatus(st: NodeStatus, style = createStyle(false)): string {
  const head = `node ${st.name} (pid ${st.pid}), up ${duration(st.uptimeMs)}, rss ${mb(st.memory.rss)}, heap ${mb(st.memory.heapUsed)} of ${mb(st.memory.heapTotal)}, ${st.processes} process${st.processes === 1 ? '' : 'es'}`;
  const user = st.modules.filter((m) => !m.sticky);
  const runtime = st.modules.filter((m) => m.sticky).map((m) => m.module);
  const v = (x: { number?: number; vsn: string } | undefined) =>
    x === undefined
      ? '-'
      : `${x.number ?? '?'} (${x.vsn.length > 12 ? `${x.vsn.slice(0, 8)}…` : x.vsn})`;
  const rows = user.map((m) => [
    m.module,
    v(m.current),
    v(m.old),
    m.old ? `${m.old.users} process${m.old.users === 1 ? '' : 'es'}` : '',
  ]);
  const lines = [head];
  if (rows.length)
    lines.push(
      table(
        [{ title: 'module' }, { title: 'current' }, { title: 'old' }, { title: 'in old code' }],
        rows,
        style,
        process.stdout.columns || 100,
      ),
    );
  else lines.push('no modules of its own loaded');
  if (runtime.length) lines.push(style.dim(`runtime modules: ${runtime.join(', ')}`));
  return lines.join('\n');
}
