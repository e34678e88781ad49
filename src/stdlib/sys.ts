/**
 * sys — OTP's sys for any genServer (and supervisor, which is one), S8.2.
 *
 * Each function sends a system request (`{ $gen: 'system', … }`, genServer's
 * protocol) and waits for the answer like `genServer.call`: every one is a
 * promise that rejects with code `'noproc'` or `'timeout'` (default 5000 ms).
 * A suspended server handles system requests only; its other messages wait
 * in its mailbox, in order, until `resume`.
 */
import { services } from 'hotcode';
import type { ChangeCodeResult, ServerRef, ServerStatus, StateOf, Timeout } from '../behaviours.js';
import * as genServer from './genServer';

export const vsn = '1';

/** The server then handles only system requests (S8.2). */
export async function suspend(server: ServerRef, timeoutMs: Timeout = 5000): Promise<void> {
  await genServer.systemCall(server, { type: 'suspend' }, timeoutMs, 'sys.suspend');
}

export async function resume(server: ServerRef, timeoutMs: Timeout = 5000): Promise<void> {
  await genServer.systemCall(server, { type: 'resume' }, timeoutMs, 'sys.resume');
}

/**
 * Only while suspended: runs the current version's `codeChange(oldVsn,
 * state, extra)` and keeps the state it returns → `{ ok: true }`; if it
 * throws, the state is unchanged → `{ error: 'code_change_failed', reason }`;
 * not suspended → `{ error: 'not_suspended' }`. `module` is the server's
 * callback module (as in OTP, the server calls its own module).
 */
export async function changeCode(
  server: ServerRef,
  module: unknown,
  oldVsn: string | undefined,
  extra?: unknown,
  timeoutMs: Timeout = 5000,
): Promise<ChangeCodeResult> {
  services.moduleArg(module, 'sys.changeCode');
  return (await genServer.systemCall(
    server,
    { type: 'changeCode', oldVsn, extra },
    timeoutMs,
    'sys.changeCode',
  )) as ChangeCodeResult;
}

export async function getState<M = unknown>(
  server: ServerRef<M>,
  timeoutMs: Timeout = 5000,
): Promise<StateOf<M>> {
  return (await genServer.systemCall(
    server,
    { type: 'getState' },
    timeoutMs,
    'sys.getState',
  )) as StateOf<M>;
}

/** `{ status: 'running' | 'suspended', module, state, pid, name? }`. */
export async function getStatus<M = unknown>(
  server: ServerRef<M>,
  timeoutMs: Timeout = 5000,
): Promise<ServerStatus<StateOf<M>>> {
  return (await genServer.systemCall(
    server,
    { type: 'getStatus' },
    timeoutMs,
    'sys.getStatus',
  )) as ServerStatus<StateOf<M>>;
}

/**
 * OTP's sys:replace_state: the state becomes `fn(state)` (also while
 * suspended); resolves with the new state. If `fn` throws, the state is
 * unchanged and the promise rejects with what it threw.
 */
export async function replaceState<S = unknown>(
  server: ServerRef,
  fn: (state: S) => S,
  timeoutMs: Timeout = 5000,
): Promise<S> {
  if (typeof fn !== 'function') throw new TypeError('sys.replaceState: expected a function');
  const r = (await genServer.systemCall(
    server,
    { type: 'replaceState', fn },
    timeoutMs,
    'sys.replaceState',
  )) as { ok: true; state: S } | { error: string; reason: unknown };
  if ('error' in r) throw r.reason;
  return r.state;
}
