/**
 * The one place where the shell's front end reaches into node:repl's
 * private members. Everything else uses the REPL's public options (`eval`,
 * `completer`, `setupHistory`, `Recoverable`). Stable from Node 22 to 24.
 *
 * Why a private is needed: the shell evaluates lines itself (a session, which
 * a remote front end drives the same way), so the REPL sees a custom `eval`,
 * and node:repl gives a custom eval none of what it does for its own during
 * an evaluation — it neither holds the keys typed meanwhile nor lets Ctrl+C
 * stop the evaluation (its Ctrl+C handler clears the line, prints "(To exit,
 * press Ctrl+C again…)" and closes the REPL at the second press). Both happen
 * in the REPL's key handler, `_ttyWrite` (readline's `[kTtyWrite]` reads it),
 * which is wrapped here:
 *
 * - while an evaluation runs, Ctrl+C calls `interrupt()` instead of reaching
 *   the REPL, and every other key is held and replayed when it has ended
 *   (as node:repl does for its own top-level await);
 * - the REPL never sees those keys, so a line typed ahead is not mixed into
 *   the output of the running one.
 */
import type { REPLServer } from 'node:repl';

interface Key {
  name?: string;
  ctrl?: boolean;
}

type TtyWrite = (data: unknown, key: Key | undefined) => void;

export interface KeyHold {
  /** Call when an evaluation has ended: replays the keys typed meanwhile. */
  release(): void;
}

export function holdKeysWhileBusy(
  server: REPLServer,
  hooks: { busy(): boolean; interrupt(): void },
): KeyHold {
  const r = server as unknown as { _ttyWrite?: TtyWrite };
  const original = r._ttyWrite;
  if (typeof original !== 'function') return { release() {} }; // not a terminal: no keys
  const held: [unknown, Key | undefined][] = [];
  r._ttyWrite = (data, key) => {
    if (!hooks.busy()) {
      original.call(server, data, key);
      return;
    }
    if (key?.ctrl && key.name === 'c') hooks.interrupt();
    else held.push([data, key]);
  };
  return {
    release() {
      while (held.length > 0 && !hooks.busy()) {
        const [data, key] = held.shift()!;
        r._ttyWrite!.call(server, data, key);
      }
    },
  };
}
