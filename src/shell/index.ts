/**
 * The interactive shell (SPEC S7), on node:repl.
 *
 * - The shell is a process of the node (S7.1): each line is evaluated in the
 *   async context of the shell's process, so `self()`, `receive()` and
 *   `spawnLink` work at the prompt. If an expression kills it, a new shell
 *   process takes over, as in Erlang.
 * - Every module name on the code path or in a source directory is a global
 *   of the REPL context whose value is the module's handle, defined lazily as
 *   a getter and refreshed before each line and each Tab, so a module written
 *   a moment ago is there; names that Node already has (`process`, `http`…)
 *   keep their meaning, and `mod(name)` reaches such a module.
 * - Nothing is loaded by looking: previews and completion probes never
 *   autoload; only `counter.` + Tab does (it lists the exports).
 * - A promise an expression returns is awaited (as if written with `await`),
 *   so `c(counter)` prints its result; Ctrl+C interrupts the wait.
 */
import { readFileSync } from 'node:fs';
import repl from 'node:repl';
import { inspect, types } from 'node:util';
import type { Pid } from '../index.js';
import * as api from '../index.js';
import { services } from '../node.js';
import { COMMANDS, createCommands } from './commands.js';
import { createStyle, formatError, formatReason, type Style, wantsColor } from './format.js';
import { knownModules, loadedModules } from './modules.js';

export interface ShellOptions {
  /** Source directories (absolute), for module names and messages. */
  src: readonly string[];
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  /** Default: the output is a TTY. */
  terminal?: boolean;
  /** Default: the output is a terminal with colours (NO_COLOR and FORCE_COLOR are honoured). */
  color?: boolean;
  /** History file; `false` for none. */
  history?: string | false;
  /** REPL previews of the expression being typed (default on in a terminal). */
  preview?: boolean;
  prompt?: string;
  /** Printed when the shell starts. */
  banner?: string;
}

export interface Shell {
  readonly repl: repl.REPLServer;
  readonly style: Style;
  /** Prints above the prompt (for watch reports, crash reports): the line being typed is kept. */
  print(text: string): void;
  /** The shell's current process. */
  pid(): Pid;
  /** Resolves when the user leaves the shell (Ctrl+D, `.exit`). */
  readonly closed: Promise<void>;
}

/** The API names that are globals of the shell (the node is already started: no start/stop). */
const API_NAMES = [
  'run',
  'spawn',
  'spawnLink',
  'spawnMonitor',
  'self',
  'send',
  'receive',
  'sendAfter',
  'cancelTimer',
  'link',
  'unlink',
  'monitor',
  'demonitor',
  'exit',
  'trapExit',
  'signal',
  'register',
  'unregister',
  'whereis',
  'registered',
  'processInfo',
  'processes',
  'isProcessAlive',
  'checkProcessCode',
  'mod',
  'compile',
  'code',
  'genServer',
  'sys',
  'supervisor',
  'upgrade',
  'Pid',
] as const;

/** The parts of REPLServer that the shell wraps (stable across Node 22–24, not in its typings). */
type ReplInternals = Omit<repl.REPLServer, 'eval' | 'completer'> & {
  eval: (
    code: string,
    ctx: object,
    file: string,
    cb: (err: Error | null, result?: unknown) => void,
  ) => void;
  completer: (line: string, cb: (err: Error | null, result?: [string[], string]) => void) => void;
  _ttyWrite: (d: unknown, key: { name?: string } | undefined) => void;
  _domain: NodeJS.EventEmitter;
  prompt(preserveCursor?: boolean): void;
};

/** `exit(reason)` unwinds the calling process's code with this marker. */
function isExitUnwind(e: unknown): boolean {
  return services.isExitUnwind(e);
}

export function version(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return 'unknown';
  }
}

export function startShell(options: ShellOptions): Shell {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const terminal = options.terminal ?? (output as NodeJS.WriteStream).isTTY === true;
  const style = createStyle(options.color ?? wantsColor(output));
  const columns = () => Math.max(40, Math.min((output as NodeJS.WriteStream).columns || 80, 200));

  // ---- the shell process -----------------------------------------------------------------
  let proc: Pid;
  let closing = false;
  /** User lines being evaluated (more than one only with piped input). */
  let busy = 0;
  let drained: (() => void) | undefined;
  let lastDeath: { pid: Pid; reason: unknown } | undefined;

  function spawnShellProcess(): void {
    const pid = services.spawnShell((reason) => {
      if (closing) return;
      lastDeath = { pid, reason };
      spawnShellProcess();
      notify(
        style.yellow(
          `** shell process ${pid} exited: ${formatReason(reason)}; new shell process ${proc}`,
        ),
      );
    });
    proc = pid;
  }
  spawnShellProcess();

  // ---- the REPL --------------------------------------------------------------------------
  if (options.banner) output.write(`${options.banner}\n`);
  const server = repl.start({
    prompt: options.prompt ?? 'hotcode> ',
    input,
    output,
    terminal,
    useColors: style.color,
    preview: options.preview ?? terminal,
    ignoreUndefined: true,
    breakEvalOnSigint: true,
    historySize: 1000,
    writer: (v: unknown) => write(v),
  } as repl.ReplOptions);
  const r = server as unknown as ReplInternals;

  function write(v: unknown): string {
    if (isExitUnwind(v)) return `exit: ${formatReason(lastDeath?.reason)}`;
    if (v instanceof Error || types.isNativeError(v))
      return formatError(v, { ...style, red: (s: string) => s });
    return inspect(v, {
      colors: style.color,
      depth: 4,
      breakLength: Math.min(columns(), 100),
      showProxy: false,
    });
  }

  function print(text: string): void {
    output.write(`${text}\n`);
  }

  /** Prints above the prompt and redraws what was being typed. */
  function notify(text: string): void {
    if (busy > 0 || !terminal || closing) {
      print(text);
      return;
    }
    output.write('\r\x1b[K');
    print(text);
    r.prompt(true);
  }

  // ---- globals ---------------------------------------------------------------------------
  const commands = createCommands({
    print,
    style,
    columns,
    shellPid: () => proc,
  });
  const bindings: Record<string, unknown> = {};
  for (const n of API_NAMES) bindings[n] = (api as Record<string, unknown>)[n];
  Object.assign(bindings, commands);
  const moduleGlobals = new Set<string>();

  function installBindings(ctx: Record<string, unknown>): void {
    for (const [k, v] of Object.entries(bindings))
      Object.defineProperty(ctx, k, {
        value: v,
        writable: true,
        configurable: true,
        enumerable: false,
      });
    moduleGlobals.clear();
    refreshModules();
  }

  /** Defines a getter for each module name that is new and free (not a Node or REPL global). */
  function refreshModules(): void {
    const ctx = r.context as Record<string, unknown>;
    for (const name of knownModules(options.src)) {
      if (moduleGlobals.has(name) || name in ctx || name in globalThis) continue;
      moduleGlobals.add(name);
      Object.defineProperty(ctx, name, {
        get: () => api.mod(name),
        set: (value: unknown) =>
          Object.defineProperty(ctx, name, {
            value,
            writable: true,
            configurable: true,
            enumerable: true,
          }),
        configurable: true,
        enumerable: false,
      });
    }
  }

  /** Is `name` (still) one of our module getters in the context? */
  function isModuleGlobal(name: string): boolean {
    if (!moduleGlobals.has(name)) return false;
    const d = Object.getOwnPropertyDescriptor(r.context, name);
    return d?.get !== undefined && d.set !== undefined;
  }

  installBindings(r.context as Record<string, unknown>);
  r.on('reset', (ctx: Record<string, unknown>) => installBindings(ctx));

  // ---- evaluation in the shell process ---------------------------------------------------
  const original = r.eval;
  let userLine = false;
  let awaited = 0;
  r.prependListener('line', () => {
    userLine = true;
    refreshModules();
  });
  r.eval = (code, ctx, file, cb) => {
    const fromUser = userLine;
    userLine = false;
    if (!fromUser) {
      services.runAs(proc, () => original.call(r, code, ctx, file, cb));
      return;
    }
    // One line at a time, in order, as Erlang's shell: with piped input the next
    // line arrives while this one is still awaited (`c(m)` then `m.f()`).
    if (busy > 0) {
      waiting.push(() => evaluate(code, ctx, file, cb));
      return;
    }
    evaluate(code, ctx, file, cb);
  };
  const waiting: (() => void)[] = [];
  function evaluate(
    code: string,
    ctx: object,
    file: string,
    cb: (err: Error | null, result?: unknown) => void,
  ): void {
    busy++;
    const done = (err: Error | null, result?: unknown) => {
      settled();
      cb(err, result);
    };
    services.runAs(proc, () =>
      original.call(r, code, ctx, file, (err, result) => {
        if (err !== null || !types.isPromise(result)) {
          done(err, result);
          return;
        }
        // A promise value is awaited, with the REPL's own top-level await (input paused, Ctrl+C).
        // Each in its own slot: with piped input, the next line may be evaluated meanwhile.
        const slot = `__hotcodeResult${++awaited}`;
        Object.defineProperty(ctx, slot, { value: result, configurable: true, writable: true });
        services.runAs(proc, () =>
          original.call(r, `await ${slot}\n`, ctx, file, (e2, r2) => {
            delete (ctx as Record<string, unknown>)[slot];
            done(e2, r2);
          }),
        );
      }),
    );
  }
  function settled(): void {
    busy = Math.max(0, busy - 1);
    if (busy > 0) return;
    // The next line starts after the REPL has printed this line's result; it stays
    // in `waiting` until then, so that input ending meanwhile does not end the shell.
    if (waiting.length > 0) setImmediate(() => waiting.shift()?.());
    else drained?.();
  }
  // Errors of an evaluation reach the REPL's domain, not our callback.
  r._domain.prependListener('error', (e: unknown) => {
    settled();
    for (const k of Object.getOwnPropertyNames(r.context))
      if (k.startsWith('__hotcodeResult')) delete (r.context as Record<string, unknown>)[k];
    if ((e as { code?: unknown })?.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') {
      // The interrupted expression may have left a receive pending: it must not take the next message.
      services.cancelReceives(proc);
    }
  });

  // ---- completion ------------------------------------------------------------------------
  const defaultCompleter = r.completer;
  let tabPressed = false;
  const ttyWrite = r._ttyWrite;
  r._ttyWrite = (d, key) => {
    tabPressed = key?.name === 'tab';
    try {
      ttyWrite.call(r, d, key);
    } finally {
      tabPressed = false;
    }
  };
  const commandNames = COMMANDS.map((x) => x.name);

  r.completer = (line, cb) => {
    const tab = tabPressed;
    refreshModules();
    // `counter.` / `counter.in`: the module's exports (Tab loads the module first).
    const member = /(?:^|[^\w$.])([A-Za-z_$][\w$]*)\.([\w$]*)$/.exec(line);
    // (genServer, sys and supervisor are API globals and loaded modules at once)
    if (member && (isModuleGlobal(member[1]!) || api.code.isLoaded(member[1]!) !== false)) {
      const [, name, partial] = member as unknown as [string, string, string];
      let keys: string[] = [];
      try {
        if (tab) services.runAs(proc, () => api.code.ensureLoaded(name));
        if (api.code.isLoaded(name)) keys = Object.keys(api.mod(name));
      } catch {
        keys = [];
      }
      const hits = keys
        .filter((k) => k.startsWith(partial))
        .sort()
        .map((k) => `${name}.${k}`);
      cb(null, [hits, `${name}.${partial}`]);
      return;
    }
    // An empty or partial word: modules and commands first.
    const word = /(?:^|[^\w$.])([A-Za-z_$][\w$]*)?$/.exec(line);
    if (word) {
      const w = word[1] ?? '';
      const mods = [...new Set([...loadedModules(), ...moduleGlobals])].filter(
        (n) => isModuleGlobal(n) || api.code.isLoaded(n),
      );
      const groups = [mods, commandNames, [...API_NAMES]].map((g) =>
        g.filter((n) => n.startsWith(w)).sort(),
      );
      const ours = (): string[] =>
        groups
          .filter((g) => g.length)
          .flatMap((g, i, all) => (i < all.length - 1 ? [...g, ''] : g));
      if (w === '') {
        cb(null, [ours(), '']);
        return;
      }
      defaultCompleter.call(r, line, (err, res) => {
        const seen = new Set(groups.flat());
        const all = err || !res ? [] : res[0].filter((x) => x !== '' && !seen.has(x));
        // Node matches case-insensitively ('coun' → CountQueuingStrategy), which would stop
        // 'coun' from completing to 'counter': keep exact-prefix matches when there are any.
        const exact = all.filter((x) => x.startsWith(w));
        const list = ours();
        const rest = list.length || exact.length ? exact : all;
        cb(null, [rest.length ? (list.length ? [...list, '', ...rest] : rest) : list, w]);
      });
      return;
    }
    defaultCompleter.call(r, line, cb);
  };

  // ---- history, banner, exit -------------------------------------------------------------
  if (options.history) {
    r.setupHistory(options.history, (err) => {
      if (err) print(style.dim(`(history is off: ${err.message})`));
    });
  }

  api.setLogger({
    error(_message, meta) {
      // The shell's own death is told in one line by spawnShellProcess.
      if (lastDeath?.pid === meta.pid || meta.pid === proc) return;
      const who = meta.name !== undefined ? `${meta.pid} (${meta.name})` : String(meta.pid);
      const started = meta.initialCall !== undefined ? ` started as ${meta.initialCall}` : '';
      const reason = meta.reason instanceof Error || types.isNativeError(meta.reason);
      const head = style.red(`=CRASH REPORT==== process ${who}${started} exited:`);
      notify(
        reason
          ? `${head}\n${formatError(meta.reason, style)}`
          : `${head} ${formatReason(meta.reason)}`,
      );
    },
  });

  const closed = new Promise<void>((resolve) => {
    r.on('exit', () => {
      closing = true;
      // Input ended (Ctrl+D, end of a pipe): let the lines still being evaluated finish.
      if (busy === 0 && waiting.length === 0) resolve();
      else drained = resolve;
    });
  });

  return {
    repl: server,
    style,
    print: notify,
    pid: () => proc,
    closed,
  };
}
