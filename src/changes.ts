/**
 * The asynchronous code changes of the public API — `c`, `lm`, `upgrade`
 * (and, through them, watch mode) — and `compile.file`. Each change waits
 * its turn in the code server's queue (S6.7): it starts when the change
 * before it has settled, reads its sources then, type-checks them against
 * what the changes before it left loaded, re-checks if a synchronous change
 * moved a module meanwhile, and loads without yielding between the last
 * check and the load. A change cut short by `stop` settles with
 * `{ error: 'stopped' }` and loads nothing (S0.1).
 *
 * This file sits above the compiler and the code server (it uses both);
 * the code server itself knows nothing of compiling.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type ChangeContext, explain, STOPPED, type Stopped } from './code/server.js';
import { checkChange, type SystemVersion } from './compiler/check.js';
import { compileModules, type GateVerdict } from './compiler/index.js';
import { badarg } from './errors.js';
import { currentNode, type NodeState, processes, server, typeGate } from './node.js';
import { Pid } from './process/pid.js';
import type {
  CManyResult,
  CompileFailed,
  CompileOptions,
  CResult,
  Diagnostic,
  LoadResult,
  ModuleArg,
  ModuleLoadError,
  NoSource,
  OldUsers,
  PreparedCode,
} from './types.js';
import { isModuleName, moduleOfSourceFile } from './vocabulary.js';

type SourceText = { module: string; file: string; text: string };

/**
 * What a change's type check found about its transitions (S6.2): who runs
 * the old versions it would break; filled by the gate, read by `c`.
 */
interface TransitionOutcome {
  /** Users of broken old versions, per module (a refusal's `oldUsers`). */
  oldUsers: OldUsers[];
  /** With `oldCode: 'kill'`: the processes to kill when the change loads. */
  kill: Pid[];
}

// ---- the history of code changes (S10.2) ------------------------------------------------

/** Where a change came from (the observer's history shows it). */
export type ChangeOrigin =
  | 'api'
  | 'shell'
  | 'watch'
  | 'deploy'
  | 'upgrade'
  | 'cluster'
  | 'observer';

/** One code change as the history keeps it. */
export interface ChangeRecord {
  /** When it settled (ms since the epoch). */
  at: number;
  origin: ChangeOrigin;
  /** Queued changes (`c`, `lm`, upgrades, deploys) and synchronous ones (`l`, the code API's loads, purges and deletes). */
  kind: 'c' | 'lm' | 'upgrade' | 'deploy' | 'l' | 'load' | 'purge' | 'softPurge' | 'delete';
  /** Each module and its version numbers before and after (absent: none). */
  modules: { module: string; from?: number; to?: number }[];
  result: 'ok' | 'refused' | 'failed' | 'stopped';
  /** The error code when it did not load. */
  error?: string;
  /** Processes its purge (or `oldCode: 'kill'`) killed, printed. */
  killed: string[];
}

const HISTORY_SIZE = 200;
const history: ChangeRecord[] = [];
let origin: ChangeOrigin = 'api';

/** Runs `fn` with changes it starts attributed to `o` (the shell, watch mode, deploys). */
export function withOrigin<T>(o: ChangeOrigin, fn: () => T): T {
  const before = origin;
  origin = o;
  try {
    return fn();
  } finally {
    origin = before;
  }
}

/** The last code changes, oldest first. */
export function changeHistory(): ChangeRecord[] {
  return history.slice();
}

/** Starts recording a change: call the returned function with its result when it settles. */
function recordStart(
  kind: ChangeRecord['kind'],
  modules: readonly string[],
): (result: unknown) => void {
  const from = modules.map((m) => ({ module: m, from: server.versionNumber(m) }));
  const o = kind === 'upgrade' && origin === 'api' ? 'upgrade' : origin;
  return (result) => {
    const r = (result ?? {}) as { error?: unknown; ok?: unknown };
    const killed = ((result as { killed?: unknown[] } | undefined)?.killed ?? []).map(String);
    const error =
      r.error === undefined ? undefined : Array.isArray(r.error) ? 'load' : String(r.error);
    const entry: ChangeRecord = {
      at: Date.now(),
      origin: o,
      kind,
      modules: from.map((x) => {
        const to = server.versionNumber(x.module);
        const m: ChangeRecord['modules'][number] = { module: x.module };
        if (x.from !== undefined) m.from = x.from;
        if (to !== undefined) m.to = to;
        return m;
      }),
      result:
        error === undefined
          ? 'ok'
          : error === 'stopped'
            ? 'stopped'
            : error === 'compile' || error === 'conflict'
              ? 'refused'
              : 'failed',
      killed,
    };
    if (error !== undefined) entry.error = error;
    history.push(entry);
    if (history.length > HISTORY_SIZE) history.splice(0, history.length - HISTORY_SIZE);
  };
}

/** What a synchronous change of a module's versions can be recorded as. */
export type SyncChangeKind = 'l' | 'load' | 'purge' | 'softPurge' | 'delete';

/** Which versions of a module are loaded, as one comparable value. */
function versionsState(module: string): string {
  return `${server.versionNumber(module) ?? '-'}/${server.versions(module).old ? 'old' : '-'}`;
}

/**
 * Runs a synchronous change (`l`, `code.loadFile`, `code.purge`, …) and keeps it in
 * the history when it did something: moved a version, killed a process, or failed
 * to load a file that exists. A call that throws (bad input) or finds nothing to do
 * leaves no entry.
 */
export function recordedSync<T>(
  kind: SyncChangeKind,
  modules: readonly string[],
  run: () => T,
  outcome: (result: T) => { killed?: readonly unknown[] } = (r) => r as { killed?: unknown[] },
): T {
  const before = modules.map(versionsState);
  const done = recordStart(kind, modules);
  const result = run();
  const o = outcome(result) ?? {};
  const error = (result as { error?: unknown } | undefined)?.error;
  const failed = error !== undefined && error !== 'nofile';
  const moved = modules.some((m, i) => versionsState(m) !== before[i]);
  if (moved || failed || (o.killed?.length ?? 0) > 0)
    done({ ...(error !== undefined ? { error } : {}), killed: o.killed ?? [] });
  return result;
}

/** How many times a queued change re-runs its type check while synchronous changes keep moving modules. */
const MAX_RECHECKS = 5;

/**
 * A module argument of `c`: a name, a handle, or (S7.6) the path of a source
 * file, with its extension, directly in a source directory
 * (`c('src/room.ts')`). Any other path is refused with `badarg`, touching
 * no file.
 */
export function changeModuleArg(m: unknown, what: string, n: NodeState): string {
  if (typeof m === 'string' && !isModuleName(m) && /[/\\]|\.[cm]?[jt]sx?$/.test(m)) {
    const file = resolve(n.options.root, m);
    const module = moduleOfSourceFile(file);
    if (module !== undefined && n.options.src.includes(dirname(file)) && existsSync(file))
      return module;
    badarg(
      `${what}: '${m}' is neither a module name nor a source file directly in a source directory (${n.options.src.join(', ')})`,
    );
  }
  return server.moduleArg(m, what);
}

function moduleList(m: unknown, what: string, n: NodeState): string[] {
  return Array.isArray(m)
    ? [...new Set(m.map((x) => changeModuleArg(x, what, n)))]
    : [changeModuleArg(m, what, n)];
}

/**
 * One type check of a change against this node (compiler/check.ts): the
 * new sources, the loaded versions of every other user module, and the
 * transitions. Broken transitions are told in `outcome`.
 */
async function checkHere(
  n: NodeState,
  changed: SourceText[],
  oldCode: CompileOptions['oldCode'],
  outcome: TransitionOutcome,
  exclude?: ReadonlySet<Pid>,
  loads = true,
): Promise<GateVerdict> {
  // A change that loads nothing (compile.file) makes no version old: no transitions.
  const system = server.loadedVersions();
  const r = await checkChange(
    typeGate(n),
    loads ? system : system.map((v) => ({ ...v, users: [] })),
    changed,
    {
      oldCode,
      ...(exclude ? { exclude } : {}),
    },
  );
  outcome.oldUsers = r.oldUsers;
  outcome.kill = r.kill;
  return r.verdict;
}

/**
 * The type gate of one change: checks the new sources against the loaded
 * versions of every other user module and the transitions, and again if a
 * synchronous change moved a module while the check ran (S6.7).
 */
function gateOf(
  n: NodeState,
  change: ChangeContext | undefined,
  options: CompileOptions,
  outcome: TransitionOutcome,
): ((changed: SourceText[]) => Promise<GateVerdict>) | undefined {
  if (!(options.typecheck ?? n.options.typecheck)) return undefined;
  return async (changed) => {
    for (let attempt = 0; ; attempt++) {
      const before = change?.changes();
      const verdict = await checkHere(
        n,
        changed,
        options.oldCode,
        outcome,
        undefined,
        change !== undefined,
      );
      if (change !== undefined && !change.live()) return { ok: false, diagnostics: [] };
      const settled = change === undefined || change.changes() === before;
      if (settled || attempt >= MAX_RECHECKS) return verdict;
    }
  };
}

type CompileStep =
  | { ok: true; compiled: { module: string; file: string; text: string }[]; results: unknown[] }
  | { ok: false; failure: CompileFailed | NoSource | { error: 'write'; reason: unknown } };

/** Sources → gate → object files written (all or none). */
async function compileStep(
  n: NodeState,
  names: string[],
  options: CompileOptions,
  change: ChangeContext | undefined,
  outcome: TransitionOutcome = { oldUsers: [], kill: [] },
): Promise<CompileStep> {
  const out = await compileModules({
    modules: names,
    srcDirs: n.options.src,
    outDir: n.options.out,
    gate: gateOf(n, change, options, outcome),
  });
  if (out.ok) return out;
  if (out.error === 'nofile') {
    return {
      ok: false,
      // (the reason is the module that has no source: the CLI and the shell say where they looked)
      failure: explain({ error: 'nofile' as const }, out.module),
    };
  }
  if (out.error === 'write') return { ok: false, failure: { error: 'write', reason: out.reason } };
  const failure: CompileFailed = { error: 'compile', diagnostics: out.diagnostics };
  if (outcome.oldUsers.length > 0) failure.oldUsers = outcome.oldUsers;
  return { ok: false, failure };
}

/** `compile.file` (S6.1): writes object files, loads nothing; not a change, so not queued. */
export async function compileFile(
  module: ModuleArg | ModuleArg[],
  options: CompileOptions = {},
): Promise<unknown> {
  const n = currentNode('compile.file');
  const names = Array.isArray(module)
    ? module.map((m) => server.moduleArg(m, 'compile.file'))
    : [server.moduleArg(module, 'compile.file')];
  const out = await compileStep(n, names, options, undefined);
  if (!out.ok) return out.failure;
  return Array.isArray(module) ? { modules: out.results } : out.results[0]!;
}

/** Marks a load result with the processes its purge killed (non-enumerable: shapes stay as documented). */
function withKilled<T extends object>(r: T, killed: readonly Pid[]): T {
  Object.defineProperty(r, 'killed', { value: [...killed], enumerable: false });
  return r;
}

/**
 * `c(M)` / `c([M1, M2])` (S6.3): compile, type-check, write, purge, load —
 * one change through the queue.
 */
export function c(
  module: ModuleArg | ModuleArg[],
  options: CompileOptions = {},
): Promise<CResult | CManyResult | Stopped> {
  const n = currentNode('c');
  server.assertNotLoading('c');
  if (options !== undefined && (typeof options !== 'object' || options === null))
    badarg('c: options must be an object');
  if (options.oldCode !== undefined && options.oldCode !== 'kill' && options.oldCode !== 'refuse')
    badarg("c: options.oldCode must be 'kill' or 'refuse'");
  const many = Array.isArray(module);
  const names = moduleList(module, 'c', n);
  const done = recordStart('c', names);
  return recorded(done, async (change) => {
    const sticky = names.filter((m) => server.isStickyName(m));
    if (sticky.length) {
      if (!many) return { error: 'sticky_directory' as const };
      return { error: sticky.map((m) => ({ module: m, error: 'sticky_directory' as const })) };
    }
    const outcome: TransitionOutcome = { oldUsers: [], kill: [] };
    const out = await compileStep(n, names, options, change, outcome);
    if (!change.live()) return STOPPED;
    if (!out.ok) return out.failure as CResult;
    const prepared = server.prepareBinaries(out.compiled);
    if ('error' in prepared) return many ? prepared : single(prepared.error[0]!);
    const r = server.finishWithPurge(prepared.prepared, outcome.kill);
    if ('error' in r) return many ? r : single(r.error[0]!);
    return withKilled(many ? { modules: r.modules } : { module: names[0]! }, r.killed);
  });
}

function single(e: ModuleLoadError): CResult {
  return explain({ error: e.error }, (e as { reason?: unknown }).reason);
}

/** `lm()`: loads every modified module (their object files changed), one change through the queue. */
export function lm(): Promise<LoadResult[] | Stopped> {
  currentNode('lm');
  server.assertNotLoading('lm');
  const o = origin;
  return server.enqueue(async () => {
    const names = server.modifiedModules();
    const done = withOrigin(o, () => recordStart('lm', names));
    const results = names.map((m) => server.loadWithPurge(m));
    const failed = results.find((r) => 'error' in r);
    const killed = results.flatMap((r) => (r as { killed?: Pid[] }).killed ?? []);
    done(failed ? { error: (failed as { error: string }).error, killed } : { killed });
    return results;
  });
}

/** Enqueues a change and records its result in the history when it settles. */
function recorded<T>(
  done: (result: unknown) => void,
  run: (change: ChangeContext) => Promise<T>,
): Promise<T | Stopped> {
  const p = server.enqueue(run);
  p.then(done, (e: unknown) => done({ error: (e as { code?: unknown })?.code ?? 'exception' }));
  return p;
}

/** An upgrade refused because old versions in use would break (S8.4 with S6.2). */
interface TransitionRefusal {
  error: 'compile';
  diagnostics: Diagnostic[];
  oldUsers: OldUsers[];
  rolledBack: true;
}

/**
 * The transition check of a release upgrade (S8.4, S6.2): the new versions
 * are the recorded sources of `load`'s object files on the code path; a
 * server in `change` runs the new code after its codeChange, so only
 * processes outside `change` count. Only transition errors refuse (the
 * object files were checked when they were compiled). Undefined when there
 * is nothing to refuse, or nothing to check (the upgrade then reports what
 * is wrong with its arguments or files itself).
 */
async function checkUpgrade(n: NodeState, opts: unknown): Promise<TransitionRefusal | undefined> {
  if (!n.options.typecheck || opts === null || typeof opts !== 'object') return undefined;
  const { load, change } = opts as { load?: unknown; change?: unknown };
  if (!Array.isArray(load)) return undefined;
  const changed: SourceText[] = [];
  for (const m of load) {
    let name: string;
    try {
      name = server.moduleArg(m, 'upgrade');
    } catch {
      return undefined;
    }
    const text = server.objectSource(name);
    if (text === undefined) return undefined;
    changed.push({ module: name, ...text });
  }
  const exclude = new Set<Pid>();
  for (const x of Array.isArray(change) ? change : []) {
    const s = (x as { server?: unknown } | null)?.server;
    const pid = typeof s === 'string' ? processes.whereis(s) : s;
    if (pid instanceof Pid) exclude.add(pid);
  }
  const outcome: TransitionOutcome = { oldUsers: [], kill: [] };
  const verdict = await checkHere(n, changed, undefined, outcome, exclude);
  const broken = verdict.diagnostics.filter(
    (d) => d.category === 'error' && d.transition !== undefined,
  );
  if (verdict.ok || broken.length === 0) return undefined;
  return { error: 'compile', diagnostics: broken, oldUsers: outcome.oldUsers, rolledBack: true };
}

/**
 * Runs a release upgrade (S8.4, done by the runtime's `release` module) as
 * one change through the queue, after its transition check.
 */
export function queuedUpgrade<R>(
  opts: unknown,
  run: () => Promise<R>,
): Promise<R | Stopped | TransitionRefusal> {
  const n = currentNode('upgrade');
  server.assertNotLoading('upgrade');
  const load = (opts as { load?: unknown } | null)?.load;
  const names = Array.isArray(load)
    ? load.flatMap((m) => {
        try {
          return [server.moduleArg(m, 'upgrade')];
        } catch {
          return [];
        }
      })
    : [];
  const done = recordStart('upgrade', names);
  return recorded(done, async (change) => {
    const refusal = await checkUpgrade(n, opts);
    if (!change.live()) return STOPPED;
    if (refusal !== undefined) return refusal;
    try {
      const r = await run();
      return change.live() ? r : STOPPED;
    } catch (e) {
      if (!change.live()) return STOPPED;
      throw e;
    }
  });
}

// ---- deploys from another machine (S9.4, S11.2) -------------------------------------------

/**
 * The running system as a deploying machine needs it to type-check a change
 * for this node (S9.4): every loaded version of the user modules with its
 * recorded source, md5 and users (pids in their printed form).
 */
export function describeSystem(): SystemVersion<string>[] {
  currentNode('describeSystem');
  return server.loadedVersions().map((v) => ({
    module: v.module,
    version: v.version,
    number: v.number,
    md5: v.md5,
    source: v.source,
    users: v.users.map(String),
  }));
}

/** A change compiled and checked elsewhere, to load here (S9.4). */
export interface DeployRequest {
  /** The object files, as the compiler wrote them. */
  objects: { module: string; text: string }[];
  /**
   * The md5 of each module's current version the change was checked
   * against (`null`: it had none). If any moved meanwhile the deploy is
   * refused with `conflict` and nothing changes.
   */
  expect: Record<string, string | null>;
  /** Processes (printed pids) to kill as it loads: users of broken old versions, `oldCode: 'kill'`. */
  kill?: string[];
  /** Only check that it would load (`--check`): prepare, and load nothing. */
  check?: boolean;
}

export type DeployResult =
  | { modules: string[]; killed: Pid[] }
  | { error: 'conflict'; modules: string[] }
  | { error: 'write'; reason: unknown }
  | { error: ModuleLoadError[] }
  | Stopped;

/**
 * Loads a deploy as one change through the queue, as `c([…])` would (S6.3,
 * S6.7): the object files are written to the node's `out` (so a restart
 * loads them too), then installed at once with purge.
 */
export function applyDeploy(req: DeployRequest): Promise<DeployResult> {
  const { n, names, done } = deployStart(req, 'deploy');
  return recorded(done, async (change): Promise<DeployResult> => {
    const staged = stageDeploy(req, names, n);
    if ('error' in staged) return staged;
    if (req.check) return { modules: names, killed: [] };
    const written = writeAll(staged.items);
    if (written !== undefined) return { error: 'write', reason: written };
    if (!change.live()) return STOPPED;
    const kill = new Set(req.kill ?? []);
    const victims = kill.size ? processes.processes().filter((p) => kill.has(String(p))) : [];
    const r = server.finishWithPurge(staged.prepared, victims);
    return 'error' in r ? r : { modules: r.modules, killed: r.killed };
  });
}

/** What every deploy checks before it is queued: its shape, its module names; its history entry. */
function deployStart(
  req: DeployRequest | UpgradeDeployRequest,
  kind: 'deploy' | 'upgrade',
): { n: NodeState; names: string[]; done: (result: unknown) => void } {
  const n = currentNode('deploy');
  if (req === null || typeof req !== 'object' || !Array.isArray(req.objects))
    badarg('deploy: expected { objects, expect }');
  const names = req.objects.map((o) => server.moduleArg(o?.module, 'deploy'));
  const done = req.check
    ? () => {}
    : withOrigin(origin === 'api' ? 'deploy' : origin, () => recordStart(kind, names));
  return { n, names, done };
}

/**
 * A deploy's first step in the queue: refused with `conflict` if the node's
 * current versions moved since the plan; else its object files, prepared
 * (read and compiled by V8, loaded nothing), with the files they go to.
 */
function stageDeploy(
  req: DeployRequest | UpgradeDeployRequest,
  names: string[],
  n: NodeState,
):
  | { items: { module: string; file: string; text: string }[]; prepared: PreparedCode }
  | { error: 'conflict'; modules: string[] }
  | { error: ModuleLoadError[] } {
  const moved = Object.entries(req.expect ?? {})
    .filter(([m, md5]) => (server.versions(m).current?.md5 ?? null) !== md5)
    .map(([m]) => m);
  if (moved.length) return { error: 'conflict', modules: moved };
  const items = req.objects.map((o, i) => ({
    module: names[i]!,
    file: join(n.options.out, `${names[i]}.js`),
    text: String(o.text),
  }));
  const prepared = server.prepareBinaries(items);
  if ('error' in prepared) return prepared;
  return { items, prepared: prepared.prepared };
}

/** Writes object files all or none (temporary files, then renames); the failure, if any. */
function writeAll(items: { file: string; text: string }[]): unknown {
  const tmps: { tmp: string; file: string }[] = [];
  try {
    for (const it of items) {
      const tmp = `${it.file}.${process.pid}.tmp`;
      writeFileSync(tmp, it.text);
      tmps.push({ tmp, file: it.file });
    }
    for (const t of tmps) renameSync(t.tmp, t.file);
    return undefined;
  } catch (e) {
    for (const t of tmps) rmSync(t.tmp, { force: true });
    return e;
  }
}

/** A deploy that runs as a release upgrade (S9.4 `--upgrade --change SERVER:MODULE`, S8.4). */
export interface UpgradeDeployRequest extends Omit<DeployRequest, 'kill'> {
  /** The servers to migrate with their module's codeChange (as `upgrade`'s `change`). */
  change: { server: string; module: string; extra?: unknown }[];
}

export type UpgradeDeployResult =
  | { modules: string[]; killed: Pid[]; pausedMs?: number; oldInUse?: string[] }
  | { error: 'conflict'; modules: string[] }
  | { error: 'write'; reason: unknown }
  | { error: ModuleLoadError[] }
  | { error: string; module?: string; server?: unknown; reason?: unknown; rolledBack: true }
  | Stopped;

/**
 * Loads a deploy as a release upgrade (S8.4), one change through the queue:
 * refused with `conflict` if the node moved since the plan; the object
 * files are checked (prepared), written to `out`, and the upgrade loads them
 * and migrates `change`'s servers. If the upgrade fails (and rolls back),
 * the object files `out` had before are put back, so the node is as it was.
 * The transitions were type-checked on the deploying side: the node checks
 * nothing (it needs no TypeScript).
 */
export function applyUpgradeDeploy(req: UpgradeDeployRequest): Promise<UpgradeDeployResult> {
  if (req !== null && typeof req === 'object' && !Array.isArray(req.change))
    badarg('deploy: change must be a list of { server, module }');
  const { n, names, done } = deployStart(req, 'upgrade');
  return recorded(done, async (change): Promise<UpgradeDeployResult> => {
    const staged = stageDeploy(req, names, n);
    if ('error' in staged) return staged;
    if (req.check) return { modules: names, killed: [] };
    const { items } = staged;
    const before = items.map((it) => ({
      file: it.file,
      text: existsSync(it.file) ? readFileSync(it.file, 'utf8') : undefined,
    }));
    const restore = () => {
      for (const b of before)
        if (b.text === undefined) rmSync(b.file, { force: true });
        else writeAll([{ file: b.file, text: b.text }]);
    };
    const written = writeAll(items);
    if (written !== undefined) return { error: 'write', reason: written };
    if (!change.live()) {
      restore();
      return STOPPED;
    }
    type Upgrade = (
      o: unknown,
    ) => Promise<{ ok?: true; error?: string; pausedMs?: number; oldInUse?: string[] }>;
    const r = await (server.cellOf('release').v.upgrade as Upgrade)({
      load: names,
      change: req.change,
    });
    if (r.error !== undefined) {
      restore();
      return r as UpgradeDeployResult;
    }
    if (!change.live()) return STOPPED;
    const out: UpgradeDeployResult = { modules: names, killed: [] };
    if (r.pausedMs !== undefined) out.pausedMs = r.pausedMs;
    if (r.oldInUse !== undefined) out.oldInUse = r.oldInUse;
    return out;
  });
}

// ---- cluster releases (S11) ------------------------------------------------------------------

/**
 * Starts recording a change a cluster release makes on this node (S11.2,
 * S10.2 history, origin `cluster`): the member runs it inside its own queued
 * change; call the returned function with the result when it settles.
 */
export function recordClusterChange(
  kind: ChangeRecord['kind'],
  modules: readonly string[],
): (result: unknown) => void {
  return withOrigin('cluster', () => recordStart(kind, modules));
}
