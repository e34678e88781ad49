/**
 * release — a release upgrade, `upgrade({ load, change })` (S8.4): what
 * OTP's release_handler does with an appup's `load_module` and
 * `update … {advanced, Extra}` instructions, for one node.
 *
 * 1. prepare every module of `load` (nothing changes if one fails);
 * 2. soft-purge their old code — refused if any process uses it
 *    (`not_purged`, nothing changes); the purged versions are held here so a
 *    rollback can reinstate them;
 * 3. suspend every server of `change` and keep its state;
 * 4. load all of `load` at once;
 * 5. `sys.changeCode` each server with the `vsn` its module had before;
 * 6. resume them; 7. soft-purge the versions the load replaced (refused →
 *    still a success, reported in `oldInUse`).
 *
 * If a step fails, every module of `load` gets back its previous current and
 * old versions (a process that entered a withdrawn new version is killed: that
 * version no longer exists), every changed server gets back its previous state
 * (so `codeChange` must return a new state, not mutate the old one), all are
 * resumed on the previous code, and the result says `rolledBack: true`.
 */
import {
  BadArgError,
  checkProcessCode,
  code,
  exit,
  Pid,
  processes,
  run,
  services,
  type VersionsTransaction,
  whereis,
} from 'hotcode';
import type { UpgradeChange, UpgradeOptions, UpgradeResult } from '../behaviours.js';
import * as genServer from './genServer';
import * as sys from './sys';

export const vsn = '1';

interface Change {
  server: Pid | string;
  module: string;
  extra: unknown;
  oldVsn: string | undefined;
}

interface Progress {
  /** The versions of `load` before the upgrade (held until it ends, for a rollback). */
  versions: VersionsTransaction;
  /** finishLoading succeeded: the new versions are current. */
  loaded: boolean;
  /** Servers asked to suspend (a request that timed out may still be handled later). */
  suspended: Change[];
  /** Servers asked to run codeChange, with the state they had before. */
  changed: { change: Change; state: unknown }[];
  states: Map<Change, unknown>;
  /** Servers that did not answer in time: the rollback does not wait for them. */
  late: Set<Change>;
  /**
   * Servers whose codeChange did not return in time: their state cannot be
   * trusted, so the rollback kills them (a supervisor restarts them on the
   * previous code) instead of waiting for them (S8.4).
   */
  stuck: Set<Change>;
}

type Failure = Extract<UpgradeResult, { rolledBack: true }>;

/**
 * Upgrades the running node (S8.4) → `{ ok: true, pausedMs, oldInUse? }` or
 * `{ error, module?, server?, reason?, rolledBack: true }`.
 *
 * @example
 * // new object files for `handler` are on the code path (compile.file wrote them)
 * const r = await upgrade({ load: ['handler'], change: [{ server: 'handler', module: 'handler' }] });
 */
export async function upgrade(opts: UpgradeOptions): Promise<UpgradeResult> {
  if (services.caller() === undefined) {
    // From plain code (S0.2): one short-lived process makes all the sys requests.
    const r = await run(async () => {
      try {
        return { value: await upgrade(opts) };
      } catch (error) {
        return { error };
      }
    });
    if ('error' in r) throw r.error;
    return r.value;
  }
  if (opts === null || typeof opts !== 'object')
    throw new BadArgError('upgrade: expected { load, change? }');
  if (!Array.isArray(opts.load)) throw new BadArgError('upgrade: load must be an array of modules');
  const load = [...new Set(opts.load.map((m) => services.moduleArg(m, 'upgrade')))];
  const changes = (opts.change ?? []).map(checkChange);
  const timeout = opts.timeoutMs ?? 5000;

  // 1. Prepare: read and compile every object file; nothing changes on failure.
  const prep = code.prepareLoading(load);
  if ('error' in prep) {
    const e = prep.error[0]!;
    return fail(e.error, { module: e.module, reason: (e as { reason?: unknown }).reason });
  }

  // 2. Old code of the modules to load must be unused; then purge it (held for a rollback).
  for (const m of load) {
    if (code.checkOldCode(m) && processes().some((p) => checkProcessCode(p, m)))
      return fail('not_purged', { module: m });
  }
  const progress: Progress = {
    versions: services.versionsTransaction(load),
    loaded: false,
    suspended: [],
    changed: [],
    states: new Map(),
    late: new Set(),
    stuck: new Set(),
  };
  for (const m of load) {
    if (!code.softPurge(m)) {
      await rollback(progress);
      return fail('not_purged', { module: m });
    }
  }
  progress.versions.mark();
  for (const c of changes) c.oldVsn = code.versions(c.module).current?.vsn;

  // 3. Suspend the servers and keep their states.
  const t0 = performance.now();
  for (const c of changes) {
    progress.suspended.push(c);
    try {
      // genServer's suspend answers with the state it had at the suspension.
      progress.states.set(
        c,
        await genServer.systemCall(c.server, { type: 'suspend' }, timeout, 'upgrade'),
      );
    } catch (e) {
      progress.late.add(c);
      await rollback(progress);
      return callFailure(e, c);
    }
  }

  // 4. Load all at once.
  const fin = code.finishLoading(prep.prepared);
  if ('error' in fin) {
    await rollback(progress);
    const e = fin.error[0]!;
    return fail(e.error, { module: e.module, reason: (e as { reason?: unknown }).reason });
  }
  progress.loaded = true;
  progress.versions.mark();

  // 5. Migrate each server's state with the current version's codeChange.
  for (const c of changes) {
    let r: Awaited<ReturnType<typeof sys.changeCode>>;
    progress.changed.push({ change: c, state: progress.states.get(c) });
    try {
      r = await sys.changeCode(c.server, c.module, c.oldVsn, c.extra, timeout);
    } catch (e) {
      progress.late.add(c);
      if ((e as { code?: unknown } | null)?.code === 'timeout') progress.stuck.add(c);
      await rollback(progress);
      return callFailure(e, c);
    }
    if ('error' in r) {
      await rollback(progress);
      return fail(r.error === 'not_suspended' ? 'code_change_failed' : r.error, {
        server: c.server,
        module: c.module,
        reason: 'reason' in r ? r.reason : r.error,
      });
    }
  }

  // 6. Resume.
  for (const c of changes) {
    try {
      await sys.resume(c.server, timeout);
    } catch (e) {
      progress.late.add(c);
      await rollback(progress);
      return callFailure(e, c);
    }
  }
  const pausedMs = changes.length ? performance.now() - t0 : 0;

  // 7. Soft-purge what the load replaced; the held old versions are dropped with `progress`.
  const oldInUse = load.filter((m) => !code.softPurge(m));
  return oldInUse.length ? { ok: true, pausedMs, oldInUse } : { ok: true, pausedMs };
}

function checkChange(c: UpgradeChange): Change {
  if (c === null || typeof c !== 'object')
    throw new BadArgError('upgrade: each change must be { server, module, extra? }');
  if (!(c.server instanceof Pid) && typeof c.server !== 'string')
    throw new BadArgError('upgrade: change.server must be a Pid or a registered name');
  return {
    server: c.server,
    module: services.moduleArg(c.module, 'upgrade'),
    extra: c.extra,
    oldVsn: undefined,
  };
}

function fail(error: Failure['error'], extra: Omit<Failure, 'error' | 'rolledBack'>): Failure {
  const r: Failure = { error, rolledBack: true };
  if (extra.module !== undefined) r.module = extra.module;
  if (extra.server !== undefined) r.server = extra.server;
  if (extra.reason !== undefined) r.reason = extra.reason;
  return r;
}

function callFailure(e: unknown, c: Change): Failure {
  const code_ = (e as { code?: unknown } | null)?.code;
  const error = code_ === 'noproc' || code_ === 'timeout' ? code_ : 'noproc';
  return fail(error, { server: c.server, module: c.module, reason: e });
}

// ---- rollback -------------------------------------------------------------------------------

async function rollback(p: Progress): Promise<void> {
  p.versions.rollback();
  // Each server's requests are queued in order (state back, then resume), also
  // behind a request that timed out; we wait only for servers that answer.
  const waits: Promise<unknown>[] = [];
  const restored = new Map(p.changed.map((x) => [x.change, x.state]));
  for (const c of p.suspended) {
    if (p.stuck.has(c)) {
      const pid = c.server instanceof Pid ? c.server : whereis(c.server);
      if (pid !== undefined) exit(pid, 'kill');
      continue;
    }
    const reqs: Promise<unknown>[] = [];
    if (restored.has(c)) {
      const state = restored.get(c);
      reqs.push(sys.replaceState(c.server, () => state, 'infinity'));
    }
    reqs.push(sys.resume(c.server, 'infinity'));
    // A server that died meanwhile has nothing to give back.
    for (const r of reqs) r.catch(() => {});
    if (!p.late.has(c)) waits.push(...reqs);
  }
  await Promise.allSettled(waits);
}
