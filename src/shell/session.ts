/**
 * A shell session: the node side of the shell (S7), with no terminal.
 *
 * The session owns the shell process, the evaluation context (module
 * globals, the API, the shell commands), evaluation and completion. It takes
 * lines and gives back text, so a front end can be a local terminal
 * (`index.ts`, on node:repl) or another process driving it over a socket
 * (the remote shell of S9.4). Every argument and result is plain data.
 *
 * ```ts
 * const session = createShellSession({ src: ['/app/src'], output: (text) => console.log(text) });
 * await session.evaluate('c(counter)');      // { type: 'value', text: "{ module: 'counter' }" }
 * await session.evaluate('counter.inc(');    // { type: 'incomplete' }: send it again with the next line
 * await session.complete('counter.', { load: true }); // [['counter.inc', 'counter.loop'], 'counter.']
 * session.interrupt();                        // Ctrl+C: the evaluation in progress stops waiting
 * session.close();
 * ```
 *
 * - `evaluate(code)` runs one line (or several, joined by newlines, after an
 *   `incomplete` answer) as the shell process: `self()`, `receive()` and
 *   `spawnLink` work. A promise the line yields is awaited. Lines run one at
 *   a time, in the order given; when no line is running, the line's
 *   synchronous part runs before `evaluate` returns (so a terminal front end
 *   can let Ctrl+C raise SIGINT just for that part, which interrupts even an
 *   endless loop: the script runs with `breakOnSigint`). It never rejects.
 *   `quit: true` on the result means the line called `q()`: the front end
 *   leaves (locally the node stops, as Erlang's `q()`; a remote front end
 *   only detaches).
 * - `output(text)` receives everything printed while a line runs (`m()`,
 *   `i()`, `flush()`, `console.log`, `type-checking…`) and everything that
 *   happens meanwhile (the shell process replaced, `print` from watch mode):
 *   one or more whole lines, without the final newline, possibly coloured
 *   (`color`).
 * - `complete(line, { load })` answers Tab: `[completions, the word completed]`
 *   as node:readline's completer does; `''` entries separate groups. Only
 *   with `load: true` does `counter.` load `counter` to list its exports.
 * - `interrupt()` ends the wait of the line in progress (its result is
 *   `{ type: 'interrupted' }`); a receive it left pending takes no message,
 *   and processes it spawned that never reached their first suspension are
 *   ended (reason `'interrupted'`). A line's synchronous part (an endless
 *   loop) blocks the node, so no message can reach `interrupt()` then: only
 *   a SIGINT to the node's process stops it (the script runs with
 *   `breakOnSigint`), with the same result.
 *
 * It reaches the runtime only through `services` and the public API.
 */

import { Console } from 'node:console';
import { builtinModules, createRequire } from 'node:module';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { inspect, types } from 'node:util';
import vm from 'node:vm';
import { withOrigin } from '../changes.js';
import type { Pid } from '../index.js';
import * as api from '../index.js';
import { services } from '../node.js';
import { COMMANDS, createCommands, footnotesOf } from './commands.js';
import { createStyle, formatError, formatReason, plain, type Style } from './format.js';
import { closestModules, knownModules, loadedModules } from './modules.js';
import { prepare } from './toplevel.js';

export interface ShellSessionOptions {
  /** Source directories (absolute): module names, `c` and `recompile`. */
  src: readonly string[];
  /** Where the session's text goes: whole lines, no final newline. */
  output(text: string): void;
  /** ANSI colours in the text (default false). */
  color?: boolean;
  /** The width the front end shows (tables fit it); default 80. */
  columns?(): number;
  /** The node's type gate is on (default true): `c` says `type-checking…` when it takes long. */
  typecheck?: boolean;
  /** How long is long (default 1000 ms). */
  slowChangeMs?: number;
}

/** The answer to one `evaluate`. */
export type EvalResult =
  | { type: 'value'; text: string; quit?: true }
  | { type: 'error'; text: string }
  | { type: 'interrupted'; text: string }
  | { type: 'incomplete' };

export interface ShellSession {
  evaluate(code: string): Promise<EvalResult>;
  complete(line: string, options?: { load?: boolean }): Promise<[string[], string]>;
  /** Stops the wait of the line in progress; false if no line is waiting. */
  interrupt(): boolean;
  /** The shell's current process. */
  pid(): Pid;
  /** Is `pid` this session's shell process, now or before it was replaced? */
  isShellProcess(pid: Pid): boolean;
  /** Ends the shell process; later calls answer with an error. */
  close(): void;
}

/** The API names that are globals of the shell (the node is already started: no start/stop). */
export const API_NAMES = [
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

const KEYWORDS = (
  'async await break case catch class const continue debugger default delete do else export ' +
  'extends false finally for function if import in instanceof let new null return static super ' +
  'switch this throw true try typeof undefined var void while with yield'
).split(' ');

/** Thrown into a waiting line by `interrupt()`. */
const INTERRUPT = Symbol('interrupt');

function isInterruptError(e: unknown): boolean {
  return (e as { code?: unknown })?.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
}

function isError(v: unknown): boolean {
  return v instanceof Error || types.isNativeError(v);
}

export function createShellSession(options: ShellSessionOptions): ShellSession {
  const style: Style = options.color ? createStyle(true) : plain;
  const columns = () => Math.max(40, Math.min(options.columns?.() ?? 80, 200));
  const typecheck = options.typecheck ?? true;
  const out = (text: string) => {
    if (!closed) options.output(text);
  };

  // ---- the shell process -----------------------------------------------------------------
  let proc!: Pid;
  let closed = false;
  const shellPids = new Set<string>();

  function spawnShellProcess(): void {
    const pid = services.spawnShell((reason) => {
      if (closed) return;
      spawnShellProcess();
      out(
        style.yellow(
          `** shell process ${pid} exited: ${formatReason(reason)}; new shell process ${proc}`,
        ),
      );
    });
    proc = pid;
    shellPids.add(String(pid));
  }
  spawnShellProcess();

  // ---- the context -----------------------------------------------------------------------
  const ctx = vm.createContext() as Record<string, unknown>;
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      const text = String(chunk);
      out(text.endsWith('\n') ? text.slice(0, -1) : text);
      done();
    },
  });
  // As node:repl's context: Node's globals, `require`, the built-in modules by name.
  define(ctx, 'console', new Console({ stdout: sink, stderr: sink, colorMode: style.color }));
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    if (name === 'console' || name === 'global' || Object.hasOwn(ctx, name)) continue;
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    if (d) Object.defineProperty(ctx, name, d);
  }
  define(ctx, 'global', ctx);
  define(ctx, 'require', createRequire(join(process.cwd(), '<shell>')));
  for (const lib of builtinModules) {
    if (lib.startsWith('_') || lib.includes('/') || lib.includes(':') || Object.hasOwn(ctx, lib))
      continue;
    Object.defineProperty(ctx, lib, {
      get: () => {
        const value = createRequire(import.meta.url)(`node:${lib}`) as unknown;
        define(ctx, lib, value);
        return value;
      },
      set: (value: unknown) => define(ctx, lib, value),
      configurable: true,
      enumerable: false,
    });
  }

  let quitRequested = false;
  const commands = createCommands({
    print: out,
    style,
    columns,
    shellPid: () => proc,
    src: options.src,
    typecheck,
    slowChangeMs: options.slowChangeMs ?? 1000,
    quit: () => {
      quitRequested = true;
    },
  });
  for (const n of API_NAMES) define(ctx, n, (api as Record<string, unknown>)[n]);
  // `exit()` with no reason in the shell would end the shell's process and say nothing useful.
  define(ctx, 'exit', (...args: unknown[]) => {
    if (args.length === 0 && services.caller() === proc) {
      out(
        'exit() needs a reason: exit(reason) ends the shell process (a new one takes over), ' +
          'exit(pid, reason) sends an exit signal; q() leaves the shell',
      );
      return undefined;
    }
    return (api.exit as (...a: unknown[]) => unknown)(...args);
  });
  for (const [k, v] of Object.entries(commands)) define(ctx, k, v);

  const moduleGlobals = new Set<string>();
  /** Defines a getter for each module name that is new and free (not a Node or shell global). */
  function refreshModules(): void {
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
  /** Is `name` (still) one of the module getters? */
  function isModuleGlobal(name: string): boolean {
    if (!moduleGlobals.has(name)) return false;
    const d = Object.getOwnPropertyDescriptor(ctx, name);
    return d?.get !== undefined && d.set !== undefined;
  }
  refreshModules();

  // ---- evaluation ------------------------------------------------------------------------
  let lines = 0;
  let running = false;
  const queue: (() => void)[] = [];
  /** Rejects the wait of the line in progress (set while it waits). */
  let stopWaiting: ((why: typeof INTERRUPT) => void) | undefined;

  function evaluate(code: string): Promise<EvalResult> {
    return new Promise<EvalResult>((resolve) => {
      const job = () => {
        running = true;
        runLine(code)
          .catch((e: unknown) => ({ type: 'error' as const, text: uncaught(e) }))
          .then((r) => {
            running = false;
            resolve(r);
            // The next line starts after the front end has printed this one's result.
            if (queue.length > 0) setImmediate(() => queue.shift()?.());
          });
      };
      if (running || queue.length > 0) queue.push(job);
      else job();
    });
  }

  async function runLine(code: string): Promise<EvalResult> {
    if (closed) return { type: 'error', text: 'the shell session is closed' };
    if (code.trim() === '') return { type: 'value', text: '' };
    refreshModules();
    const file = `REPL${++lines}`;
    let script: vm.Script | undefined;
    const prepared = prepare(code, (c) => {
      script = new vm.Script(c, { filename: file });
    });
    if (prepared.type === 'incomplete') return prepared;
    if (prepared.type === 'syntax') return { type: 'error', text: uncaught(prepared.error) };
    if (script === undefined) script = new vm.Script(prepared.code, { filename: file });
    const s = script;
    let result: unknown;
    try {
      // The line's synchronous changes (`l(M)`, `code.purge(M)`) are the shell's in the history.
      result = services.runAs(proc, () =>
        withOrigin('shell', () =>
          s.runInContext(ctx, { breakOnSigint: true, displayErrors: false }),
        ),
      );
    } catch (e) {
      return failed(e);
    }
    if (types.isPromise(result)) {
      try {
        result = await waitFor(result);
        if (prepared.boxed) {
          result = (result as { value: unknown } | undefined)?.value;
          // `await p; p2` gives p2 unawaited; a promise value is awaited as on any line.
          if (types.isPromise(result)) result = await waitFor(result);
        }
      } catch (e) {
        return failed(e);
      }
    }
    const quit = quitRequested;
    quitRequested = false;
    if (result !== undefined && !services.isExitUnwind(result)) define(ctx, '_', result);
    const text = describeValue(result);
    return quit ? { type: 'value', text, quit: true } : { type: 'value', text };
  }

  /** Awaits `p`, unless `interrupt()` comes first. */
  function waitFor(p: Promise<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      stopWaiting = reject;
      p.then(resolve, reject).finally(() => {
        if (stopWaiting === reject) stopWaiting = undefined;
      });
    }).finally(() => {
      stopWaiting = undefined;
    });
  }

  function failed(e: unknown): EvalResult {
    quitRequested = false;
    if (e === INTERRUPT || isInterruptError(e)) {
      // The interrupted line may have left a receive pending (it must not take the next
      // message) and processes in their first part (they would never end otherwise).
      services.cancelReceives(proc);
      const reaped = services.reapInterrupted('interrupted');
      const ended =
        reaped.length > 0
          ? `; ended ${reaped.join(', ')} (interrupted before ${reaped.length === 1 ? 'its' : 'their'} first wait)`
          : '';
      return { type: 'interrupted', text: style.yellow(`interrupted${ended}`) };
    }
    // `exit(reason)` in the shell: the shell process's replacement has been told already.
    if (services.isExitUnwind(e)) return { type: 'error', text: '' };
    return { type: 'error', text: uncaught(e) };
  }

  function describeValue(v: unknown): string {
    if (v === undefined) return '';
    if (isError(v)) return formatError(v, { ...style, red: (s: string) => s });
    const text = inspect(v, {
      colors: style.color,
      depth: 4,
      breakLength: Math.min(columns(), 100),
      showProxy: false,
    });
    const notes = typeof v === 'object' && v !== null ? footnotesOf(v) : undefined;
    return notes?.length ? `${text}\n${notes.join('\n')}` : text;
  }

  /** An error as node:repl shows one (`Uncaught …`), with a did-you-mean for a mistyped module. */
  function uncaught(e: unknown): string {
    let text = formatError(e, style);
    const undef = isError(e) && /^(\S+) is not defined$/.exec((e as Error).message);
    if (undef && (e as Error).name === 'ReferenceError') {
      const near = closestModules(undef[1]!, options.src);
      if (near.length) text += ` ${style.dim(`(did you mean ${near.join(' or ')}?)`)}`;
    }
    return `Uncaught ${text}`;
  }

  function interrupt(): boolean {
    if (stopWaiting === undefined) return false;
    stopWaiting(INTERRUPT);
    return true;
  }

  // ---- completion ------------------------------------------------------------------------
  const commandNames = COMMANDS.map((x) => x.name);

  async function complete(
    line: string,
    opts: { load?: boolean } = {},
  ): Promise<[string[], string]> {
    if (closed) return [[], ''];
    refreshModules();
    // `counter.` / `counter.in`: the module's exports (loading it only when asked to).
    const member = /(?:^|[^\w$.])((?:[A-Za-z_$][\w$]*\.)*)([A-Za-z_$][\w$]*)\.([\w$]*)$/.exec(line);
    if (member) {
      const [, head = '', name = '', partial = ''] = member;
      if (head === '' && (isModuleGlobal(name) || (isLoaded(name) && !isShadowed(name)))) {
        let keys: string[] = [];
        try {
          if (opts.load) services.runAs(proc, () => api.code.ensureLoaded(name));
          if (api.code.isLoaded(name)) keys = Object.keys(api.mod(name));
        } catch {
          keys = [];
        }
        const hits = keys
          .filter((k) => k.startsWith(partial))
          .sort()
          .map((k) => `${name}.${k}`);
        return [hits, `${name}.${partial}`];
      }
      const target = resolvePath([...head.split('.').filter(Boolean), name]);
      const prefix = `${head}${name}.`;
      if (target === undefined) return [[], `${prefix}${partial}`];
      const groups = propertyGroups(target).map((g) =>
        g.filter((k) => k.startsWith(partial)).map((k) => prefix + k),
      );
      return [joinGroups(groups), `${prefix}${partial}`];
    }
    // An empty or partial word: modules, commands and the API first.
    const word = /(?:^|[^\w$.])([A-Za-z_$][\w$]*)?$/.exec(line);
    if (!word) return [[], ''];
    const w = word[1] ?? '';
    const mods = [...new Set([...loadedModules(), ...moduleGlobals])].filter(
      (n) => isModuleGlobal(n) || (isLoaded(n) && !isShadowed(n)),
    );
    const ours = [mods, commandNames, [...API_NAMES]].map((g) =>
      [...new Set(g)].filter((n) => n.startsWith(w)).sort(),
    );
    if (w === '') return [joinGroups(ours), ''];
    const seen = new Set(ours.flat());
    const rest = [
      ...new Set([
        ...Object.getOwnPropertyNames(ctx),
        ...Object.getOwnPropertyNames(globalThis),
        ...KEYWORDS,
      ]),
    ]
      .filter((n) => n.startsWith(w) && !seen.has(n) && /^[A-Za-z_$][\w$]*$/.test(n))
      .sort();
    return [joinGroups([...ours, rest]), w];
  }

  function isLoaded(name: string): boolean {
    try {
      return api.code.isLoaded(name) !== false;
    } catch {
      return false; // not a module name
    }
  }

  /** A module name that a Node or shell global hides (it is reached with mod(name)). */
  function isShadowed(name: string): boolean {
    return (
      !isModuleGlobal(name) &&
      (name in ctx || name in globalThis) &&
      !API_NAMES.includes(name as never)
    );
  }

  /** The value at `a.b.c` in the context, reading only data properties (nothing runs). */
  function resolvePath(path: string[]): object | undefined {
    let v: unknown = ctx;
    for (const [i, key] of path.entries()) {
      if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return undefined;
      if (i === 0 && isModuleGlobal(key)) {
        v = api.mod(key);
        continue;
      }
      const d = findProperty(v as object, key);
      if (d === undefined) return undefined;
      if (!('value' in d)) {
        // Node's lazily defined globals (built-in modules) and the shell's own getters only.
        if (v !== ctx) return undefined;
        v = ctx[key];
        continue;
      }
      v = d.value;
    }
    return v !== null && (typeof v === 'object' || typeof v === 'function') ? v : undefined;
  }

  function findProperty(o: object, key: string): PropertyDescriptor | undefined {
    for (let p: object | null = o; p !== null; p = Object.getPrototypeOf(p)) {
      const d = Object.getOwnPropertyDescriptor(p, key);
      if (d) return d;
    }
    return undefined;
  }

  /** Own enumerable keys first (an API: `code.` lists its functions), then the rest of the chain, Object's last. */
  function propertyGroups(o: object): string[][] {
    const own = Object.keys(o).sort();
    const seen = new Set(own);
    const groups = [own];
    const objectProto: string[] = [];
    for (let p: object | null = o; p !== null; p = Object.getPrototypeOf(p)) {
      const isObjectProto = Object.getPrototypeOf(p) === null;
      const names = Object.getOwnPropertyNames(p)
        .filter((n) => !seen.has(n) && /^[A-Za-z_$][\w$]*$/.test(n))
        .sort();
      for (const n of names) seen.add(n);
      if (isObjectProto) objectProto.push(...names);
      else if (names.length) groups.push(names);
    }
    groups.push(objectProto);
    return groups;
  }

  return {
    evaluate,
    complete,
    interrupt,
    pid: () => proc,
    isShellProcess: (pid: Pid) => shellPids.has(String(pid)),
    close() {
      if (closed) return;
      closed = true;
      interrupt();
      try {
        api.exit(proc, 'kill');
      } catch {
        // the node has stopped already
      }
    },
  };
}

function define(o: Record<string, unknown>, key: string, value: unknown, enumerable = false): void {
  Object.defineProperty(o, key, { value, writable: true, configurable: true, enumerable });
}

function joinGroups(groups: string[][]): string[] {
  return groups
    .filter((g) => g.length)
    .flatMap((g, i, all) => (i < all.length - 1 ? [...g, ''] : g));
}
