/**
 * The shell commands of SPEC S7.2, after Erlang's shell (`c:c/1`, `c:l/1`,
 * `c:m/0`, `c:i/0`, `c:flush/0`, `c:mm/0`, `c:lm/0`, `c:regs/0`,
 * `c:help/0`). Commands that show something print it and return
 * `undefined` (Erlang's `ok`); `c`, `l`, `lm` and `mm` return their result.
 */
import { inspect, types } from 'node:util';
import {
  code,
  c as compileAndLoad,
  type Diagnostic,
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
import { versionLabel } from '../watch/index.js';
import { displayPath, formatDiagnostics, formatError, type Style, table } from './format.js';
import { loadedModules } from './modules.js';

export interface CommandContext {
  /** Writes a line (or lines) to the shell's output. */
  print(text: string): void;
  style: Style;
  /** Terminal width (80 when unknown). */
  columns(): number;
  /** The shell's current process (for flush). */
  shellPid(): Pid;
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
    help: 'compile, purge and load module(s) (type-checked)',
  },
  { name: 'l', usage: 'l(M)', help: 'purge and load M from the code path' },
  { name: 'm', usage: 'm() | m(M)', help: 'loaded modules | exports and versions of M' },
  { name: 'i', usage: 'i()', help: 'processes: pid, initial call, name, mailbox, status, code' },
  { name: 'flush', usage: 'flush()', help: "print and empty the shell's mailbox" },
  { name: 'mm', usage: 'mm()', help: 'modified modules (object file differs from loaded)' },
  { name: 'lm', usage: 'lm()', help: 'load all modified modules' },
  { name: 'regs', usage: 'regs()', help: 'registered processes' },
  { name: 'pid', usage: 'pid(N) | pid(0, N, 0)', help: 'the pid <0.N.0>' },
  { name: 'help', usage: 'help()', help: 'this list' },
];

function isError(x: unknown): boolean {
  return x instanceof Error || types.isNativeError(x);
}

/** Hidden from the printed value (the diagnostics were printed already), kept for code. */
function hide<T extends object>(value: T, key: string, data: unknown): T {
  Object.defineProperty(value, key, { value: data, enumerable: false });
  return value;
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

  async function c(m: ModuleArg | ModuleArg[], options?: { typecheck?: boolean }) {
    const r = await compileAndLoad(m as ModuleArg, options);
    if ('error' in r && r.error === 'compile') {
      const ds = (r as { diagnostics: Diagnostic[] }).diagnostics;
      print(formatDiagnostics(ds, style));
      return hide({ error: 'compile' as const }, 'diagnostics', ds);
    }
    reportLoad(r);
    if ('module' in r) versionLabel(r.module);
    return r;
  }

  function l(m: ModuleArg) {
    const r = reportLoad(load(m));
    if ('module' in r) versionLabel(r.module);
    return r;
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
    const w = Math.max(...COMMANDS.map((x) => x.usage.length));
    const lines = COMMANDS.map((x) => `  ${x.usage.padEnd(w)}  ${style.dim(x.help)}`);
    print(
      [
        style.bold('Shell commands'),
        ...lines,
        '',
        style.bold('Modules') +
          ' — every module on the code path or in a source directory is a global:',
        '  counter.inc() runs the current version (loading it if needed); counter.<Tab> lists its exports.',
        '  mod(name) reaches a module whose name is a Node global (process, http, …).',
        '',
        style.bold('The API') +
          ' of hotcode is in scope: spawn, send, receive, self, exit, link, monitor,',
        '  register, whereis, processInfo, code.*, compile.file, genServer, supervisor, sys, upgrade …',
        '  A promise an expression returns is awaited; Ctrl+C interrupts the wait.',
      ].join('\n'),
    );
    return undefined;
  }

  return {
    c,
    l,
    m,
    i,
    flush,
    mm: () => modifiedModules(),
    lm: () => loadModified().then((rs) => rs.map(reportLoad)),
    regs,
    pid,
    help,
  };
}
