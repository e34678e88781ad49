/**
 * The commands a named node answers (S9.4, S9.5), one function each in
 * {@link COMMANDS}: it gets the request's arguments (a JSON object) and the
 * connection, and returns the reply's value (made JSON-safe here: pids
 * printed, Maps and Sets as arrays) or throws an error whose `code` the
 * client sees. protocol.ts lists every command with its argument and result
 * shapes; to add one, add it to both.
 *
 * Every command runs through the public API and the change queue, as the
 * same call in the node's own shell would; a deploy loads object files
 * that were compiled and type-checked on the deploying side.
 */
import {
  applyDeploy,
  applyUpgradeDeploy,
  changeHistory,
  type DeployResult,
  describeSystem,
  type UpgradeDeployResult,
} from '../changes.js';
import { BadArgError, HotcodeError, UndefError } from '../errors.js';
import { code, mod, processes, run, stop, whereis } from '../index.js';
import { currentNode } from '../node.js';
import { OBSERVER_COMMANDS } from '../observe/commands.js';
import type { EvalResult, ShellSession } from '../shell/session.js';
import { describe, isModuleName } from '../vocabulary.js';
import type { Channel } from './channel.js';
import type {
  ModuleStatus,
  NodeInfo,
  NodeStatus,
  WireDeployResult,
  WireError,
} from './protocol.js';

/** A connection as a command sees it. */
export interface CommandContext {
  channel: Channel;
  /** Who is connected, for the log (`unix#3 (alice@host pid 42)`). */
  peer: string;
  info: NodeInfo;
  log(line: string): void;
  /** Run when the connection ends. */
  cleanups: (() => void)[];
  /** This connection's remote shell sessions. */
  sessions?: Map<number, ShellSession>;
}

type Args = Record<string, unknown>;
type Command = (args: Args, ctx: CommandContext) => unknown;

// ---- dispatch ----------------------------------------------------------------------------

/** Answers one request frame; never throws (a bad frame closes its connection). */
export async function dispatch(ctx: CommandContext, frame: Record<string, unknown>): Promise<void> {
  const { id, cmd } = frame;
  const args = frame.args ?? {};
  if (
    typeof id !== 'number' ||
    typeof cmd !== 'string' ||
    args === null ||
    typeof args !== 'object' ||
    Array.isArray(args)
  ) {
    ctx.log(`${ctx.peer} closed: a frame that is not a request`);
    ctx.channel.close('a frame that is not a request', true);
    return;
  }
  ctx.log(`${ctx.peer} ${cmd}${summary(cmd, args as Args)}`);
  const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (command === undefined) {
    reply(ctx, id, {
      code: 'unknown_command',
      message: `the node has no command ${cmd} (it has ${Object.keys(COMMANDS).join(', ')}); is the client newer than the node?`,
    });
    return;
  }
  let value: unknown;
  try {
    value = jsonSafe(await command(args as Args, ctx));
  } catch (e) {
    reply(ctx, id, wireError(e));
    return;
  }
  if (!ctx.channel.send(value === undefined ? { id, ok: true } : { id, ok: true, value }))
    reply(ctx, id, { code: 'not_json', message: `the result of ${cmd} is too large to send` });
}

function reply(ctx: CommandContext, id: number, error: WireError): void {
  ctx.channel.send({ id, ok: false, error });
}

/** What the log says about a command's arguments (never their values: they may be private). */
function summary(cmd: string, args: Args): string {
  if (cmd === 'rpc') {
    const n = Array.isArray(args.args) ? args.args.length : 0;
    return ` ${String(args.module).slice(0, 100)}.${String(args.fn).slice(0, 100)}/${n}`;
  }
  if (cmd === 'deploy.apply' && Array.isArray(args.objects))
    return ` ${args.objects.map((o) => String((o as { module?: unknown })?.module).slice(0, 100)).join(',')}${args.check ? ' (check)' : ''}${args.upgrade ? ' (upgrade)' : ''}`;
  if ((cmd === 'eval' || cmd === 'shell.eval') && typeof (args.expr ?? args.code) === 'string')
    return ` (${String(args.expr ?? args.code).length} characters)`;
  return '';
}

/** The error a client sees: the error's own code, or `exit` and the reason. */
export function wireError(e: unknown): WireError {
  const c = (e as { code?: unknown } | null)?.code;
  if (typeof c === 'string' && c !== '') {
    const m = (e as { message?: unknown }).message;
    return { code: c, message: typeof m === 'string' ? m : describe(e) };
  }
  const reason = describe(e);
  return { code: 'exit', message: `the process exited: ${reason}`, reason };
}

/** A value as JSON can carry it: pids and dates by their toJSON, Maps and Sets as arrays. */
export function jsonSafe(value: unknown): unknown {
  const seen = new Set<object>();
  const walk = (x: unknown): unknown => {
    if (x === null || typeof x === 'string' || typeof x === 'boolean') return x;
    if (typeof x === 'number') return Number.isFinite(x) ? x : null;
    if (typeof x === 'bigint') return x.toString();
    if (typeof x !== 'object') return undefined; // functions, symbols, undefined
    if (seen.has(x))
      throw new HotcodeError('not_json', 'the result refers to itself: it cannot be sent as JSON');
    seen.add(x);
    try {
      if (typeof (x as { toJSON?: unknown }).toJSON === 'function')
        return walk((x as { toJSON(): unknown }).toJSON());
      if (x instanceof Map) return [...x].map(([k, v]) => [walk(k) ?? null, walk(v) ?? null]);
      if (x instanceof Set) return [...x].map((v) => walk(v) ?? null);
      if (Array.isArray(x)) return x.map((v) => walk(v) ?? null);
      if (x instanceof Error) return { name: x.name, message: x.message, ...ownCode(x) };
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(x)) {
        const v = walk((x as Record<string, unknown>)[k]);
        if (v !== undefined) out[k] = v;
      }
      return out;
    } finally {
      seen.delete(x);
    }
  };
  return walk(value);
}

function ownCode(e: Error): { code?: string } {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'string' ? { code: c } : {};
}

function str(args: Args, key: string, what: string): string {
  const v = args[key];
  if (typeof v !== 'string') throw new BadArgError(`${what}: ${key} must be a string`);
  return v;
}

// ---- the commands ------------------------------------------------------------------------

export const COMMANDS: Record<string, Command> = {
  ping: () => ({ pong: true }),

  async rpc(args) {
    const module = str(args, 'module', 'rpc');
    const fn = str(args, 'fn', 'rpc');
    const list = args.args ?? [];
    if (!Array.isArray(list)) throw new BadArgError('rpc: args must be an array');
    if (!isModuleName(module)) throw new BadArgError(`rpc: '${module}' is not a module name`);
    const loaded = code.ensureLoaded(module);
    if ('error' in loaded)
      throw new UndefError(
        module,
        fn,
        `${module}.${fn}/${list.length}: there is no module ${module} on the node (${loaded.error})`,
      );
    const handle = mod(module) as Record<string, unknown>;
    if (!Object.hasOwn(handle, fn) || typeof handle[fn] !== 'function')
      throw new UndefError(
        module,
        fn,
        `${module}.${fn}/${list.length} is not a function exported by ${module}`,
      );
    // A qualified call, as a process of its own (S9.4). What it throws goes back to the
    // caller (as Erlang's rpc:call): the process ends normally, with no crash report here.
    const r = await run(async () => {
      try {
        return { value: await (handle[fn] as (...a: unknown[]) => unknown)(...list) };
      } catch (error) {
        return { error };
      }
    });
    if ('error' in r) throw r.error;
    return r.value;
  },

  async eval(args) {
    const expr = str(args, 'expr', 'eval');
    const output: string[] = [];
    const session = await newSession((text) => output.push(text));
    try {
      const r = await session.evaluate(expr);
      if (r.type === 'incomplete')
        return {
          ok: false,
          text: 'the expression is incomplete (an open bracket or string?)',
          output,
        };
      return { ok: r.type === 'value', text: r.text, output };
    } finally {
      session.close();
    }
  },

  status: (_args, ctx): NodeStatus => {
    const users = new Map<string, { current?: number; old?: number; oldUsers: number }>();
    for (const v of describeSystem()) {
      const u = users.get(v.module) ?? { oldUsers: 0 };
      if (v.version === 'current') u.current = v.number;
      else {
        u.old = v.number;
        u.oldUsers = v.users.length;
      }
      users.set(v.module, u);
    }
    const modules: ModuleStatus[] = code
      .allLoaded()
      .map(([m]) => m)
      .sort()
      .map((m) => {
        const vs = code.versions(m);
        const u = users.get(m);
        const s: ModuleStatus = { module: m, sticky: code.isSticky(m) };
        if (vs.current)
          s.current = {
            ...(u?.current !== undefined ? { number: u.current } : {}),
            vsn: vs.current.vsn,
            loadedAt: vs.current.loadedAt,
          };
        if (vs.old)
          s.old = {
            ...(u?.old !== undefined ? { number: u.old } : {}),
            vsn: vs.old.vsn,
            users: u?.oldUsers ?? 0,
          };
        return s;
      });
    const mem = process.memoryUsage();
    return {
      name: ctx.info.name,
      pid: process.pid,
      uptimeMs: Math.round(process.uptime() * 1000),
      memory: {
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        heapTotal: mem.heapTotal,
        external: mem.external,
      },
      processes: processes().length,
      modules,
    };
  },

  stop: (_args, ctx) => {
    ctx.log(`${ctx.peer} stops the node`);
    // After the answer has gone out: every process, then the OS process (as init:stop()).
    setImmediate(() => {
      void stop()
        .catch(() => {})
        .finally(() => process.exit(0));
    });
    return { stopping: true };
  },

  'deploy.describe': (args) => {
    const servers: Record<string, string | null> = {};
    const names = args.servers ?? [];
    if (!Array.isArray(names)) throw new BadArgError('deploy.describe: servers must be a list');
    for (const s of names) {
      if (typeof s !== 'string') throw new BadArgError('deploy.describe: a server is a name');
      const pid = whereis(s);
      servers[s] = pid === undefined ? null : String(pid);
    }
    return { system: describeSystem(), servers };
  },

  async 'deploy.apply'(args): Promise<WireDeployResult> {
    const objects = args.objects;
    if (
      !Array.isArray(objects) ||
      !objects.every(
        (o) =>
          o !== null &&
          typeof o === 'object' &&
          typeof (o as Args).module === 'string' &&
          typeof (o as Args).text === 'string',
      )
    )
      throw new BadArgError('deploy.apply: objects must be a list of { module, text }');
    const expect = args.expect ?? {};
    if (expect === null || typeof expect !== 'object' || Array.isArray(expect))
      throw new BadArgError('deploy.apply: expect must be { module: md5 | null }');
    const kill = args.kill ?? [];
    if (!Array.isArray(kill) || !kill.every((p) => typeof p === 'string'))
      throw new BadArgError('deploy.apply: kill must be a list of printed pids');
    const check = args.check === true;
    const base = {
      objects: objects as { module: string; text: string }[],
      expect: expect as Record<string, string | null>,
      check,
    };
    const upgrade = args.upgrade as { change?: unknown } | undefined;
    if (upgrade !== undefined) {
      const change = upgrade?.change ?? [];
      if (
        !Array.isArray(change) ||
        !change.every(
          (c) =>
            c !== null &&
            typeof c === 'object' &&
            typeof (c as Args).server === 'string' &&
            typeof (c as Args).module === 'string',
        )
      )
        throw new BadArgError('deploy.apply: upgrade.change must be a list of { server, module }');
      return wireDeploy(
        await applyUpgradeDeploy({
          ...base,
          change: change as { server: string; module: string }[],
        }),
        check,
      );
    }
    return wireDeploy(await applyDeploy({ ...base, kill: kill as string[] }), check);
  },

  history: () => changeHistory(),

  // The observer's (S10): its code is loaded on the first of them.
  ...OBSERVER_COMMANDS,

  // ---- the remote shell (S9.4) ------------------------------------------------------------

  async 'shell.open'(args, ctx) {
    const columns = typeof args.columns === 'number' ? args.columns : 80;
    if (ctx.sessions === undefined) {
      const sessions = new Map<number, ShellSession>();
      ctx.sessions = sessions;
      ctx.cleanups.push(() => {
        for (const s of sessions.values()) closeSession(s);
        sessions.clear();
      });
    }
    const id = nextSession++;
    const session = await newSession(
      (text) => ctx.channel.send({ event: 'shell.output', session: id, text }),
      { color: args.color === true, columns: () => columns },
    );
    ctx.sessions.set(id, session);
    openSessions.add(session);
    sigintGuard();
    return { session: id };
  },

  async 'shell.eval'(args, ctx): Promise<EvalResult> {
    const id = args.session;
    const session = sessionOf(ctx, id);
    const line = str(args, 'code', 'shell.eval');
    // The line's synchronous part runs within evaluate(): only a signal can interrupt it,
    // so the client is told when it starts and ends.
    ctx.channel.send({ event: 'shell.sync', session: id, running: true });
    linesRunning++;
    let answer: Promise<EvalResult>;
    try {
      answer = session.evaluate(line);
    } finally {
      ctx.channel.send({ event: 'shell.sync', session: id, running: false });
    }
    try {
      return await answer;
    } finally {
      linesRunning--;
      lastLineEnd = Date.now();
    }
  },

  'shell.complete': (args, ctx) =>
    sessionOf(ctx, args.session).complete(str(args, 'line', 'shell.complete'), { load: true }),

  'shell.interrupt': (args, ctx) => sessionOf(ctx, args.session).interrupt(),

  'shell.close': (args, ctx) => {
    const s = sessionOf(ctx, args.session);
    ctx.sessions?.delete(args.session as number);
    closeSession(s);
    return true;
  },
};

// ---- shell sessions ----------------------------------------------------------------------

let nextSession = 1;
const openSessions = new Set<ShellSession>();
let linesRunning = 0;
let lastLineEnd = 0;

async function newSession(
  output: (text: string) => void,
  opts: { color?: boolean; columns?: () => number } = {},
): Promise<ShellSession> {
  const n = currentNode('shell');
  // Loaded on first use: a node that only serves rpc and deploys never loads the shell.
  const { createShellSession } = await import('../shell/session.js');
  return createShellSession({
    src: n.options.src,
    output,
    typecheck: n.options.typecheck,
    ...opts,
  });
}

function sessionOf(ctx: CommandContext, id: unknown): ShellSession {
  const s = typeof id === 'number' ? ctx.sessions?.get(id) : undefined;
  if (s === undefined) throw new BadArgError(`no shell session ${String(id)} on this connection`);
  return s;
}

function closeSession(s: ShellSession): void {
  openSessions.delete(s);
  s.close();
  sigintGuard();
}

/**
 * Ctrl-C in a remote shell whose line is stuck in its synchronous part (an
 * endless loop) can only reach the node as a SIGINT, which the client sends
 * when it knows that part is running (`shell.sync`). While remote shells are
 * open, the node listens for SIGINT so that such a signal interrupts the line
 * (the script runs with breakOnSigint) — and one that arrives just after the
 * line ended is absorbed rather than ending the node. Any other SIGINT does
 * what it did before: if nothing else listens for it, it ends the process.
 */
let guarding = false;
let unguardTimer: NodeJS.Timeout | undefined;
function onSigint(): void {
  if (linesRunning > 0 || Date.now() - lastLineEnd < 2000) {
    for (const s of openSessions) s.interrupt();
    return;
  }
  if (process.listenerCount('SIGINT') === 1) {
    process.off('SIGINT', onSigint);
    guarding = false;
    process.kill(process.pid, 'SIGINT');
  }
}
function sigintGuard(): void {
  if (openSessions.size > 0) {
    clearTimeout(unguardTimer);
    unguardTimer = undefined;
    if (!guarding) {
      process.on('SIGINT', onSigint);
      guarding = true;
    }
  } else if (guarding && unguardTimer === undefined) {
    unguardTimer = setTimeout(() => {
      unguardTimer = undefined;
      if (openSessions.size === 0 && guarding) {
        process.off('SIGINT', onSigint);
        guarding = false;
      }
    }, 2000);
    unguardTimer.unref();
  }
}

// ---- deploy results on the wire ----------------------------------------------------------

function wireDeploy(r: DeployResult | UpgradeDeployResult, check: boolean): WireDeployResult {
  if (!('error' in r)) {
    const out: WireDeployResult = {
      modules: r.modules,
      killed: r.killed.map(String),
      versions: r.modules.map((m) => {
        const to = check ? undefined : versionNumber(m);
        return to === undefined ? { module: m } : { module: m, to };
      }),
    };
    const u = r as { pausedMs?: number; oldInUse?: string[] };
    if (u.pausedMs !== undefined) out.pausedMs = u.pausedMs;
    if (u.oldInUse !== undefined) out.oldInUse = u.oldInUse;
    return out;
  }
  if (r.error === 'conflict') return r as WireDeployResult;
  if (r.error === 'stopped') return { error: 'stopped' };
  if (r.error === 'write')
    return { error: 'write', reason: describe((r as { reason: unknown }).reason) };
  if (Array.isArray(r.error))
    return { error: r.error.map((e) => ({ module: e.module, error: e.error })) };
  const f = r as { error: string; module?: string; server?: unknown; reason?: unknown };
  return {
    error: f.error,
    ...(f.module !== undefined ? { module: f.module } : {}),
    ...(f.server !== undefined ? { server: String(f.server) } : {}),
    ...(f.reason !== undefined ? { reason: describe(f.reason) } : {}),
    rolledBack: true,
  };
}

function versionNumber(m: string): number | undefined {
  return describeSystem().find((v) => v.module === m && v.version === 'current')?.number;
}
