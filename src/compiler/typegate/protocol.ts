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
   * directly in one of them, `<dir>/<name>.ts` or `<dir>/<name>.js`, whose
   * name is a JavaScript identifier. The namespace is flat: `'./name'` names
   * module `name` wherever it lives; the first directory wins a clash.
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

export interface TypeCheckRequest {
  /** The modules of this compile call, with their new sources. */
  changed: SourceText[];
  /**
   * Every other currently loaded module, with the source of its loaded
   * current version (which may differ from the disk). Modules in neither list
   * are read from disk.
   */
  loaded: SourceText[];
}

export type TypeCheckResult =
  /** No errors in the checked files; `diagnostics` holds warnings, if any. */
  | { ok: true; diagnostics: Diagnostic[] }
  /** At least one error in a checked file. */
  | { ok: false; diagnostics: Diagnostic[] }
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
}

export type ToWorker =
  | { type: 'check'; id: number; req: TypeCheckRequest }
  | { type: 'stats'; id: number }
  /** Test seam: the worker exits at once, as if it had crashed. */
  | { type: 'crash' };

export type FromWorker =
  | { type: 'result'; id: number; result: TypeCheckResult }
  | { type: 'stats'; id: number; stats: TypeGateStats }
  /** The engine threw: the worker exits after sending this. */
  | { type: 'fatal'; id: number; message: string };

/** What the worker is started with (`workerData`). */
export interface WorkerConfig {
  root: string;
  srcDirs: string[];
}
