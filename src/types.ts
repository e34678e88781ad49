/**
 * The public types of hotcode: results of code loading (S6.4), version
 * information (S2.4), compile results (S6.1) and handles (S0.4, S3).
 *
 * Everyday failures are values from closed sets; misuse
 * throws a {@link HotcodeError} with a stable `code`.
 */

/** Why a load failed (OTP's `code:load_error_rsn()`). */
export type LoadError =
  | 'nofile'
  | 'badfile'
  | 'not_purged'
  | 'sticky_directory'
  | 'on_load_failure';

/** `{ module }` on success, `{ error }` otherwise (`code:load_file/1`). */
export type LoadResult = { module: string } | { error: LoadError };

/** One failed member of an atomic load. */
export interface ModuleLoadError {
  module: string;
  error: LoadError;
}

export type AtomicLoadResult = { modules: string[] } | { error: ModuleLoadError[] };

/** Opaque result of `code.prepareLoading`, consumed by `code.finishLoading`. */
export interface PreparedCode {
  readonly __preparedCode: unique symbol;
}

export type PrepareResult = { prepared: PreparedCode } | { error: ModuleLoadError[] };

/** Identity of one loaded version of a module (S2.4). */
export interface VersionInfo {
  /** `export const vsn = …` if the module has one, else the MD5 of its source. */
  vsn: string;
  /** MD5 (hex) of the module's source text. */
  md5: string;
  /** The object file it was loaded from (or the name given to `loadBinary`). */
  file: string;
  /** Milliseconds since the epoch. */
  loadedAt: number;
  /** Sequence number of this load within the node (1, 2, …); useful in logs. */
  seq: number;
}

export interface Versions {
  current?: VersionInfo;
  old?: VersionInfo;
}

/** A compile problem, located in the source file (1-based line and column). */
export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  message: string;
  /** TypeScript's error number for type errors; absent for syntax/rewrite errors. */
  code?: number;
  category: 'error' | 'warning' | 'suggestion' | 'message';
  /**
   * Set when the problem is in an old version of the module that processes
   * still run (S6.2, the transition): names that version and its users,
   * e.g. `version 1, used by <0.85.0>`; `line` and `column` are in that
   * version's recorded source.
   */
  transition?: string;
}

export interface CompileOk {
  module: string;
  /** The object file written. */
  file: string;
  warnings: Diagnostic[];
}

export interface CompileFailed {
  error: 'compile';
  diagnostics: Diagnostic[];
  /**
   * When the refusal is (also) about a transition (S6.2): the modules whose
   * old versions in use would break, and the processes that run them —
   * `c(Ms, { oldCode: 'kill' })` loads anyway and kills exactly these.
   */
  oldUsers?: OldUsers[];
}

/** Processes that run an old version of `module` (S6.2 transitions). */
export interface OldUsers {
  module: string;
  pids: import('./process/pid.js').Pid[];
}

export interface NoSource {
  error: 'nofile';
}

/**
 * The object files could not be written (`out` removed, not a directory,
 * read-only; S6.8): none was written, and the running code is untouched.
 */
export interface WriteFailed {
  error: 'write';
  /** What failed and what to check. */
  reason: string;
}

export type CompileResult = CompileOk | CompileFailed | NoSource | WriteFailed;
export type CompileManyResult = { modules: CompileOk[] } | CompileFailed | NoSource | WriteFailed;

export interface CompileOptions {
  /** Run the type gate (S6.2). Default: the node's `typecheck` option (true). */
  typecheck?: boolean;
  /**
   * `c` only (S6.2): `'kill'` loads a change whose only type errors are in old
   * versions that processes still run (the transition), and kills exactly
   * those processes (reason `'killed'`, as a purge would; a supervisor
   * restarts them on the new code). Default: such a change is refused.
   */
  oldCode?: 'refuse' | 'kill';
}

/** What `c(M)` returns: the load result, or the compile error. */
export type CResult = LoadResult | CompileFailed | NoSource | WriteFailed;
/** What `c([M1, M2])` returns. */
export type CManyResult =
  | { modules: string[] }
  | { error: ModuleLoadError[] }
  | CompileFailed
  | NoSource
  | WriteFailed;

/**
 * A module handle: a stable object per module name whose properties are the
 * module's current exports (S1.5, S3). Functions read from it are external
 * references that always call the current version (S3.4).
 *
 * Give it the module's type to call it with types:
 * `mod<typeof import('./counter.js')>('counter').inc()`.
 */
export type Handle<T extends object = ModuleExports> = T & { readonly [handleBrand]?: true };
declare const handleBrand: unique symbol;

/** The untyped shape of a module's exports. */
export interface ModuleExports {
  readonly [name: string]: unknown;
}

/** Wherever a module is expected, its name or its handle is accepted (S0.4). */
export type ModuleArg = string | Handle<object>;

export interface StartOptions {
  /** Source directories that `c` and `compile.file` read (default: `['src']`). */
  src?: string | string[];
  /** Where object files are written (default: `'ebin'`). */
  out?: string;
  /** Further object-file directories, after `out` on the code path. */
  path?: string[];
  /** Run the type gate by default (default `true`). */
  typecheck?: boolean;
  /** Project root used for tsconfig lookup and relative paths (default: `process.cwd()`). */
  root?: string;
  /**
   * The node's name (`[A-Za-z0-9_.-]`, at most 64 characters): the node listens
   * for control connections on the Unix socket `<dir>/<name>.sock` (S9.1); in a
   * cluster it names the node in its group (default there `<host>-<pid>`, S11.1).
   */
  name?: string;
  /**
   * `false`: no control listener even with a name. An object: also listen on
   * TCP, TLS 1.3 only (S9.1).
   */
  control?: false | ControlOptions;
  /** The shared secret's file (S9.2); default `$HOTCODE_SECRET_FILE`, else `~/.hotcode/secret`. */
  secretFile?: string;
  /**
   * Join a group of nodes on NATS JetStream (S11.1): presence by heartbeat,
   * and the group's current release loaded before `start` resolves.
   */
  cluster?: ClusterOptions;
}

/** A named node's control listener (S9.1): TCP besides the Unix socket. */
export interface ControlOptions {
  /** TCP port (0: any free port); no TCP without it. */
  port?: number;
  /** Default `'127.0.0.1'`; another address than loopback needs `allowRemote`. */
  host?: string;
  allowRemote?: boolean;
  /**
   * Certificates instead of the secret as the TLS key (PSK): the node's
   * `key` and `cert`, and the `ca` that signed its clients' certificates.
   * PEM text or file paths.
   */
  tls?: { key: string; cert: string; ca: string };
  /**
   * Where the log of authenticated commands and refused connections goes
   * (S9.3): a function given each line, or (the default) the file
   * `<dir>/<name>.log`.
   */
  log?: (line: string) => void;
  /**
   * The log file's size limit (default 10 MiB): past it the file becomes
   * `<name>.log.1` (replacing the previous one) and a new one starts, so a
   * long-lived node — or a stream of refused connections — keeps at most
   * twice this on disk.
   */
  logMaxBytes?: number;
}

/** Where a node's group lives (S11.1): NATS servers, the group, credentials if the server wants them. */
export interface ClusterOptions {
  /** `nats://host:port`, or several. */
  servers: string | string[];
  /** Default `'default'`. */
  group?: string;
  user?: string;
  pass?: string;
  token?: string;
}
