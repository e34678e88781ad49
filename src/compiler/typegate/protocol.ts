/**
 * The type gate's vocabulary, shared by the main-thread API (`index.ts`), the
 * worker (`worker.ts`) and the engine (`checker.ts`). Only types live here, so
 * importing it costs nothing at run time.
 */
import type { Diagnostic } from '../../types.js';

export interface TypeGateOptions {
  /** Project root: `<root>/tsconfig.json` is the configuration (absent → strict defaults). */
  root: string;
  /**
   * Source directories (absolute, or relative to `root`). A module is a file
   * directly in one of them with a source extension (`SOURCE_EXTENSIONS`:
   * `.ts .mts .tsx .js .mjs .jsx`) whose base name is a module name; the first
   * directory wins a clash, and in one directory the first extension of that
   * list. Imports are resolved as `tsc` resolves them under the project's
   * `tsconfig.json`; the namespace is flat only where that finds nothing: a
   * sibling specifier (`'./name'`, `'./name.js'`…) that names a module of
   * another source directory resolves to it, by the same rules as if the
   * importer sat in that directory.
   */
  srcDirs: string[];
}

/** One module's source as the gate should see it. */
export interface SourceText {
  module: string;
  /** Absolute path of the source file (diagnostics name it). */
  file: string;
  text: string;
}

/**
 * The recorded source of an old version of `module` that live processes will
 * still run after the load (S6.2, S4.3): the *transition* the change
 * makes them go through. `file` is the module's source path (the old text is
 * checked as if it sat there); `text` is that version's source.
 */
export interface TransitionSource extends SourceText {
  /** The caller's key for this version; {@link TypeCheckResult} lists the broken ones by it. */
  id: string;
  /** Names the version and its users in diagnostics, e.g. `version 1, used by <0.85.0>`. */
  label: string;
}

export interface TypeCheckRequest {
  /** The modules of this compile call, with their new sources. */
  changed: SourceText[];
  /**
   * Every other currently loaded module, with the source of its loaded
   * current version (which may differ from the disk). Modules in neither list
   * are read from disk.
   */
  loaded: SourceText[];
  /**
   * Old versions of modules that processes use and will keep running after
   * the load (S6.2): the current version of a changed module that the load
   * makes old, or an importer's version that stays in use. Each is checked
   * as module code beside its module's file, against the code after the load:
   * its sibling imports (a self-import `'./room'` included) resolve to the
   * new sources of `changed` and to `loaded`/the disk for the rest. One that
   * imports none of the changed modules, directly or through re-exports, is
   * not checked (it cannot break).
   */
  transitions?: TransitionSource[];
  /**
   * The baseline for `transitions`: for each module in `changed` that had a
   * current version before this change, the source of that version (what
   * `loaded` would have held for it). An error that a transition source also
   * has against these — the code that ran before the change — is not caused
   * by the change and is not reported (an old version loaded with the gate
   * off does not block every later change). A changed module missing here is
   * taken as one that had no version before (an empty module). Read only when
   * a transition source has errors.
   */
  previous?: SourceText[];
}

export type TypeCheckResult =
  /** No errors in the checked files; `diagnostics` holds warnings, if any. */
  | { ok: true; diagnostics: Diagnostic[] }
  /**
   * At least one error in a checked file or a transition source. Errors found
   * in a transition source carry its `label` as `transition`, and the ids of
   * those sources are in `brokenTransitions` (absent when none broke).
   */
  | { ok: false; diagnostics: Diagnostic[]; brokenTransitions?: string[] }
  /** `tsconfig.json` (or a file it extends) does not parse. */
  | { ok: false; configError: Diagnostic };

/** What the checker worker reports about itself (for benchmarks and tests). */
export interface TypeGateStats {
  /** V8 heap in use in the worker, bytes, after a full GC when one could be forced. */
  heapUsed: number;
  /** Whether a full GC ran before `heapUsed` was read. */
  gcForced: boolean;
  /** Checks served by this worker. */
  checks: number;
  /** Source files in the current program (modules, libraries, declarations). */
  programFiles: number;
  /** Transition sources type-checked so far (those that could not break are not counted). */
  transitionsChecked: number;
  /** Full collections the worker ran itself to keep its memory bounded. */
  gcs: number;
  /**
   * CPU time the worker thread spent in checks (and warm-up), ms; 0 where
   * Node cannot measure a thread's CPU time (before 23.9). Steadier than
   * wall time for benchmarks on a busy machine.
   */
  cpuMs: number;
}

export type ToWorker =
  | { type: 'check'; id: number; req: TypeCheckRequest }
  | { type: 'stats'; id: number }
  /** Build the program and check as a check would, so the next check is warm. */
  | { type: 'warm'; id: number }
  /** Test seam: the worker exits at once, as if it had crashed. */
  | { type: 'crash' };

export type FromWorker =
  | { type: 'result'; id: number; result: TypeCheckResult }
  | { type: 'stats'; id: number; stats: TypeGateStats }
  | { type: 'warmed'; id: number }
  /** The engine threw: the worker exits after sending this. */
  | { type: 'fatal'; id: number; message: string };

/** What the worker is started with (`workerData`). */
export interface WorkerConfig {
  root: string;
  srcDirs: string[];
}
