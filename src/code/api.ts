/**
 * The code API (OTP's `code` module, S1–S6): guard-only calls that check
 * their arguments once and ask the code server, which alone changes the
 * module table (code.erl's style). Every call is synchronous.
 */
import { badarg } from '../errors.js';
import type { Pid } from '../process/pid.js';
import type {
  AtomicLoadResult,
  LoadResult,
  ModuleArg,
  PreparedCode,
  PrepareResult,
  Versions,
} from '../types.js';
import type { PathResult } from './path.js';
import type { CodeServer } from './server.js';

/** OTP's `code` module for one node (S1.3, S2, S4, S6.4, S6.6). */
export interface CodeApi {
  /** The code path (S1.3). */
  getPath(): string[];
  /** Sets the code path; `{ error: 'bad_directory' }` if a directory does not exist (path unchanged). */
  setPath(dirs: string[]): PathResult;
  /** Adds a directory at the end (= addPathZ). */
  addPath(dir: string): PathResult;
  addPathZ(dir: string): PathResult;
  /** Adds a directory at the front. */
  addPathA(dir: string): PathResult;
  /** Removes a directory; `false` if it was not on the path. */
  delPath(dir: string): boolean;
  /** The object file that loading would use, or undefined. */
  which(module: ModuleArg): string | undefined;
  /** Loads from the code path; `not_purged` when M has old and current versions (S2.2). */
  loadFile(module: ModuleArg): LoadResult;
  /** Loads only if M has no current version. */
  ensureLoaded(module: ModuleArg): LoadResult;
  /** Loads the given object text, purging old code first (`file` is only recorded). */
  loadBinary(module: ModuleArg, file: string, bytes: Uint8Array | string): LoadResult;
  /** Loads all or none (`not_purged` if any has old code). */
  atomicLoad(modules: ModuleArg[]): AtomicLoadResult;
  /** Reads and compiles all of `modules` without loading: `{ prepared }` for finishLoading. */
  prepareLoading(modules: ModuleArg[]): PrepareResult;
  finishLoading(prepared: PreparedCode): AtomicLoadResult;
  /** Makes the current version old (S2.3); false if M already has old code. */
  delete(module: ModuleArg): boolean;
  /** Kills the processes in M's old code, then removes it (S4.1); true if it killed any. */
  purge(module: ModuleArg): boolean;
  /** Removes M's old code only if no process uses it (S4.2). */
  softPurge(module: ModuleArg): boolean;
  versions(module: ModuleArg): Versions;
  isLoaded(module: ModuleArg): { file: string } | false;
  isModuleLoaded(module: ModuleArg): boolean;
  checkOldCode(module: ModuleArg): boolean;
  allLoaded(): [string, string][];
  getObjectCode(module: ModuleArg): { module: string; bytes: Buffer; file: string } | undefined;
  /** Modules whose object file on disk differs from the loaded current version. */
  modifiedModules(): string[];
  stickDir(dir: string): true | { error: 'bad_directory' };
  unstickDir(dir: string): true;
  isSticky(module: ModuleArg): boolean;
}

/**
 * Keeps a synchronous change in the history of code changes (S10.2): runs
 * `run` and records what it did to `modules`.
 */
export type SyncRecorder = <T>(
  kind: 'load' | 'purge' | 'softPurge' | 'delete',
  modules: readonly string[],
  run: () => T,
  outcome?: (result: T) => { killed?: readonly unknown[] },
) => T;

/**
 * Makes the code API of a node. `live(what)` throws `not_started` when no
 * node runs; the rest is argument checks and one call of the code server.
 */
export function createCodeApi(
  server: CodeServer,
  live: (what: string) => void,
  record: SyncRecorder = (_kind, _modules, run) => run(),
): CodeApi {
  const name = (m: unknown, what: string): string => {
    live(what);
    return server.moduleArg(m, what);
  };
  const names = (ms: unknown, what: string): string[] => {
    live(what);
    if (!Array.isArray(ms)) badarg(`${what}: expected an array of modules`);
    return ms.map((m) => server.moduleArg(m, what));
  };
  /** Checks that a node runs, then asks the server. */
  const ask =
    <R>(what: string, f: () => R) =>
    (): R => {
      live(what);
      return f();
    };
  const dir = (d: unknown, what: string): string => {
    live(what);
    if (typeof d !== 'string')
      badarg(`${what}: expected a directory path (string), got ${typeof d}`);
    return d;
  };
  return Object.freeze({
    getPath: ask('code.getPath', () => server.getPath()),
    setPath: (dirs: string[]) => {
      live('code.setPath');
      if (!Array.isArray(dirs)) badarg('code.setPath: expected an array of directories');
      return server.setPath(dirs);
    },
    addPath: (d: string) => server.addPath(dir(d, 'code.addPath'), false),
    addPathZ: (d: string) => server.addPath(dir(d, 'code.addPathZ'), false),
    addPathA: (d: string) => server.addPath(dir(d, 'code.addPathA'), true),
    delPath: (d: string) => server.delPath(dir(d, 'code.delPath')),
    which: (m: ModuleArg) => server.which(name(m, 'code.which')),
    loadFile: (m: ModuleArg) => {
      const n = name(m, 'code.loadFile');
      return record('load', [n], () => server.loadFile(n));
    },
    ensureLoaded: (m: ModuleArg) => server.ensureLoaded(name(m, 'code.ensureLoaded')),
    loadBinary: (m: ModuleArg, file: string, bytes: Uint8Array | string) => {
      const n = name(m, 'code.loadBinary');
      if (typeof file !== 'string') badarg('code.loadBinary: file must be a string');
      if (typeof bytes !== 'string' && !(bytes instanceof Uint8Array))
        badarg('code.loadBinary: bytes must be a Uint8Array or a string');
      return record('load', [n], () => server.loadBinary(n, file, bytes));
    },
    atomicLoad: (ms: ModuleArg[]) => {
      const ns = names(ms, 'code.atomicLoad');
      return record('load', ns, () => server.atomicLoad(ns));
    },
    prepareLoading: (ms: ModuleArg[]) => server.prepareLoading(names(ms, 'code.prepareLoading')),
    finishLoading: (prepared: PreparedCode) => {
      live('code.finishLoading');
      return record('load', server.preparedModules(prepared), () => server.finishLoading(prepared));
    },
    delete: (m: ModuleArg) => {
      const n = name(m, 'code.delete');
      return record('delete', [n], () => server.delete(n));
    },
    purge: (m: ModuleArg) => {
      const n = name(m, 'code.purge');
      let killed: Pid[] = [];
      record(
        'purge',
        [n],
        () => (killed = server.purgeKilling(n)),
        (k) => ({ killed: k }),
      );
      return killed.length > 0;
    },
    softPurge: (m: ModuleArg) => {
      const n = name(m, 'code.softPurge');
      return record('softPurge', [n], () => server.softPurge(n));
    },
    versions: (m: ModuleArg) => server.versions(name(m, 'code.versions')),
    isLoaded: (m: ModuleArg) => server.isLoaded(name(m, 'code.isLoaded')),
    isModuleLoaded: (m: ModuleArg) => server.isLoaded(name(m, 'code.isModuleLoaded')) !== false,
    checkOldCode: (m: ModuleArg) => server.checkOldCode(name(m, 'code.checkOldCode')),
    allLoaded: ask('code.allLoaded', () => server.allLoaded()),
    getObjectCode: (m: ModuleArg) => server.getObjectCode(name(m, 'code.getObjectCode')),
    modifiedModules: ask('code.modifiedModules', () => server.modifiedModules()),
    stickDir: (d: string) => {
      live('code.stickDir');
      return server.stickDir(d);
    },
    unstickDir: (d: string) => {
      live('code.unstickDir');
      return server.unstickDir(d);
    },
    isSticky: (m: ModuleArg) => server.isSticky(name(m, 'code.isSticky')),
  });
}
