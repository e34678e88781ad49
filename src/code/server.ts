/**
 * The code server: the one owner of the module table (as OTP's code_server.erl is).
 * Everything that changes which code runs goes through here; calls read the
 * table through cells and handles (handles.ts), which only this file
 * repoints. Its state is private.
 *
 * Modelled on OTP's `code_server.erl`: two slots per module (S2.1),
 * `not_purged` (S2.2), sticky directories (S6.6), atomic loads (S6.4), and
 * one change at a time (S6.7): asynchronous changes (`c`, `lm`, `upgrade`,
 * watch reloads, deploys) wait in {@link CodeServer.enqueue}'s queue, each
 * starting when the one before it has settled; synchronous ones take effect
 * at once and bump the generations that a queued change re-checks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import vm from 'node:vm';
import { badarg, HotcodeError } from '../errors.js';
import type { VersionToken } from '../process/frames.js';
import type { Pid } from '../process/pid.js';
import type { Proc, ProcessTable } from '../process/table.js';
import type {
  AtomicLoadResult,
  LoadError,
  LoadResult,
  ModuleLoadError,
  PreparedCode,
  PrepareResult,
  VersionInfo,
  Versions,
} from '../types.js';
import { isModuleName } from '../vocabulary.js';
import { handleName, ModuleRecord, type Version } from './handles.js';
import { createVersionLinkage, type Runtime } from './linkage.js';
import { type ObjectHeader, parseObjectFile, sourceOf } from './objectFile.js';
import { CodePath, isDirectory, type PathResult } from './path.js';
import { Purger } from './purger.js';
import { registerVersion, unregisterVersion } from './stacktrace.js';

/** A module read and compiled by V8, not yet evaluated. */
interface PreparedModule {
  module: string;
  file: string;
  header: ObjectHeader;
  map: string | undefined;
  seq: number;
  filename: string;
  body: (rt: Runtime, linkage: unknown) => unknown;
}

type Failure = { error: LoadError; reason?: unknown };

/** Adds a non-enumerable explanation to a result value (deep-equality of results is unaffected). */
export function explain<T extends object>(result: T, reason: unknown): T {
  if (reason !== undefined)
    Object.defineProperty(result, 'reason', { value: reason, enumerable: false });
  return result;
}

class Prepared {
  constructor(readonly modules: PreparedModule[]) {}
}

/** What one asynchronous change sees of the queue (S6.7). */
export interface ChangeContext {
  /** False once the node has stopped: the change must load nothing and settle with `stopped`. */
  live(): boolean;
  /** A counter bumped by every change of any module's versions (to re-check a type gate). */
  changes(): number;
}

/** The result of a change cut short by `stop` (S0.1). */
export const STOPPED = Object.freeze({ error: 'stopped' as const });
export type Stopped = { error: 'stopped' };

/** A release upgrade's hold on the versions it changes (services.ts VersionsTransaction). */
export interface Transaction {
  mark(): void;
  rollback(): void;
}

/** One loaded version as the type gate and deploys see it. */
export interface LoadedVersion {
  module: string;
  version: 'current' | 'old';
  /** Load sequence number within the node (VersionInfo.seq). */
  seq: number;
  /** Which version of its module (1, 2, … as this node installed them). */
  number: number;
  md5: string;
  /** The source recorded in the object file, if any. */
  source: { file: string; text: string } | undefined;
  /** Sibling modules it imports or re-exports. */
  imports: string[];
  /** Processes suspended in its code (S4.3). */
  users: Pid[];
}

export class CodeServer {
  readonly #table: ProcessTable;
  /** Module records by name: they outlive a node (handles are stable), emptied by reset(). */
  readonly #records = new Map<string, ModuleRecord>();
  readonly #path = new CodePath();
  readonly #stickyDirs = new Set<string>();
  readonly #purger: Purger;
  /** Load sequence numbers (part of each version's stack-trace filename). */
  #seq = 0;
  /** The linkage object every object file's body gets; made once, at the first start. */
  #runtime: Runtime | undefined = undefined;
  /** Between start and stop: autoload works only then. */
  #running = false;
  /** Bumped by every change of any module's versions (ChangeContext.changes). */
  #changes = 0;
  /** The tail of the change queue (S6.7): the next change starts when it settles. */
  #tail: Promise<unknown> = Promise.resolve();
  /** Bumped by stop: changes of an earlier node see they are no longer live. */
  #epoch = 0;
  /** Modules whose top level or onLoad is running, innermost last. */
  readonly #loading: string[] = [];
  /** A code change attempted from an onLoad (S6.5): the load that ran it fails. */
  #loadViolation: Error | undefined = undefined;

  constructor(table: ProcessTable) {
    this.#table = table;
    this.#purger = new Purger(table, (rec, v) => this.#dropVersion(rec, v));
  }

  // ---- the node's life ------------------------------------------------------------------

  /** Makes the server live: autoload works, the code path is `path`. */
  boot(runtime: () => Runtime, path: string[]): void {
    this.#runtime ??= runtime();
    this.#path.set(path);
    this.#running = true;
  }

  get running(): boolean {
    return this.#running;
  }

  /**
   * Unloads everything: the node stops (S0.1). Handles stay, pointing at
   * nothing. Changes still queued or in progress see they are no longer live
   * and settle with `stopped`; the next node's changes do not wait for them.
   */
  reset(): void {
    this.#running = false;
    this.#epoch++;
    this.#tail = Promise.resolve();
    for (const rec of this.#records.values()) {
      for (const v of [rec.old, rec.current]) {
        if (v) {
          unregisterVersion(v);
          this.#table.dropToken(v.token);
        }
      }
      rec.old = undefined;
      rec.current = undefined;
      rec.generation++;
      rec.installed = 0;
      rec.repoint(undefined);
    }
    this.#changes++;
    this.#stickyDirs.clear();
    this.#path.set([]);
  }

  // ---- the change queue (S6.7) -----------------------------------------------------------

  /**
   * Runs an asynchronous change after every change queued before it has
   * settled (OTP's code server handles one request at a time). A change
   * queued by a node that has stopped since settles with `stopped` without
   * running.
   */
  enqueue<T>(run: (change: ChangeContext) => Promise<T>): Promise<T | Stopped> {
    const epoch = this.#epoch;
    const change: ChangeContext = {
      live: () => this.#epoch === epoch && this.#running,
      changes: () => this.#changes,
    };
    const result = this.#tail.then((): Promise<T | Stopped> | Stopped =>
      change.live() ? run(change) : STOPPED,
    );
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** The generation of a module's versions (bumped by each change of them). */
  generation(name: string): number {
    return this.#records.get(name)?.generation ?? 0;
  }

  // ---- names, handles, cells --------------------------------------------------------------

  /** The module name of a module argument (a name or a handle, S0.4); throws badarg. */
  moduleArg(m: unknown, what: string): string {
    const name = typeof m === 'string' ? m : handleName(m);
    if (name === undefined)
      badarg(
        `${what}: expected a module name (string) or a module handle, got ${m === null ? 'null' : typeof m}`,
      );
    if (!isModuleName(name))
      badarg(`${what}: '${name}' is not a module name (a module name is a JavaScript identifier)`);
    return name;
  }

  #record(name: string): ModuleRecord {
    let rec = this.#records.get(name);
    if (rec === undefined) {
      rec = new ModuleRecord(
        name,
        (r) => this.#autoload(r),
        (r) => describeHandle(r),
      );
      this.#records.set(name, rec);
    }
    return rec;
  }

  handleOf(name: string): Record<string, unknown> {
    return this.#record(name).handle;
  }

  cellOf(name: string): { v: Record<string, unknown> } {
    return this.#record(name).cell;
  }

  /** The current version's exports object, or undefined (read only by convention). */
  currentExports(name: string): Readonly<Record<string, unknown>> | undefined {
    return this.#records.get(name)?.current?.exports;
  }

  /** S3.5: a qualified call to a module with no current version loads it first. No negative caching. */
  #autoload(rec: ModuleRecord): void {
    if (!this.#running || rec.current !== undefined) return;
    // A module's own top level or onLoad calling it before it is installed is undef, not a loop.
    if (this.#loading.includes(rec.name)) return;
    this.#loadFile(rec.name);
  }

  /** Throws `on_load_failure` when called from a module's top level or onLoad (S6.5). */
  assertNotLoading(what: string): void {
    this.#guard(what);
  }

  /**
   * A code change from inside an onLoad (S6.5) is refused: it would change
   * the table while a load is half done (`current` could end up older than
   * `old`, or recurse without end).
   */
  #guard(what: string): void {
    if (this.#loading.length === 0) return;
    const m = this.#loading.at(-1)!;
    const e = new HotcodeError(
      'on_load_failure',
      `${what}: called while module ${m} is being loaded (its top level or onLoad); code changes from there are not allowed — start a process to do it after the load`,
    );
    this.#loadViolation ??= e;
    throw e;
  }

  // ---- reading and preparing ---------------------------------------------------

  #readObject(name: string): { file: string; text: string } | Failure {
    const file = this.#path.which(name);
    if (file === undefined) return { error: 'nofile' };
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch (e) {
      return { error: 'nofile', reason: e };
    }
  }

  /** Is loading `name` from `file` forbidden by a sticky directory (S6.6)? */
  #stickyConflict(name: string, file: string | undefined): boolean {
    const rec = this.#records.get(name);
    if (rec?.current && this.#stickyDirs.has(dirname(rec.current.file))) return true;
    const dir = file === undefined ? undefined : dirname(resolve(file));
    for (const d of this.#stickyDirs)
      if (d !== dir && existsSync(join(d, `${name}.js`))) return true;
    return false;
  }

  #prepare(name: string, file: string, text: string): PreparedModule | Failure {
    if (this.#stickyConflict(name, file)) return { error: 'sticky_directory' };
    const parsed = parseObjectFile(text, name);
    if (typeof parsed === 'string') return { error: 'badfile', reason: new Error(parsed) };
    const seq = ++this.#seq;
    const filename = `${file}#${seq}`;
    let body: PreparedModule['body'];
    try {
      body = vm.compileFunction(parsed.body, ['__hc', '__hcV'], {
        filename,
      }) as PreparedModule['body'];
    } catch (e) {
      return { error: 'badfile', reason: e };
    }
    return { module: name, file, header: parsed.header, map: parsed.map, seq, filename, body };
  }

  /** Runs the module's top level and its onLoad (S6.5); the version is not reachable yet. */
  #evaluate(p: PreparedModule): Version | Failure {
    const rec = this.#record(p.module);
    const token: VersionToken = { counters: new Set(), purged: false };
    const linkage = createVersionLinkage(this.#table, token, p.header.source, rec.missProxy);
    const version: Version = {
      module: p.module,
      exports: {},
      header: p.header,
      file: p.file,
      loadedAt: Date.now(),
      seq: p.seq,
      number: 0,
      filename: p.filename,
      map: p.map,
      token,
    };
    registerVersion(version); // so errors of its top level and onLoad map to the source
    const fail = (error: LoadError, reason: unknown): Failure => {
      unregisterVersion(version);
      token.purged = true;
      return { error, reason };
    };
    const outer = this.#loadViolation;
    this.#loadViolation = undefined;
    this.#loading.push(p.module);
    try {
      let exports: unknown;
      try {
        exports = p.body.call(undefined, this.#runtime!, linkage);
      } catch (e) {
        return fail('on_load_failure', this.#loadViolation ?? e);
      }
      if (typeof exports !== 'object' || exports === null)
        return fail(
          'badfile',
          new Error(
            `the object file of ${p.module} did not produce a module (its body returned ${exports === null ? 'null' : typeof exports}); recompile it`,
          ),
        );
      (version as { exports: Record<string, unknown> }).exports = exports as Record<
        string,
        unknown
      >;
      const r = this.#runOnLoad(p.module, exports as Record<string, unknown>);
      if (r !== undefined) return fail('on_load_failure', r);
      if (this.#loadViolation !== undefined) return fail('on_load_failure', this.#loadViolation);
      return version;
    } finally {
      this.#loading.pop();
      this.#loadViolation = outer;
    }
  }

  /** Runs `onLoad` if exported; the reason it failed, or undefined. */
  #runOnLoad(module: string, exports: Record<string, unknown>): unknown {
    let onLoad: unknown;
    try {
      onLoad = Object.hasOwn(exports, 'onLoad') ? exports.onLoad : undefined;
    } catch (e) {
      return e;
    }
    if (typeof onLoad !== 'function') return undefined;
    let r: unknown;
    try {
      r = (onLoad as () => unknown).call(exports);
    } catch (e) {
      return e;
    }
    if (r === false) return new Error(`${module}.onLoad returned false`);
    let then: unknown;
    try {
      then = r !== null && typeof r === 'object' ? (r as { then?: unknown }).then : undefined;
    } catch (e) {
      return e;
    }
    if (typeof then === 'function') {
      Promise.resolve(r).catch(() => {});
      return new Error(
        `${module}.onLoad returned a promise: onLoad must be synchronous (loading is); start asynchronous work in a process`,
      );
    }
    return undefined;
  }

  /** Makes `v` current; the previous current becomes old (S2.2). The caller has made room. */
  #install(v: Version): void {
    const rec = this.#record(v.module);
    if (rec.current !== undefined) {
      if (rec.old !== undefined) this.#purger.purge(rec); // callers purge first; this keeps two slots at most
      rec.old = rec.current;
    }
    rec.current = v;
    v.number = ++rec.installed;
    this.#moved(rec);
    rec.repoint(v);
  }

  #moved(rec: ModuleRecord): void {
    rec.generation++;
    this.#changes++;
  }

  #dropVersion(rec: ModuleRecord, v: Version): void {
    if (rec.old === v) rec.old = undefined;
    if (rec.current === v) {
      rec.current = undefined;
      rec.repoint(undefined);
    }
    this.#moved(rec);
    unregisterVersion(v);
  }

  #failed(f: Failure): LoadResult {
    return explain({ error: f.error }, f.reason);
  }

  // ---- loading (S2.2, S6.4) -------------------------------------------------------------

  /** `code.loadFile`: refuses `not_purged` when both versions exist. */
  loadFile(name: string): LoadResult {
    this.#guard('code.loadFile');
    return this.#loadFile(name);
  }

  #loadFile(name: string): LoadResult {
    const rec = this.#records.get(name);
    if (rec?.current && rec.old) return { error: 'not_purged' };
    const obj = this.#readObject(name);
    if ('error' in obj) return this.#failed(obj);
    return this.#loadPrepared(this.#prepare(name, obj.file, obj.text), false).result;
  }

  ensureLoaded(name: string): LoadResult {
    if (this.#records.get(name)?.current) return { module: name };
    this.#guard('code.ensureLoaded');
    return this.#loadFile(name);
  }

  /** `l(M)`: purge, then load from the code path (after evaluating the new version). */
  loadWithPurge(name: string): LoadResult & { killed?: Pid[] } {
    this.#guard('l');
    const obj = this.#readObject(name);
    if ('error' in obj) return this.#failed(obj);
    const r = this.#loadPrepared(this.#prepare(name, obj.file, obj.text), true);
    return withKilled(r.result, r.killed);
  }

  loadBinary(name: string, file: string, bytes: string | Uint8Array): LoadResult {
    this.#guard('code.loadBinary');
    const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
    return this.#loadPrepared(this.#prepare(name, file, text), true).result;
  }

  #loadPrepared(
    p: PreparedModule | Failure,
    purge: boolean,
  ): { result: LoadResult; killed: Pid[] } {
    if ('error' in p) return { result: this.#failed(p), killed: [] };
    const v = this.#evaluate(p);
    if ('error' in v) return { result: this.#failed(v), killed: [] };
    const rec = this.#record(p.module);
    let killed: Pid[] = [];
    if (rec.current && rec.old) {
      if (!purge) {
        unregisterVersion(v);
        return { result: { error: 'not_purged' }, killed };
      }
      killed = this.#purger.purge(rec);
    }
    this.#install(v);
    return { result: { module: p.module }, killed };
  }

  /** Prepares several modules; collects every failure (S6.4). */
  #prepareMany(names: string[], what: string): PreparedModule[] | ModuleLoadError[] {
    const errors: ModuleLoadError[] = [];
    const preps: PreparedModule[] = [];
    const seen = new Set<string>();
    for (const m of names) {
      const name = this.moduleArg(m, what);
      if (seen.has(name)) continue;
      seen.add(name);
      const obj = this.#readObject(name);
      if ('error' in obj) {
        errors.push(explain({ module: name, error: obj.error }, obj.reason));
        continue;
      }
      const p = this.#prepare(name, obj.file, obj.text);
      if ('error' in p) errors.push(explain({ module: name, error: p.error }, p.reason));
      else preps.push(p);
    }
    return errors.length ? errors : preps;
  }

  /**
   * Evaluates and installs prepared modules all or none. `purge`: kill
   * processes in old code (c of several modules) instead of refusing with
   * `not_purged` (atomicLoad, finishLoading).
   */
  #installMany(
    preps: PreparedModule[],
    purge: boolean,
  ): { modules: string[]; killed: Pid[] } | { error: ModuleLoadError[] } {
    if (!purge) {
      const errors = preps
        .filter((p) => {
          const r = this.#records.get(p.module);
          return r?.current && r.old;
        })
        .map((p) => ({ module: p.module, error: 'not_purged' as const }));
      if (errors.length) return { error: errors };
    }
    const versions: Version[] = [];
    for (const p of preps) {
      const v = this.#evaluate(p);
      if ('error' in v) {
        for (const done of versions) {
          unregisterVersion(done);
          done.token.purged = true;
        }
        return { error: [explain({ module: p.module, error: v.error }, v.reason)] };
      }
      versions.push(v);
    }
    const killed: Pid[] = [];
    for (const v of versions) {
      const rec = this.#record(v.module);
      if (rec.old) killed.push(...this.#purger.purge(rec));
      this.#install(v);
    }
    return { modules: versions.map((v) => v.module), killed };
  }

  atomicLoad(modules: unknown[]): AtomicLoadResult {
    this.#guard('code.atomicLoad');
    if (!Array.isArray(modules)) badarg('code.atomicLoad: expected an array of modules');
    const preps = this.#prepareMany(modules as string[], 'code.atomicLoad');
    if (isErrors(preps)) return { error: preps };
    const r = this.#installMany(preps, false);
    return 'error' in r ? r : { modules: r.modules };
  }

  prepareLoading(modules: unknown[]): PrepareResult {
    if (!Array.isArray(modules)) badarg('code.prepareLoading: expected an array of modules');
    const preps = this.#prepareMany(modules as string[], 'code.prepareLoading');
    if (isErrors(preps)) return { error: preps };
    return { prepared: new Prepared(preps) as unknown as PreparedCode };
  }

  /**
   * Prepares object texts given as bytes (a deploy's or a release's files,
   * not on the code path), for `finishLoading`.
   */
  prepareBinaries(items: { module: string; file: string; text: string }[]): PrepareResult {
    const errors: ModuleLoadError[] = [];
    const preps: PreparedModule[] = [];
    for (const it of items) {
      const p = this.#prepare(it.module, it.file, it.text);
      if ('error' in p) errors.push(explain({ module: it.module, error: p.error }, p.reason));
      else preps.push(p);
    }
    if (errors.length) return { error: errors };
    return { prepared: new Prepared(preps) as unknown as PreparedCode };
  }

  finishLoading(prepared: PreparedCode): AtomicLoadResult {
    this.#guard('code.finishLoading');
    if (!((prepared as unknown) instanceof Prepared))
      badarg('code.finishLoading: expected the `prepared` value of code.prepareLoading');
    const r = this.#installMany((prepared as unknown as Prepared).modules, false);
    return 'error' in r ? r : { modules: r.modules };
  }

  /**
   * Loads prepared code with purge (as `c` does): processes in the old
   * versions are killed, and so are `alsoKill` (the users of old versions
   * that a type check found broken, loaded anyway with `oldCode: 'kill'`).
   */
  finishWithPurge(
    prepared: PreparedCode,
    alsoKill: readonly Pid[] = [],
  ): { modules: string[]; killed: Pid[] } | { error: ModuleLoadError[] } {
    this.#guard('c');
    if (!((prepared as unknown) instanceof Prepared))
      badarg('finishWithPurge: expected prepared code');
    const r = this.#installMany((prepared as unknown as Prepared).modules, true);
    if ('error' in r) return r;
    const victims: Proc[] = [];
    for (const pid of alsoKill) {
      const p = this.#table.lookup(pid);
      if (p?.alive) victims.push(p);
    }
    this.#table.killAll(victims, 'killed');
    const killed = [...r.killed];
    for (const p of victims) if (!killed.includes(p.pid)) killed.push(p.pid);
    return { modules: r.modules, killed };
  }

  /** Would `c`/`loadBinary` of `name` be refused because its directory is sticky? */
  isStickyName(name: string): boolean {
    return this.#stickyConflict(name, undefined);
  }

  // ---- versions, delete, purge (S2.3, S2.4, S4.1, S4.2) ------------------------------------

  delete(name: string): boolean {
    this.#guard('code.delete');
    const rec = this.#records.get(name);
    if (rec?.current === undefined || rec.old !== undefined) return false;
    if (this.#stickyDirs.has(dirname(rec.current.file))) return false;
    rec.old = rec.current;
    rec.current = undefined;
    this.#moved(rec);
    rec.repoint(undefined);
    return true;
  }

  /** S4.1; the caller is killed too if it runs the old code itself (S4.4). */
  purge(name: string): boolean {
    return this.purgeKilling(name).length > 0;
  }

  /** `purge`, answering which processes it killed. */
  purgeKilling(name: string): Pid[] {
    this.#guard('code.purge');
    const rec = this.#records.get(name);
    return rec ? this.#purger.purge(rec) : [];
  }

  /** The modules a `prepareLoading` result would load ([] for anything else). */
  preparedModules(prepared: unknown): string[] {
    return prepared instanceof Prepared ? prepared.modules.map((p) => p.module) : [];
  }

  softPurge(name: string): boolean {
    this.#guard('code.softPurge');
    const rec = this.#records.get(name);
    return rec ? this.#purger.softPurge(rec) : true;
  }

  versions(name: string): Versions {
    const rec = this.#records.get(name);
    const out: Versions = {};
    if (rec?.current) out.current = info(rec.current);
    if (rec?.old) out.old = info(rec.old);
    return out;
  }

  /** Which version of its module the current one is (Version.number), or undefined. */
  versionNumber(name: string): number | undefined {
    return this.#records.get(name)?.current?.number;
  }

  /**
   * Every module with a version loaded: the numbers of its current and old
   * versions and the processes in the old one (S4.3) — what the observer
   * shows (S10.2), without listing the users of current versions.
   */
  versionSummaries(): { module: string; current?: number; old?: number; oldUsers: Pid[] }[] {
    const out: { module: string; current?: number; old?: number; oldUsers: Pid[] }[] = [];
    for (const rec of this.#records.values()) {
      if (rec.current === undefined && rec.old === undefined) continue;
      const e: { module: string; current?: number; old?: number; oldUsers: Pid[] } = {
        module: rec.name,
        oldUsers: rec.old ? this.#table.usersOf(rec.old.token).map((p) => p.pid) : [],
      };
      if (rec.current) e.current = rec.current.number;
      if (rec.old) e.old = rec.old.number;
      out.push(e);
    }
    return out;
  }

  isLoaded(name: string): { file: string } | false {
    const cur = this.#records.get(name)?.current;
    return cur ? { file: cur.file } : false;
  }

  checkOldCode(name: string): boolean {
    return this.#records.get(name)?.old !== undefined;
  }

  /** Does the process use the old version of `name` (S4.3)? */
  checkProcessCode(pid: Pid, name: string): boolean {
    const old = this.#records.get(name)?.old;
    return old !== undefined && this.#table.isUsedBy(old.token, pid);
  }

  /** The versions a process uses, labelled for processInfo (S5.6). */
  versionsUsedBy(pid: Pid): { module: string; version: 'current' | 'old' }[] {
    const p = this.#table.lookup(pid);
    if (p === undefined) return [];
    const out: { module: string; version: 'current' | 'old' }[] = [];
    const tokens = this.#table.tokensUsedBy(p);
    if (tokens.length === 0) return out;
    for (const token of tokens) {
      for (const rec of this.#records.values()) {
        if (rec.current?.token === token) out.push({ module: rec.name, version: 'current' });
        else if (rec.old?.token === token) out.push({ module: rec.name, version: 'old' });
      }
    }
    return out;
  }

  allLoaded(): [string, string][] {
    const out: [string, string][] = [];
    for (const rec of this.#records.values())
      if (rec.current) out.push([rec.name, rec.current.file]);
    return out;
  }

  getObjectCode(name: string): { module: string; bytes: Buffer; file: string } | undefined {
    const file = this.#path.which(name);
    if (file === undefined) return undefined;
    try {
      return { module: name, bytes: readFileSync(file), file };
    } catch {
      return undefined;
    }
  }

  /** Modules whose object file on disk differs from the loaded current version (OTP's modified_modules). */
  modifiedModules(): string[] {
    const out: string[] = [];
    for (const rec of this.#records.values()) {
      const cur = rec.current;
      if (!cur || this.#stickyDirs.has(dirname(cur.file))) continue;
      let text: string;
      try {
        text = readFileSync(cur.file, 'utf8');
      } catch {
        continue;
      }
      const parsed = parseObjectFile(text, rec.name);
      if (typeof parsed === 'string' || parsed.header.md5 !== cur.header.md5) out.push(rec.name);
    }
    return out;
  }

  // ---- the code path and sticky directories (S1.3, S6.6) ----------------------------------------

  getPath(): string[] {
    return this.#path.get();
  }

  setPath(dirs: readonly string[]): PathResult {
    return this.#path.set(dirs);
  }

  addPath(dir: string, first: boolean): PathResult {
    return this.#path.add(dir, first);
  }

  delPath(dir: string): boolean {
    return this.#path.del(dir);
  }

  which(name: string): string | undefined {
    return this.#path.which(name);
  }

  stickDir(dir: string): true | { error: 'bad_directory' } {
    if (typeof dir !== 'string' || !isDirectory(resolve(dir))) return { error: 'bad_directory' };
    this.#stickyDirs.add(resolve(dir));
    return true;
  }

  unstickDir(dir: string): true {
    if (typeof dir === 'string') this.#stickyDirs.delete(resolve(dir));
    return true;
  }

  isSticky(name: string): boolean {
    const cur = this.#records.get(name)?.current;
    return cur !== undefined && this.#stickyDirs.has(dirname(cur.file));
  }

  // ---- what type checks and deploys read ------------------------------------------------------

  /** The recorded source of the loaded current version (for the type gate, S6.2). */
  loadedSource(name: string): { file: string; text: string } | undefined {
    const cur = this.#records.get(name)?.current;
    return cur === undefined ? undefined : sourceOfVersion(cur);
  }

  /** The source recorded in the object file that loading `name` would use (a release's new version). */
  objectSource(name: string): { file: string; text: string } | undefined {
    const obj = this.#readObject(name);
    if ('error' in obj) return undefined;
    const parsed = parseObjectFile(obj.text, name);
    if (typeof parsed === 'string') return undefined;
    const text = sourceOf(parsed);
    return text === undefined ? undefined : { file: parsed.header.source, text };
  }

  /** Names of the loaded modules that are not the runtime's own (sticky). */
  userModules(): string[] {
    const out: string[] = [];
    for (const rec of this.#records.values())
      if (rec.current !== undefined && !this.isSticky(rec.name)) out.push(rec.name);
    return out;
  }

  /**
   * Every loaded version of the modules that are not the runtime's own,
   * with its recorded source and its users: what a type check of a change
   * needs to know about the running system (S6.2, S9.4).
   */
  loadedVersions(): LoadedVersion[] {
    const out: LoadedVersion[] = [];
    for (const rec of this.#records.values()) {
      if (rec.current !== undefined && this.isSticky(rec.name)) continue;
      for (const [v, label] of [
        [rec.current, 'current'],
        [rec.old, 'old'],
      ] as const) {
        if (v === undefined) continue;
        out.push({
          module: rec.name,
          version: label,
          seq: v.seq,
          number: v.number,
          md5: v.header.md5,
          source: sourceOfVersion(v),
          imports: v.header.imports,
          users: this.#table.usersOf(v.token).map((p) => p.pid),
        });
      }
    }
    return out;
  }

  // ---- a release upgrade's hold on versions (S8.4, S6.7) ----------------------------------------

  /**
   * Begins a release upgrade's hold on the versions of `modules`: a rollback
   * puts back the versions they had now, for each module still as the
   * upgrade left it (its last `mark`). Holding the transaction keeps a
   * soft-purged old version alive until it is dropped.
   */
  transaction(modules: readonly string[]): Transaction {
    const entries = modules.map((m) => {
      const rec = this.#record(m);
      return { rec, current: rec.current, old: rec.old, left: rec.generation };
    });
    return {
      mark: () => {
        for (const e of entries) e.left = e.rec.generation;
      },
      rollback: () => {
        for (const e of entries) {
          // Someone else changed it since (a synchronous change, S6.7): never undo that.
          if (e.rec.generation !== e.left) continue;
          this.#restore(e.rec, e.current, e.old);
        }
      },
    };
  }

  /**
   * Puts a module's current and old versions back. A version loaded since is
   * withdrawn and purged like old code: a process that entered it is killed
   * (that version no longer exists).
   */
  #restore(rec: ModuleRecord, current: Version | undefined, old: Version | undefined): void {
    if (rec.current !== current) {
      const withdrawn = rec.current;
      rec.current = current;
      rec.old = withdrawn;
      this.#moved(rec);
      rec.repoint(current);
      if (current !== undefined) registerVersion(current);
      this.#purger.purge(rec);
    }
    if (rec.old !== old) {
      if (rec.old !== undefined) this.#purger.purge(rec);
      rec.old = old;
      this.#moved(rec);
      if (old !== undefined) {
        old.token.purged = false; // it was soft-purged (nobody used it): counting resumes
        registerVersion(old);
      }
    }
  }
}

/** The recorded source of each version, read once (dropped with the version). */
const sourceCache = new WeakMap<Version, { file: string; text: string } | null>();

function sourceOfVersion(v: Version): { file: string; text: string } | undefined {
  if (v.map === undefined) return undefined;
  let src = sourceCache.get(v);
  if (src === undefined) {
    try {
      const m = JSON.parse(v.map) as { sourcesContent?: (string | null)[] };
      const text = m.sourcesContent?.[0];
      src = typeof text === 'string' ? { file: v.header.source, text } : null;
    } catch {
      src = null;
    }
    sourceCache.set(v, src);
  }
  return src ?? undefined;
}

function withKilled<T extends object>(r: T, killed: Pid[]): T & { killed?: Pid[] } {
  if ('module' in r) Object.defineProperty(r, 'killed', { value: killed, enumerable: false });
  return r;
}

function isErrors(x: PreparedModule[] | ModuleLoadError[]): x is ModuleLoadError[] {
  return x.length > 0 && 'error' in x[0]!;
}

function info(v: Version): VersionInfo {
  return { vsn: v.header.vsn, md5: v.header.md5, file: v.file, loadedAt: v.loadedAt, seq: v.seq };
}

function describeHandle(rec: ModuleRecord): string {
  const cur = rec.current;
  if (!cur) return `[module ${rec.name} (not loaded)]`;
  return `[module ${rec.name} vsn ${cur.header.vsn}${rec.old ? ', old code present' : ''}: ${cur.header.exports.join(', ')}]`;
}
