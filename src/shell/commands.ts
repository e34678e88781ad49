/**
 * The shell commands of S7.2 and S7.6, after Erlang's shell (`c:c/1`,
 * `c:l/1`, `c:m/0`, `c:i/0`, `c:flush/0`, `c:mm/0`, `c:lm/0`, `c:regs/0`,
 * `c:help/0`, `c:q/0`) and IEx's `recompile`. Commands that show something
 * print it and return `undefined` (Erlang's `ok`); `c`, `l`, `lm`, `mm` and
 * `recompile` return their result. What a person needs to read under a
 * result (`killed 1: <0.85.0>`, "did you mean counter?") is attached to the
 * result as a footnote, which the session prints under the value.
 */

import { basename } from 'node:path';
import { inspect, types } from 'node:util';
import { withOrigin } from '../changes.js';
import {
  checkProcessCode,
  code,
  c as compileAndLoad,
  type Diagnostic,
  isProcessAlive,
  l as load,
  lm as loadModified,
  type ModuleArg,
  mod,
  mm as modifiedModules,
  Pid,
  processes,
  processInfo,
  registered,
  whereis,
} from '../index.js';
import { services } from '../node.js';
import { moduleOfSourceFile } from '../vocabulary.js';
import { versionLabel } from '../watch/index.js';
import { displayPath, formatDiagnostics, formatError, type Style, table } from './format.js';
import { changedSources, closestModules, loadedModules, sourceFileOf } from './modules.js';

export interface CommandContext {
  /** Writes a line (or lines) to the shell's output. */
  print(text: string): void;
  style: Style;
  /** Terminal width (80 when unknown). */
  columns(): number;
  /** The shell's current process (for flush). */
  shellPid(): Pid;
  /** Source directories (absolute), for `recompile()` and messages. */
  src: readonly string[];
  /** The node's type gate is on. */
  typecheck: boolean;
  /** After how long a typed change that has not answered says `type-checking…`. */
  slowChangeMs: number;
  /** `q()`: the front end leaves the shell after this line. */
  quit(): void;
}

export interface ShellCommand {
  name: string;
  usage: string;
  help: string;
}

/** The commands, in the order help() lists them. */
export const COMMANDS: ShellCommand[] = [
  {
    name: 'c',
    usage: 'c(M) | c([M1, M2])',
    help: "compile, purge and load module(s), type-checked (M: counter, 'counter', 'src/counter.ts')",
  },
  {
    name: 'recompile',
    usage: 'recompile()',
    help: 'compile and load, as one change, every loaded module whose source changed',
  },
  { name: 'l', usage: 'l(M)', help: 'purge and load M from the code path' },
  { name: 'm', usage: 'm() | m(M)', help: 'loaded modules | exports and versions of M' },
  { name: 'i', usage: 'i()', help: 'processes: pid, initial call, name, mailbox, status, code' },
  { name: 'flush', usage: 'flush()', help: "print and empty the shell's mailbox" },
  { name: 'mm', usage: 'mm()', help: 'modified modules (object file differs from loaded)' },
  { name: 'lm', usage: 'lm()', help: 'load all modified modules' },
  { name: 'regs', usage: 'regs()', help: 'registered processes' },
  { name: 'pid', usage: 'pid(N) | pid(0, N, 0)', help: 'the pid <0.N.0>' },
  { name: 'help', usage: 'help() | h()', help: 'this list' },
  { name: 'h', usage: 'h()', help: 'this list' },
  { name: 'q', usage: 'q()', help: 'leave the shell (the node stops)' },
];

function isError(x: unknown): boolean {
  return x instanceof Error || types.isNativeError(x);
}

/** Hidden from the printed value (the diagnostics were printed already), kept for code. */
function hide<T extends object>(value: T, key: string, data: unknown): T {
  Object.defineProperty(value, key, { value: data, enumerable: false });
  return value;
}

/** Lines to print under a command's result (`killed 1: <0.85.0>`), kept beside it. */
const footnotes = new WeakMap<object, string[]>();

/** The footnotes of a result, for the session to print under it. */
export function footnotesOf(value: object): string[] | undefined {
  return footnotes.get(value);
}

function footnote<T>(value: T, line: string): T {
  if (typeof value === 'object' && value !== null) {
    const list = footnotes.get(value) ?? [];
    list.push(line);
    footnotes.set(value, list);
  }
  return value;
}

/** What a change's result may carry beyond its printed fields (the runtime adds them). */
interface ChangeDetails {
  error?: unknown;
  module?: string;
  modules?: unknown;
  reason?: unknown;
  diagnostics?: Diagnostic[];
  /** Processes the purge of this change killed (non-enumerable). */
  killed?: Pid[];
  /** Processes in old versions that the change would break (S6.2 transitions). */
  oldUsers?: { module: string; pids: Pid[] }[];
}

export function createCommands(ctx: CommandContext): Record<string, unknown> {
  const { print, style } = ctx;

  function reportLoad<T>(r: T): T {
    // A load that failed in the module's own code (its top level, onLoad) says why; `nofile` needs no more.
    const reason = (r as { reason?: unknown }).reason;
    if (isError(reason)) print(formatError(reason, style));
    if (Array.isArray((r as { error?: unknown }).error)) {
      for (const e of (r as { error: { module: string; reason?: unknown }[] }).error)
        if (isError(e.reason)) print(`${e.module}: ${formatError(e.reason, style)}`);
    }
    return r;
  }

  /** Is this change type-checked (the node's gate on, not turned off for the call)? */
  const typed = (options: unknown) =>
    ctx.typecheck && (options as { typecheck?: unknown } | undefined)?.typecheck !== false;

  /** Says `type-checking…` when a typed change has not answered within a second. */
  async function slow<T>(change: () => Promise<T>, isTyped: boolean): Promise<T> {
    if (!isTyped) return change();
    const timer = setTimeout(() => print(style.dim('type-checking…')), ctx.slowChangeMs);
    timer.unref?.();
    try {
      return await change();
    } finally {
      clearTimeout(timer);
    }
  }

  /** The module names a `c` argument asks for (`'src/room.ts'` → room), for messages. */
  function requested(m: unknown): string[] {
    const list = Array.isArray(m) ? m : [m];
    const names: string[] = [];
    for (const x of list) {
      if (typeof x === 'string') names.push(moduleOfSourceFile(basename(x)) ?? x);
      else
        try {
          names.push(services.moduleArg(x, 'c'));
        } catch {
          // not a module: the change itself says so
        }
    }
    return names;
  }

  /**
   * Prints what a change (`c`, `recompile`, `lm`) did that its value does not
   * show: the diagnostics of a refused change (each with the version it
   * concerns, S6.2), who it killed, and what to do next.
   */
  function reportChange<T>(r: T, names: readonly string[]): T {
    const d = r as ChangeDetails;
    let out: object = r as object;
    if (d.error === 'compile') {
      const ds = d.diagnostics ?? [];
      print(formatDiagnostics(ds, style));
      out = hide({ error: 'compile' as const }, 'diagnostics', ds);
      if (d.oldUsers !== undefined) hide(out, 'oldUsers', d.oldUsers);
      if (d.oldUsers?.length) {
        const who = d.oldUsers.map((u) => `${u.pids.join(', ')} in ${u.module}`).join('; ');
        footnote(
          out,
          style.yellow(
            `hint: processes still run old code this change would break (${who}); ` +
              `${callOf(names)} with { oldCode: 'kill' } loads it anyway and kills them`,
          ),
        );
      }
      return out as T;
    }
    if (d.error === 'nofile') {
      const dirs = ctx.src.map((dir) => displayPath(dir)).join(', ') || '(no source directory)';
      for (const name of names) {
        if (sourceFileOf(name, ctx.src) !== undefined) continue;
        const near = closestModules(name, ctx.src);
        footnote(
          out,
          style.yellow(
            `no source for ${name} in ${dirs}${near.length ? `; did you mean ${near.join(' or ')}?` : ''}`,
          ),
        );
      }
      return r;
    }
    reportLoad(r);
    if (typeof d.module === 'string') versionLabel(d.module);
    if (Array.isArray(d.modules))
      for (const x of d.modules) if (typeof x === 'string') versionLabel(x);
    reportKilled(out, d.killed);
    return r;
  }

  function callOf(names: readonly string[]): string {
    if (names.length === 0) return 'the change';
    return `c([${names.map((n) => `'${n}'`).join(', ')}], …)`;
  }

  function reportKilled(r: object, killed: readonly Pid[] | undefined): void {
    if (Array.isArray(killed) && killed.length > 0)
      footnote(r, style.yellow(`killed ${killed.length}: ${killed.join(', ')}`));
  }

  /** Processes in the old versions of `names`: the purge of a change to them kills them (S4.1). */
  function oldCodeUsers(names: readonly string[]): Pid[] {
    const users: Pid[] = [];
    for (const name of names) {
      try {
        if (!code.checkOldCode(name)) continue;
        for (const p of processes()) if (checkProcessCode(p, name)) users.push(p);
      } catch {
        // not a module name: the change says so
      }
    }
    return users;
  }

  /**
   * Runs a change and reports it. Whom it killed: the runtime says so on the
   * result (`killed`, non-enumerable); else they are the old versions' users
   * that did not survive it.
   */
  async function change<T>(names: readonly string[], run: () => T | Promise<T>): Promise<T> {
    const before = oldCodeUsers(names);
    const r = await run();
    if (typeof r === 'object' && r !== null && !Array.isArray(r) && !('killed' in r)) {
      const dead = before.filter((p) => !isProcessAlive(p));
      if (dead.length > 0) reportKilled(r, dead);
    }
    return reportChange(r, names);
  }

  async function c(m: ModuleArg | ModuleArg[], options?: Record<string, unknown>) {
    return change(requested(m), () =>
      slow(
        () => withOrigin('shell', () => compileAndLoad(m as ModuleArg, options)),
        typed(options),
      ),
    );
  }

  async function recompile(options?: Record<string, unknown>) {
    const modules = changedSources(ctx.src);
    if (modules.length === 0) {
      print(style.dim('nothing to recompile: every loaded module is its source'));
      return { modules: [] };
    }
    print(style.dim(`recompiling ${modules.join(', ')}`));
    return change(modules, () =>
      slow(() => withOrigin('shell', () => compileAndLoad(modules, options)), typed(options)),
    );
  }

  async function lm() {
    const modules = modifiedModules();
    const before = oldCodeUsers(modules);
    const r: unknown = await slow(() => withOrigin('shell', () => loadModified()), ctx.typecheck);
    if (Array.isArray(r)) {
      for (const x of r) reportChange(x, []);
      const dead = before.filter((p) => !isProcessAlive(p));
      if (dead.length > 0) print(style.yellow(`killed ${dead.length}: ${dead.join(', ')}`));
      return r;
    }
    return reportChange(r, modules);
  }

  function l(m: ModuleArg) {
    const names = requested(m);
    const before = oldCodeUsers(names);
    const r = load(m);
    if (!('killed' in r)) {
      const dead = before.filter((p) => !isProcessAlive(p));
      if (dead.length > 0) reportKilled(r, dead);
    }
    return reportChange(r, names);
  }

  function m(module?: ModuleArg): undefined {
    if (module === undefined) {
      const rows = loadedModules().map((name) => {
        const v = code.versions(name);
        const cur = v.current!;
        const sticky = code.isSticky(name) ? ' (runtime)' : '';
        return [
          name,
          versionLabel(name) + (v.old ? style.yellow(' +old') : ''),
          displayPath(cur.file) + sticky,
        ];
      });
      print(
        table(
          [{ title: 'Module' }, { title: 'Version' }, { title: 'File' }],
          rows,
          style,
          ctx.columns(),
        ),
      );
      return undefined;
    }
    const name = services.moduleArg(module, 'm');
    const v = code.versions(name);
    const lines: string[] = [style.bold(`Module ${name}`)];
    if (v.current === undefined) {
      const file = code.which(name);
      lines.push(
        file
          ? `  not loaded (object file ${displayPath(file)})`
          : '  not loaded, and no object file on the code path',
      );
      print(lines.join('\n'));
      return undefined;
    }
    const handle = mod(name) as Record<string, unknown>;
    const exports = Object.keys(handle)
      .sort()
      .map((k) => {
        const d = Object.getOwnPropertyDescriptor(handle, k);
        const f = d && 'value' in d ? d.value : undefined;
        const target = services.currentExports(name)?.[k];
        return typeof f === 'function' && typeof target === 'function'
          ? `${k}/${target.length}`
          : k;
      });
    lines.push(`  exports:  ${exports.join(', ') || '(none)'}`);
    const describe = (label: string, x: NonNullable<typeof v.current>) =>
      `  ${label} vsn ${x.vsn === x.md5 ? x.vsn.slice(0, 8) : x.vsn}, loaded ${new Date(x.loadedAt).toLocaleTimeString()} from ${displayPath(x.file)}`;
    lines.push(describe('current:', v.current));
    if (v.old) {
      const users = processes().filter((p) => usesOld(p, name)).length;
      lines.push(
        `${describe('old:    ', v.old)} (used by ${users} process${users === 1 ? '' : 'es'})`,
      );
    }
    if (code.isSticky(name)) lines.push('  sticky: a runtime module');
    print(lines.join('\n'));
    return undefined;
  }

  function usesOld(p: Pid, name: string): boolean {
    return processInfo(p)?.modules.some((x) => x.module === name && x.version === 'old') ?? false;
  }

  function i(): undefined {
    const rows: string[][] = [];
    for (const p of processes()) {
      const info = processInfo(p);
      if (!info) continue;
      const mods = info.modules.map((x) =>
        x.version === 'old' ? style.yellow(`${x.module} (old)`) : x.module,
      );
      const status = info.status === 'running' ? info.status : style.dim(info.status);
      rows.push([
        String(info.pid),
        info.initialCall ?? '',
        info.registeredName ?? '',
        String(info.messageQueueLen),
        status,
        mods.join(', '),
      ]);
    }
    print(
      table(
        [
          { title: 'Pid' },
          { title: 'Initial call' },
          { title: 'Name' },
          { title: 'Msgs', align: 'right' },
          { title: 'Status' },
          { title: 'Code in use' },
        ],
        rows,
        style,
        ctx.columns(),
      ),
    );
    print(style.dim(`${rows.length} process${rows.length === 1 ? '' : 'es'}`));
    return undefined;
  }

  function flush(): undefined {
    for (const msg of services.drainMailbox(ctx.shellPid()))
      print(`Shell got ${inspect(msg, { colors: style.color, depth: 4, breakLength: 100 })}`);
    return undefined;
  }

  function regs(): undefined {
    const rows = registered()
      .sort()
      .map((name) => {
        const p = whereis(name);
        const info = p && processInfo(p);
        return [
          name,
          String(p ?? ''),
          info?.initialCall ?? '',
          String(info?.messageQueueLen ?? ''),
        ];
      });
    print(
      table(
        [
          { title: 'Name' },
          { title: 'Pid' },
          { title: 'Initial call' },
          { title: 'Msgs', align: 'right' },
        ],
        rows,
        style,
        ctx.columns(),
      ),
    );
    return undefined;
  }

  /** `pid(80)`, `pid(0, 80, 0)` or `pid('<0.80.0>')`: the live process with that number, or a dead pid. */
  function pid(a: number | string, b?: number, _c?: number): Pid {
    const n =
      typeof a === 'string'
        ? Number(/^<?0\.(\d+)\.0>?$/.exec(a.trim())?.[1])
        : b !== undefined
          ? b
          : a;
    if (!Number.isInteger(n))
      throw new TypeError(
        `pid: expected pid(N), pid(0, N, 0) or pid('<0.N.0>'), got ${inspect(a)}`,
      );
    return processes().find((p) => p.toString() === `<0.${n}.0>`) ?? new Pid(n as number);
  }

  function help(): undefined {
    const listed = COMMANDS.filter((x) => x.name !== 'h');
    const w = Math.max(...listed.map((x) => x.usage.length));
    const lines = listed.map((x) => `  ${x.usage.padEnd(w)}  ${style.dim(x.help)}`);
    print(
      [
        style.bold('Shell commands'),
        ...lines,
        '',
        style.bold('Modules') +
          ' — every module on the code path or in a source directory is a global:',
        '  counter.start() runs the current version (loading it if needed); counter.<Tab> lists its exports.',
        '  mod(name) reaches a module whose name is a Node global (process, http, …).',
        '',
        style.bold('The API') +
          ' of hotcode is in scope: spawn, send, receive, self, exit, link, monitor,',
        '  register, whereis, processInfo, code.*, compile.file, genServer, supervisor, sys, upgrade …',
        "  A promise an expression returns is awaited; Ctrl+C interrupts the wait: greeter.greet('Ada').",
      ].join('\n'),
    );
    return undefined;
  }

  function q(): undefined {
    ctx.quit();
    return undefined;
  }

  return {
    c,
    recompile,
    l,
    m,
    i,
    flush,
    mm: () => modifiedModules(),
    lm,
    regs,
    pid,
    help,
    h: help,
    q,
  };
}
