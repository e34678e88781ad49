/**
 * The interactive shell (S7) in a local terminal: node:repl as the line
 * editor (history, Tab, multi-line input) in front of a shell session
 * (`session.ts`), which evaluates each line as the shell's process and
 * completes names. A remote front end (S9.4) drives the same session.
 *
 * - Lines are sent to the session one at a time, in order; what it prints
 *   while a line runs is written as it comes, and what happens while the
 *   prompt waits (crash reports, watch reports, the shell process replaced)
 *   is printed above the prompt, keeping the line being typed.
 * - Ctrl+C during a line stops its wait (and, for the line's synchronous
 *   part, even an endless loop: the terminal raises SIGINT then); keys typed
 *   during a line are held until it ends (repl-adapter.ts).
 * - Input that stops in the middle (an open call, a block) continues on the
 *   next line, as in node:repl.
 * - Only Tab completes: there are no previews, so nothing is loaded by
 *   looking (`counter.` + Tab loads `counter` to list its exports).
 */

import repl from 'node:repl';
import { types } from 'node:util';
import vm from 'node:vm';
import { stop as restartEsbuildAtNextUse } from 'esbuild';
import type { Pid } from '../index.js';
import * as api from '../index.js';
import { createStyle, formatError, formatReason, type Style, wantsColor } from './format.js';
import { holdKeysWhileBusy } from './repl-adapter.js';
import { createShellSession, type ShellSession } from './session.js';
import { prepare } from './toplevel.js';

export { createShellSession, type EvalResult, type ShellSession } from './session.js';

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
  /** The node's type gate is on (default true). */
  typecheck?: boolean;
  prompt?: string;
  /** Printed when the shell starts. */
  banner?: string;
}

export interface Shell {
  readonly repl: repl.REPLServer;
  readonly session: ShellSession;
  readonly style: Style;
  /** Prints above the prompt (for watch reports, crash reports): the line being typed is kept. */
  print(text: string): void;
  /** The shell's current process. */
  pid(): Pid;
  /** Resolves when the user leaves the shell (Ctrl+D, `.exit`, `q()`). */
  readonly closed: Promise<void>;
}

/** Does this input stop in the middle (an open call, block or template)? Then it goes on at the next line. */
export function needsMoreInput(code: string): boolean {
  return (
    prepare(code, (c) => {
      new vm.Script(c);
    }).type === 'incomplete'
  );
}

interface RawInput {
  isRaw?: boolean;
  setRawMode?(mode: boolean): void;
}

export function startShell(options: ShellOptions): Shell {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const terminal = options.terminal ?? (output as NodeJS.WriteStream).isTTY === true;
  const style = createStyle(options.color ?? wantsColor(output));
  const columns = () => (output as NodeJS.WriteStream).columns || 80;

  /** Lines sent to the session and not answered yet (more than one only with piped input). */
  let busy = 0;
  /** `q()` was called: the shell is leaving. */
  let quitting = false;
  /** Piped input that stops in the middle: it goes on with the next line. */
  let unfinished = '';
  let closing = false;
  let drained: (() => void) | undefined;

  const session = createShellSession({
    src: options.src,
    output: (text) => notify(text),
    color: style.color,
    columns,
    typecheck: options.typecheck ?? true,
  });

  if (options.banner) output.write(`${options.banner}\n`);
  const server = repl.start({
    prompt: options.prompt ?? 'hotcode> ',
    input,
    output,
    terminal,
    useColors: style.color,
    preview: false,
    ignoreUndefined: true,
    eval: evalLine,
    completer: (line: string, cb: (err: Error | null, result?: [string[], string]) => void) => {
      session.complete(line, { load: true }).then(
        (r) => cb(null, r),
        (e: Error) => cb(e),
      );
    },
    // (a readline option that node:repl passes on)
    historySize: 1000,
  } as repl.ReplOptions);
  const keys = holdKeysWhileBusy(server, {
    busy: () => busy > 0,
    interrupt: () => session.interrupt(),
  });

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
    server.prompt(true);
  }

  function evalLine(
    code: string,
    _context: object,
    _file: string,
    cb: (err: Error | null, result?: unknown) => void,
  ): void {
    if (!terminal) {
      // Piped lines come in a burst, before earlier ones have answered: node:repl's own
      // buffer of an unfinished input would be cleared by an earlier line's answer, so
      // unfinished input is kept here.
      code = unfinished + code;
      unfinished = '';
      if (needsMoreInput(code)) {
        unfinished = code;
        cb(null);
        return;
      }
    } else if (needsMoreInput(code)) {
      cb(new repl.Recoverable(new SyntaxError('the input goes on at the next line')));
      return;
    }
    busy++;
    // Ctrl+C raises SIGINT while the line's synchronous part runs, which stops even an
    // endless loop (the session runs it with breakOnSigint); then the keys are ours again.
    const raw = input as RawInput;
    const wasRaw = terminal && raw.isRaw === true && typeof raw.setRawMode === 'function';
    if (wasRaw) raw.setRawMode!(false);
    let answer: ReturnType<ShellSession['evaluate']>;
    try {
      answer = session.evaluate(code);
    } finally {
      if (wasRaw) raw.setRawMode!(true);
    }
    void answer.then((r) => {
      busy--;
      // A Ctrl+C during the line's synchronous part was a SIGINT to the whole process
      // group, which ends esbuild's service process too: the next compile starts a new one.
      if (r.type === 'interrupted' && wasRaw) void restartEsbuildAtNextUse();
      if (quitting) {
        // q(): the lines after it are not run (the session is closed) nor answered.
      } else if (r.type === 'incomplete') {
        cb(new repl.Recoverable(new SyntaxError('the input goes on at the next line')));
      } else {
        if (r.text !== '') print(r.text);
        if (r.type === 'value' && r.quit) {
          quitting = true;
          session.close();
          server.close();
        } else cb(null);
      }
      if (busy === 0) {
        keys.release();
        if (closing) drained?.();
      }
    });
  }

  // A SIGINT that reaches the process (not a key of the terminal): stop the line in progress;
  // with piped input and nothing running, it ends the shell as the end of the input would.
  const onSigint = () => {
    if (session.interrupt()) return;
    if (busy === 0 && !terminal) server.close();
  };
  const ownsSignals = options.input === undefined;
  if (ownsSignals) process.on('SIGINT', onSigint);

  // ---- history ---------------------------------------------------------------------------
  if (options.history) {
    server.setupHistory(options.history, (err) => {
      if (err) print(style.dim(`(history is off: ${err.message})`));
    });
  }

  api.setLogger({
    error(_message, meta) {
      // The shell's own death is told in one line by the session, and a process that
      // Ctrl+C ended before its first wait by the line that says `interrupted`.
      if (session.isShellProcess(meta.pid) || meta.reason === 'interrupted') return;
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
    server.on('exit', () => {
      closing = true;
      if (ownsSignals) process.off('SIGINT', onSigint);
      const done = () => {
        session.close();
        resolve();
      };
      // Input ended (Ctrl+D, end of a pipe): let the lines still being evaluated finish.
      if (busy === 0) done();
      else drained = done;
    });
  });

  return {
    repl: server,
    session,
    style,
    print: notify,
    pid: () => session.pid(),
    closed,
  };
}
