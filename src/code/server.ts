/**
 * The code server: the one owner of the module table (STYLE.md practice 1).
 * Everything that changes which code runs goes through here; calls read the
 * table through cells and handles (handles.ts), which only this file repoints.
 *
 * Modelled on OTP's `code_server.erl`: two slots per module (S2.1),
 * `not_purged` (S2.2), sticky directories (S6.6), atomic loads (S6.4).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import vm from 'node:vm';
import { badarg } from '../errors.js';
import type { VersionToken } from '../process/frames.js';
import type { ProcessTable } from '../process/table.js';
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
import { type ObjectHeader, parseObjectFile } from './objectFile.js';
import { CodePath, isDirectory } from './path.js';
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
  body: (rt: Runtime, linkage: unknown) => Record<string, unknown>;
}

type Failure = { error: LoadError; reason?: unknown };

/** Adds a non-enumerable explanation to a result value (deep-equality of results is unaffected). */
export function explain<T extends object>(result: T, reason: unknown): T {
  if (reason !== undefined)
    Object.defineProperty(result, 'reason', { value: reason, enumerable: false });
  return result;
}

export class VersionSnapshot {
  constructor(
    readonly module: string,
    readonly current: Version | undefined,
    readonly old: Version | undefined,
  ) {}
}

class Prepared {
  constructor(readonly modules: PreparedModule[]) {}
}

export class CodeServer {
  /** Module records by name: they outlive a node (handles are stable), emptied by reset(). */
  readonly records = new Map<string, ModuleRecord>();
  readonly path = new CodePath();
  readonly stickyDirs = new Set<string>();
  readonly purger: Purger;
  private seq = 0;
  runtime: Runtime | undefined = undefined;
  running = false;

  constructor(readonly table: ProcessTable) {
    this.purger = new Purger(table, (rec, v) => this.dropVersion(rec, v));
  }

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

  record(name: string): ModuleRecord {
    let rec = this.records.get(name);
    if (rec === undefined) {
      rec = new ModuleRecord(
        name,
        (r) => this.autoload(r),
        (r) => describeHandle(r),
      );
      this.records.set(name, rec);
    }
    return rec;
  }

  /** S3.5: a qualified call to a module with no current version loads it first. No negative caching. */
  private autoload(rec: ModuleRecord): void {
    if (!this.running || rec.current !== undefined) return;
    this.loadFile(rec.name);
  }

  // ---- reading and preparing ---------------------------------------------------

  private readObject(name: string): { file: string; text: string } | Failure {
    const file = this.path.which(name);
    if (file === undefined) return { error: 'nofile' };
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch (e) {
      return { error: 'nofile', reason: e };
    }
  }

  /** Is loading `name` from `file` forbidden by a sticky directory (S6.6)? */
  private stickyConflict(name: string, file: string | undefined): boolean {
    const rec = this.records.get(name);
    if (rec?.current && this.stickyDirs.has(dirname(rec.current.file))) return true;
    const dir = file === undefined ? undefined : dirname(resolve(file));
    for (const d of this.stickyDirs)
      if (d !== dir && existsSync(join(d, `${name}.js`))) return true;
    return false;
  }

  private prepare(name: string, file: string, text: string): PreparedModule | Failure {
    if (this.stickyConflict(name, file)) return { error: 'sticky_directory' };
    const parsed = parseObjectFile(text, name);
    if (typeof parsed === 'string') return { error: 'badfile', reason: parsed };
    const seq = ++this.seq;
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
  private evaluate(p: PreparedModule): Version | Failure {
    const rec = this.record(p.module);
    const token: VersionToken = { counters: new Set(), purged: false };
    const linkage = createVersionLinkage(this.table, token, p.header.source, rec.missProxy);
    const version: Version = {
      module: p.module,
      exports: {},
      header: p.header,
      file: p.file,
      loadedAt: Date.now(),
      seq: p.seq,
      filename: p.filename,
      map: p.map,
      token,
    };
    registerVersion(version); // so errors of its top level and onLoad map to the source
    const fail = (reason: unknown): Failure => {
      unregisterVersion(version);
      token.purged = true;
      return { error: 'on_load_failure', reason };
    };
    let exports: Record<string, unknown>;
    try {
      exports = p.body.call(undefined, this.runtime!, linkage);
    } catch (e) {
      return fail(e);
    }
    (version as { exports: Record<string, unknown> }).exports = exports;
    const onLoad = Object.hasOwn(exports, 'onLoad') ? exports.onLoad : undefined;
    if (typeof onLoad === 'function') {
      let r: unknown;
      try {
        r = (onLoad as () => unknown).call(exports);
      } catch (e) {
        return fail(e);
      }
      if (
        r !== null &&
        typeof r === 'object' &&
        typeof (r as PromiseLike<unknown>).then === 'function'
      ) {
        (r as Promise<unknown>).then?.(undefined, () => {});
        return fail(
          new Error(
            `${p.module}.onLoad returned a promise: onLoad must be synchronous (loading is); start asynchronous work in a process`,
          ),
        );
      }
      if (r === false) return fail(new Error(`${p.module}.onLoad returned false`));
    }
    return version;
  }

  /** Makes `v` current; the previous current becomes old (S2.2). The caller has made room. */
  private install(v: Version): void {
    const rec = this.record(v.module);
    if (rec.current !== undefined) {
      if (rec.old !== undefined) this.purger.purge(rec); // callers purge first; this keeps two slots at most
      rec.old = rec.current;
    }
    rec.current = v;
    rec.repoint(v);
  }

  private dropVersion(rec: ModuleRecord, v: Version): void {
    if (rec.old === v) rec.old = undefined;
    if (rec.current === v) {
      rec.current = undefined;
      rec.repoint(undefined);
    }
    unregisterVersion(v);
  }

  private failed(f: Failure): LoadResult {
    return explain({ error: f.error }, f.reason);
  }

  // ---- loading (S2.2, S6.4) -------------------------------------------------------------

  /** `code.loadFile`: refuses `not_purged` when both versions exist. */
  loadFile(name: string): LoadResult {
    const rec = this.records.get(name);
    if (rec?.current && rec.old) return { error: 'not_purged' };
    const obj = this.readObject(name);
    if ('error' in obj) return this.failed(obj);
    return this.loadPrepared(this.prepare(name, obj.file, obj.text), false);
  }

  ensureLoaded(name: string): LoadResult {
    if (this.records.get(name)?.current) return { module: name };
    return this.loadFile(name);
  }

  /** `l(M)`: purge, then load from the code path (after evaluating the new version). */
  loadWithPurge(name: string): LoadResult {
    const obj = this.readObject(name);
    if ('error' in obj) return this.failed(obj);
    return this.loadPrepared(this.prepare(name, obj.file, obj.text), true);
  }

  loadBinary(name: string, file: string, bytes: string | Uint8Array): LoadResult {
    const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
    return this.loadPrepared(this.prepare(name, file, text), true);
  }

  private loadPrepared(p: PreparedModule | Failure, purge: boolean): LoadResult {
    if ('error' in p) return this.failed(p);
    const v = this.evaluate(p);
    if ('error' in v) return this.failed(v);
    const rec = this.record(p.module);
    if (rec.current && rec.old) {
      if (!purge) {
        unregisterVersion(v);
        return { error: 'not_purged' };
      }
      this.purger.purge(rec);
    }
    this.install(v);
    return { module: p.module };
  }

  /** Prepares several modules; collects every failure (S6.4). */
  private prepareMany(names: string[], what: string): PreparedModule[] | ModuleLoadError[] {
    const errors: ModuleLoadError[] = [];
    const preps: PreparedModule[] = [];
    const seen = new Set<string>();
    for (const m of names) {
      const name = this.moduleArg(m, what);
      if (seen.has(name)) continue;
      seen.add(name);
      const obj = this.readObject(name);
      if ('error' in obj) {
        errors.push(explain({ module: name, error: obj.error }, obj.reason));
        continue;
      }
      const p = this.prepare(name, obj.file, obj.text);
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
  installMany(
    preps: PreparedModule[],
    purge: boolean,
  ): { modules: string[] } | { error: ModuleLoadError[] } {
    if (!purge) {
      const errors = preps
        .filter((p) => {
          const r = this.records.get(p.module);
          return r?.current && r.old;
        })
        .map((p) => ({ module: p.module, error: 'not_purged' as const }));
      if (errors.length) return { error: errors };
    }
    const versions: Version[] = [];
    for (const p of preps) {
      const v = this.evaluate(p);
      if ('error' in v) {
        for (const done of versions) {
          unregisterVersion(done);
          done.token.purged = true;
        }
        return { error: [explain({ module: p.module, error: v.error }, v.reason)] };
      }
      versions.push(v);
    }
    for (const v of versions) {
      const rec = this.record(v.module);
      if (rec.old) this.purger.purge(rec);
      this.install(v);
    }
    return { modules: versions.map((v) => v.module) };
  }

  atomicLoad(modules: unknown[]): AtomicLoadResult {
    if (!Array.isArray(modules)) badarg('code.atomicLoad: expected an array of modules');
    const preps = this.prepareMany(modules as string[], 'code.atomicLoad');
    if (isErrors(preps)) return { error: preps };
    return this.installMany(preps, false);
  }

  prepareLoading(modules: unknown[]): PrepareResult {
    if (!Array.isArray(modules)) badarg('code.prepareLoading: expected an array of modules');
    const preps = this.prepareMany(modules as string[], 'code.prepareLoading');
    if (isErrors(preps)) return { error: preps };
    return { prepared: new Prepared(preps) as unknown as PreparedCode };
  }

  finishLoading(prepared: PreparedCode): AtomicLoadResult {
    if (!((prepared as unknown) instanceof Prepared))
      badarg('code.finishLoading: expected the `prepared` value of code.prepareLoading');
    return this.installMany((prepared as unknown as Prepared).modules, false);
  }

  /** Loads the given object texts (already written by the compiler) with purge: `c`. */
  loadCompiled(
    items: { module: string; file: string; text: string }[],
  ): { modules: string[] } | { error: ModuleLoadError[] } {
    const preps: PreparedModule[] = [];
    const errors: ModuleLoadError[] = [];
    for (const it of items) {
      const p = this.prepare(it.module, it.file, it.text);
      if ('error' in p) errors.push(explain({ module: it.module, error: p.error }, p.reason));
      else preps.push(p);
    }
    if (errors.length) return { error: errors };
    return this.installMany(preps, true);
  }

  /** Would `c`/`loadBinary` of `name` be refused because its directory is sticky? */
  isStickyName(name: string): boolean {
    return this.stickyConflict(name, undefined);
  }

  // ---- versions, delete, purge (S2.3, S2.4, S4.1, S4.2) ------------------------------------

  delete(name: string): boolean {
    const rec = this.records.get(name);
    if (rec?.current === undefined || rec.old !== undefined) return false;
    if (this.stickyDirs.has(dirname(rec.current.file))) return false;
    rec.old = rec.current;
    rec.current = undefined;
    rec.repoint(undefined);
    return true;
  }

  purge(name: string): boolean {
    const rec = this.records.get(name);
    return rec ? this.purger.purge(rec) : false;
  }

  softPurge(name: string): boolean {
    const rec = this.records.get(name);
    return rec ? this.purger.softPurge(rec) : true;
  }

  versions(name: string): Versions {
    const rec = this.records.get(name);
    const out: Versions = {};
    if (rec?.current) out.current = info(rec.current);
    if (rec?.old) out.old = info(rec.old);
    return out;
  }

  isLoaded(name: string): { file: string } | false {
    const cur = this.records.get(name)?.current;
    return cur ? { file: cur.file } : false;
  }

  allLoaded(): [string, string][] {
    const out: [string, string][] = [];
    for (const rec of this.records.values())
      if (rec.current) out.push([rec.name, rec.current.file]);
    return out;
  }

  getObjectCode(name: string): { module: string; bytes: Buffer; file: string } | undefined {
    const file = this.path.which(name);
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
    for (const rec of this.records.values()) {
      const cur = rec.current;
      if (!cur || this.stickyDirs.has(dirname(cur.file))) continue;
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

  stickDir(dir: string): true | { error: 'bad_directory' } {
    if (typeof dir !== 'string' || !isDirectory(resolve(dir))) return { error: 'bad_directory' };
    this.stickyDirs.add(resolve(dir));
    return true;
  }

  unstickDir(dir: string): true {
    if (typeof dir === 'string') this.stickyDirs.delete(resolve(dir));
    return true;
  }

  isSticky(name: string): boolean {
    const cur = this.records.get(name)?.current;
    return cur !== undefined && this.stickyDirs.has(dirname(cur.file));
  }

  /** The recorded source of the loaded current version (for the type gate, S6.2). */
  loadedSource(name: string): { file: string; text: string } | undefined {
    const cur = this.records.get(name)?.current;
    if (!cur?.map) return undefined;
    // Every typed `c` asks for every loaded module: parse each version's map once.
    let src = sourceCache.get(cur);
    if (src === undefined) {
      try {
        const m = JSON.parse(cur.map) as { sourcesContent?: (string | null)[] };
        const text = m.sourcesContent?.[0];
        src = typeof text === 'string' ? { file: cur.header.source, text } : null;
      } catch {
        src = null;
      }
      sourceCache.set(cur, src);
    }
    return src ?? undefined;
  }

  /**
   * The versions of a module as they are now, to be put back by
   * `restoreVersions` (a release upgrade's rollback, S8.4). Holding the
   * snapshot keeps a soft-purged old version alive until it is dropped.
   */
  snapshotVersions(name: string): VersionSnapshot {
    const rec = this.records.get(name);
    return new VersionSnapshot(name, rec?.current, rec?.old);
  }

  /**
   * Puts a module's current and old versions back as they were. A version
   * loaded since is withdrawn and purged like old code: a process that
   * entered it is killed (that version no longer exists).
   */
  restoreVersions(snap: VersionSnapshot): void {
    if (!(snap instanceof VersionSnapshot))
      badarg('restoreVersions: expected a snapshot of snapshotVersions');
    const rec = this.record(snap.module);
    if (rec.current !== snap.current) {
      const withdrawn = rec.current;
      rec.current = snap.current;
      rec.old = withdrawn;
      rec.repoint(snap.current);
      if (snap.current !== undefined) registerVersion(snap.current);
      this.purger.purge(rec);
    }
    if (rec.old !== snap.old) {
      if (rec.old !== undefined) this.purger.purge(rec);
      rec.old = snap.old;
      if (snap.old !== undefined) {
        snap.old.token.purged = false; // it was soft-purged (nobody used it): counting resumes
        registerVersion(snap.old);
      }
    }
  }

  /** Unloads everything: the node stops (S0.1). Handles stay, pointing at nothing. */
  reset(): void {
    for (const rec of this.records.values()) {
      for (const v of [rec.old, rec.current]) {
        if (v) {
          unregisterVersion(v);
          v.token.purged = true;
          v.token.counters.clear();
        }
      }
      rec.old = undefined;
      rec.current = undefined;
      rec.repoint(undefined);
    }
    this.stickyDirs.clear();
    this.path.set([]);
  }
}

/** The recorded source of each version, read once (dropped with the version). */
const sourceCache = new WeakMap<Version, { file: string; text: string } | null>();

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
