/**
 * The control protocol after the handshake (auth.ts): requests, replies and
 * events, each one JSON frame (frame.ts).
 *
 *   client → node   { id, cmd, args }
 *   node → client   { id, ok: true, value }  |  { id, ok: false, error: { code, message, reason? } }
 *   node → client   { event, ... }            (unsolicited: a remote shell's output)
 *
 * Requests run concurrently; replies carry the request's `id`. A command is
 * a name and one JSON object of arguments; {@link Commands} lists them with
 * their arguments and results. New commands are added on the node side
 * (commands.ts) and reached from a client with `request(cmd, args)`.
 */
import type { SystemVersion } from '../compiler/check.js';
import type {
  Action,
  ActionResult,
  Inspection,
  Snapshot,
  SnapshotOptions,
} from '../observe/types.js';
import type { Diagnostic } from '../types.js';

export interface Request {
  id: number;
  cmd: string;
  args?: Record<string, unknown>;
}

export interface WireError {
  /** A stable code: the remote error's own (`undef`, `badarg`, …), or `exit` with `reason`. */
  code: string;
  message: string;
  /** A description of the exit reason when the error had no code of its own. */
  reason?: string;
}

export type Reply =
  | { id: number; ok: true; value?: unknown }
  | { id: number; ok: false; error: WireError };

/** What the welcome tells an authenticated client about the node. */
export interface NodeInfo {
  name: string;
  /** The node's OS process id. */
  pid: number;
  /** hotcode's version on the node. */
  hotcode: string;
}

/** A module as `status` shows it. */
export interface ModuleStatus {
  module: string;
  /** One of the runtime's own modules (genServer, supervisor, …). */
  sticky: boolean;
  current?: { number?: number; vsn: string; loadedAt: number };
  old?: { number?: number; vsn: string; users: number };
}

/** `hotcode status NAME` (S9.4). */
export interface NodeStatus {
  name: string;
  pid: number;
  uptimeMs: number;
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number };
  processes: number;
  modules: ModuleStatus[];
}

/** An object file to load, as the deploying side compiled it. */
export interface WireObject {
  module: string;
  text: string;
}

/** What `deploy.apply` answers (pids in their printed form). */
export type WireDeployResult =
  | {
      modules: string[];
      killed: string[];
      /** Each module's version number after the load (absent with `check`). */
      versions: { module: string; to?: number }[];
      /** A release upgrade: how long the servers were suspended; versions in use after. */
      pausedMs?: number;
      oldInUse?: string[];
    }
  | { error: 'conflict'; modules: string[] }
  | { error: 'stopped' }
  | { error: 'write'; reason: string }
  | { error: { module: string; error: string }[] }
  | {
      error: string;
      module?: string;
      server?: string;
      reason?: string;
      rolledBack: true;
    };

/** A remote shell's answer to one line (shell/session.ts's EvalResult). */
export type WireEvalResult =
  | { type: 'value'; text: string; quit?: true }
  | { type: 'error'; text: string }
  | { type: 'interrupted'; text: string }
  | { type: 'incomplete' };

/**
 * Every command the node answers: its arguments and its result.
 *
 * - `ping` — a round trip.
 * - `rpc` — runs `module.fn(...args)` as a new process; the result as JSON
 *   (pids printed, Maps and Sets as arrays); an error with the remote
 *   error's code, or `exit` and the exit reason.
 * - `eval` — one shell expression in a fresh shell session: its printed
 *   value, what it printed on the way, and whether it failed.
 * - `status` — {@link NodeStatus}.
 * - `stop` — answers, then stops the node and ends its OS process (status 0).
 * - `deploy.describe` — the loaded versions, their recorded sources and
 *   users (compiler/check.ts's SystemVersion), and the pids of the named
 *   servers (for an upgrade's transition check).
 * - `deploy.apply` — loads object files as one change through the queue,
 *   if the current versions are still `expect`'s (else `conflict`); with
 *   `upgrade`, as a release upgrade (S8.4) with those `change` specs.
 * - `history` — the last code changes (the observer's history, S10.2).
 * - `observer.snapshot`, `observer.subscribe` / `observer.inspect` /
 *   `observer.unsubscribe`, `observer.act` — the observer's (S10;
 *   observe/commands.ts): a snapshot of the node, one pushed every second
 *   as `{ event: 'observer.snapshot', sub, snapshot }`, and the page's actions.
 * - `shell.open` — a shell session on the node (S7) for a remote shell:
 *   its output comes as `{ event: 'shell.output', session, text }`, and
 *   `{ event: 'shell.sync', session, running }` says when a line's
 *   synchronous part starts and ends (only a signal can interrupt it).
 * - `shell.eval`, `shell.complete`, `shell.interrupt`, `shell.close`.
 */
export interface Commands {
  ping: { args: Record<string, never>; result: { pong: true } };
  rpc: { args: { module: string; fn: string; args?: unknown[] }; result: unknown };
  eval: {
    args: { expr: string };
    result: { ok: boolean; text: string; output: string[] };
  };
  status: { args: Record<string, never>; result: NodeStatus };
  stop: { args: Record<string, never>; result: { stopping: true } };
  'deploy.describe': {
    args: { servers?: string[] };
    result: { system: SystemVersion<string>[]; servers: Record<string, string | null> };
  };
  'deploy.apply': {
    args: {
      objects: WireObject[];
      expect: Record<string, string | null>;
      kill?: string[];
      check?: boolean;
      upgrade?: { change: { server: string; module: string; extra?: unknown }[] };
    };
    result: WireDeployResult;
  };
  history: { args: Record<string, never>; result: unknown[] };
  'observer.snapshot': { args: SnapshotOptions; result: Snapshot };
  'observer.subscribe': { args: SnapshotOptions & { sub: number }; result: { sub: number } };
  'observer.inspect': { args: { sub: number; inspect: Inspection[] }; result: boolean };
  'observer.unsubscribe': { args: { sub: number }; result: boolean };
  'observer.act': { args: { action: Action }; result: ActionResult };
  'shell.open': { args: { columns?: number; color?: boolean }; result: { session: number } };
  'shell.eval': { args: { session: number; code: string }; result: WireEvalResult };
  'shell.complete': { args: { session: number; line: string }; result: [string[], string] };
  'shell.interrupt': { args: { session: number }; result: boolean };
  'shell.close': { args: { session: number }; result: true };
}

/** The deploying side's result (S9.4, S9.5): loaded, or why not. */
export type DeployResult =
  | { modules: string[]; killed: string[] }
  | { error: 'compile'; diagnostics: Diagnostic[]; oldUsers?: { module: string; pids: string[] }[] }
  | { error: 'nofile'; module: string; diagnostics?: undefined }
  | { error: string; diagnostics?: Diagnostic[]; [detail: string]: unknown };
