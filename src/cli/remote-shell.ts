/**
 * `hotcode remote NAME` (S9.4, Erlang's `erl -remsh`): the local line editor
 * (node:repl: history, Tab, multi-line input) in front of a shell session
 * on the node (shell/session.ts, driven over the control connection).
 *
 * - Each line is evaluated on the node as its shell process; what the node
 *   prints meanwhile (`m()`, `i()`, `console.log`) streams back.
 * - Tab asks the node: its modules and their exports.
 * - `q()` or Ctrl-D detaches: the node keeps running (its shell session
 *   ends, nothing else).
 * - Ctrl-C interrupts the line running on the node. A line stuck in its
 *   synchronous part (an endless loop) blocks the node's event loop, so no
 *   message can reach it: when the node said that part is running
 *   (`shell.sync`) and the interrupt gets no answer, the client sends the
 *   node's process a SIGINT, which stops that part (the node runs it with
 *   breakOnSigint and listens for SIGINT while remote shells are open).
 *   Over TCP there is no signal to send: such a line cannot be interrupted.
 * - Piped input (not a terminal) is evaluated line by line, in order.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import repl from 'node:repl';
import type { WireEvalResult } from '../control/protocol.js';
import type { RemoteNode } from '../index.js';
import { createStyle, wantsColor } from '../shell/format.js';
import { holdKeysWhileBusy } from '../shell/repl-adapter.js';

export interface RemoteShellOptions {
  /** How the node was named on the command line (for messages). */
  shown: string;
  /** The node is on this machine (a Unix socket): a stuck line can be interrupted by a signal. */
  local: boolean;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

/** How long an interrupt may go unanswered before the node gets a SIGINT. */
const SIGNAL_AFTER_MS = 300;
/** After this, a Ctrl-C stops watching (press it again). */
const GIVE_UP_MS = 10_000;

/** Runs the remote shell until the user detaches; the exit status. */
export async function remoteShell(node: RemoteNode, opts: RemoteShellOptions): Promise<number> {
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stdout;
  const terminal =
    (output as NodeJS.WriteStream).isTTY === true && (input as NodeJS.ReadStream).isTTY === true;
  const style = createStyle(wantsColor(output));
  const columns = () => (output as NodeJS.WriteStream).columns || 80;
  const { session } = (await node.request('shell.open', {
    columns: columns(),
    color: style.color,
  })) as { session: number };

  let busy = 0;
  let syncRunning = false;
  let detached = false;
  let print = (text: string): void => {
    output.write(`${text}\n`);
  };
  node.onEvent((e) => {
    if (e.session !== session) return;
    if (e.event === 'shell.output' && typeof e.text === 'string') print(e.text);
    if (e.event === 'shell.sync') syncRunning = e.running === true;
  });

  const evaluate = (code: string) =>
    node.request('shell.eval', { session, code }) as Promise<WireEvalResult>;

  function interrupt(): void {
    void node.request('shell.interrupt', { session }).catch(() => {});
    if (!opts.local) return;
    // If the line is (or turns out to be) in its synchronous part and the interrupt ends
    // nothing, the node is blocked: a signal is the only way in. (The node says when that
    // part starts and ends; a signal that arrives as it ends is absorbed by the node.)
    const pressed = Date.now();
    const watch = setInterval(() => {
      const waited = Date.now() - pressed;
      if (busy === 0 || waited > GIVE_UP_MS) clearInterval(watch);
      else if (syncRunning && waited >= SIGNAL_AFTER_MS) {
        clearInterval(watch);
        // (a pid of 0 or less would signal a whole process group: this terminal's)
        if (node.info.pid > 0)
          try {
            process.kill(node.info.pid, 'SIGINT');
          } catch {}
      }
    }, 50);
  }

  const banner = style.dim(
    `hotcode remote shell on node ${node.info.name || opts.shown} (pid ${node.info.pid}, hotcode ${node.info.hotcode}); q() or Ctrl+D detaches (the node keeps running)`,
  );
  output.write(`${banner}\n`);

  const lost = node.closed.then(() => {
    if (!detached) {
      detached = true;
      output.write(`\n${style.red(`connection to node ${opts.shown} lost`)}\n`);
      return 1;
    }
    return 0;
  });

  let done: Promise<number>;
  if (!terminal) done = pipedLines();
  else done = interactive();
  const status = await Promise.race([done, lost]);
  detached = true;
  await node.request('shell.close', { session }).catch(() => {});
  // In a terminal, say so: the node keeps running (piped output stays the lines' answers only).
  if (terminal && status === 0)
    output.write(
      `${style.dim(`detached from node ${node.info.name || opts.shown}; it keeps running`)}\n`,
    );
  return status;

  // ---- piped input: each line in order ---------------------------------------------------
  async function pipedLines(): Promise<number> {
    const rl = readline.createInterface({ input, terminal: false });
    let pending = '';
    for await (const line of rl) {
      if (detached) break;
      const code = pending === '' ? line : `${pending}\n${line}`;
      busy++;
      let r: WireEvalResult;
      try {
        r = await evaluate(code);
      } catch {
        return 1;
      } finally {
        busy--;
      }
      if (r.type === 'incomplete') {
        pending = code;
        continue;
      }
      pending = '';
      if (r.text !== '') print(r.text);
      if (r.type === 'value' && r.quit) {
        rl.close();
        return 0;
      }
    }
    return 0;
  }

  // ---- a terminal: node:repl as the line editor ------------------------------------------
  function interactive(): Promise<number> {
    const history =
      process.env.HOTCODE_HISTORY === undefined
        ? join(homedir(), '.hotcode', 'remote_history')
        : process.env.HOTCODE_HISTORY;
    const server = repl.start({
      prompt: `${node.info.name || 'remote'}> `,
      input,
      output,
      terminal: true,
      useColors: style.color,
      preview: false,
      ignoreUndefined: true,
      eval: (code: string, _c: object, _f: string, cb: (e: Error | null, r?: unknown) => void) => {
        busy++;
        evaluate(code).then(
          (r) => {
            busy--;
            keys.release();
            if (r.type === 'incomplete') {
              cb(new repl.Recoverable(new SyntaxError('the input goes on at the next line')));
              return;
            }
            if (r.text !== '') output.write(`${r.text}\n`);
            if (r.type === 'value' && r.quit) {
              detached = true;
              server.close();
              return;
            }
            cb(null);
          },
          () => {
            busy--;
            keys.release();
          },
        );
      },
      completer: (line: string, cb: (e: Error | null, r?: [string[], string]) => void) => {
        node.request('shell.complete', { session, line }).then(
          (r) => cb(null, r as [string[], string]),
          () => cb(null, [[], line]),
        );
      },
      historySize: 1000,
    } as repl.ReplOptions);
    const keys = holdKeysWhileBusy(server, { busy: () => busy > 0, interrupt });
    if (history !== '')
      server.setupHistory(history, (e) => {
        if (e) output.write(`${style.dim(`(history is off: ${e.message})`)}\n`);
      });
    // What the node prints while the prompt waits goes above it, keeping the line being typed.
    print = (text) => {
      if (busy > 0) {
        output.write(`${text}\n`);
        return;
      }
      output.write(`\r\x1b[K${text}\n`);
      server.prompt(true);
    };
    return new Promise((resolve) => {
      server.on('exit', () => {
        detached = true;
        resolve(0);
      });
    });
  }
}
