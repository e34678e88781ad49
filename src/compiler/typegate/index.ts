/**
 * The type gate (S6.2): refuses a change whose types do not check — in
 * the changed modules, in the modules that import them, or in the old
 * versions that processes still run after the load (the transition) —
 * before anything is written or loaded. It judges as `tsc --noEmit` would
 * with the project's `tsconfig.json` (docs/typegate.md).
 *
 * The checker is a warm TypeScript LanguageService in a `worker_thread`; this
 * side only posts sources and receives diagnostics, so a node serving traffic
 * does not pause while its code is checked. Checks run one at a time, in the
 * order they were asked for. The worker does not keep the event loop alive
 * while idle.
 *
 * @example
 * const gate = createTypeGate({ root, srcDirs: [join(root, 'src')] });
 * const r = await gate.check({ changed: [{ module: 'adder', file, text }], loaded: [] });
 * if (!r.ok) console.log('configError' in r ? r.configError : r.diagnostics);
 * await gate.close();
 */
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type {
  FromWorker,
  SourceText,
  ToWorker,
  TypeCheckRequest,
  TypeCheckResult,
  TypeGateOptions,
  TypeGateStats,
  WorkerConfig,
} from './protocol.js';

export type {
  SourceText,
  TransitionSource,
  TypeCheckRequest,
  TypeCheckResult,
  TypeGateOptions,
  TypeGateStats,
} from './protocol.js';

export interface TypeGate {
  /**
   * Type-checks the modules of one compile call and the modules they can
   * break, against the code that will run after the load, and the old
   * versions in `req.transitions` against the same code (errors they also
   * have against `req.previous` are not reported). Rejects only with
   * a {@link TypeGateError}: `typegate_crashed` when the checker died (the
   * next check starts a new one), `typegate_closed` after {@link close}.
   */
  check(req: TypeCheckRequest): Promise<TypeCheckResult>;
  /**
   * Starts the checker and brings it to the state a first check leaves it in
   * — TypeScript loaded, the program built from the sources on disk, a type
   * checker made with the library declarations resolved, and the checker's
   * code run once — so that the first {@link check} is as fast as the later
   * ones (a node or shell calls this when it starts; without it the first
   * check pays one to two seconds). Resolves when done; never rejects (a
   * failure then shows in the next check).
   */
  warm(): Promise<void>;
  /** The checker's heap and counters (for benchmarks); starts the worker if needed. */
  stats(): Promise<TypeGateStats>;
  /** Terminates the worker; later calls reject with `typegate_closed`. */
  close(): Promise<void>;
}

export type TypeGateErrorCode = 'typegate_crashed' | 'typegate_closed';

export class TypeGateError extends Error {
  override name = 'TypeGateError';
  readonly code: TypeGateErrorCode;

  constructor(code: TypeGateErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** @internal Test seam: kill the worker as if it had crashed. */
export interface TypeGateTestSeams {
  crashWorker(): void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** One worker and the requests it has not answered; `dead` once it exited or was given up. */
interface Running {
  worker: Worker;
  pending: Map<number, Pending>;
  dead: boolean;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);
/** The checker worker's young generation, MB (`resourceLimits.maxYoungGenerationSizeMb`). */
const YOUNG_GENERATION_MB = 16;

export function createTypeGate(opts: TypeGateOptions): TypeGate {
  const root = resolve(opts.root);
  const config: WorkerConfig = { root, srcDirs: opts.srcDirs.map((d) => resolve(root, d)) };
  /** The live worker; set on the first request, cleared when it dies. */
  let current: Running | undefined;
  let closed = false;
  let nextId = 1;
  /** The last queued check; the next one starts when it has settled. */
  let tail: Promise<unknown> = Promise.resolve();

  const closedError = (): TypeGateError =>
    new TypeGateError('typegate_closed', 'the type gate is closed (its node was stopped)');

  function die(r: Running, err: Error): void {
    if (r.dead) return;
    r.dead = true;
    if (current === r) current = undefined;
    for (const p of r.pending.values()) p.reject(err);
    r.pending.clear();
  }

  function crashed(why: string): TypeGateError {
    return new TypeGateError(
      'typegate_crashed',
      `the type checker worker crashed (${why}); the next check starts a new one`,
    );
  }

  function start(): Running {
    // nb: a worker inherits the process's execArgv by default, and some
    // flags (`--input-type`, `--eval`-only ones) make it fail to start; the
    // checker needs none of them.
    const worker = new Worker(WORKER_URL, {
      workerData: config,
      execArgv: [],
      // A small young generation: V8's default grows it to 64 MB semi-spaces,
      // all resident, for no gain in check time (see worker.ts on memory).
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    worker.unref();
    const r: Running = { worker, pending: new Map(), dead: false };
    worker.on('message', (msg: FromWorker) => {
      const p = r.pending.get(msg.id);
      if (!p) return;
      if (msg.type === 'fatal') {
        die(r, crashed(msg.message));
        void worker.terminate();
        return;
      }
      r.pending.delete(msg.id);
      if (r.pending.size === 0) worker.unref();
      p.resolve(msg.type === 'result' ? msg.result : msg.type === 'stats' ? msg.stats : undefined);
    });
    worker.on('error', (err) => die(r, crashed(err.message)));
    worker.on('exit', (code) => die(r, crashed(`exit code ${code}`)));
    return r;
  }

  function request<T>(
    msg: { type: 'check'; req: TypeCheckRequest } | { type: 'stats' } | { type: 'warm' },
  ): Promise<T> {
    if (closed) return Promise.reject(closedError());
    current ??= start();
    const r = current;
    return new Promise<T>((resolvePromise, reject) => {
      const id = nextId++;
      r.pending.set(id, { resolve: resolvePromise as (v: unknown) => void, reject });
      // Keep the process alive only while an answer is awaited.
      if (r.pending.size === 1) r.worker.ref();
      r.worker.postMessage({ ...msg, id } as ToWorker);
    });
  }

  function enqueue<T>(run: () => Promise<T>): Promise<T> {
    const result = tail.then(run);
    tail = result.catch(() => undefined);
    return result;
  }

  const gate: TypeGate & TypeGateTestSeams = {
    check(req) {
      const bad = badRequest(req);
      if (bad) return Promise.reject(new TypeError(bad));
      const plainReq: TypeCheckRequest = {
        changed: req.changed.map(plain),
        loaded: req.loaded.map(plain),
      };
      if (req.transitions?.length) {
        plainReq.transitions = req.transitions.map((t) => ({
          ...plain(t),
          id: t.id,
          label: t.label,
        }));
        if (req.previous) plainReq.previous = req.previous.map(plain);
      }
      const message = { type: 'check' as const, req: plainReq };
      return enqueue(() => request<TypeCheckResult>(message));
    },
    warm() {
      return enqueue(() => request<void>({ type: 'warm' })).then(
        () => undefined,
        () => undefined,
      );
    },
    stats() {
      return enqueue(() => request<TypeGateStats>({ type: 'stats' }));
    },
    async close() {
      closed = true;
      const r = current;
      if (!r) return;
      die(r, closedError());
      await r.worker.terminate();
    },
    crashWorker() {
      current?.worker.postMessage({ type: 'crash' } satisfies ToWorker);
    },
  };
  return gate;
}

const isSource = (s: unknown): boolean =>
  typeof s === 'object' &&
  s !== null &&
  typeof (s as SourceText).module === 'string' &&
  typeof (s as SourceText).file === 'string' &&
  typeof (s as SourceText).text === 'string';

/** Why `req` is not a {@link TypeCheckRequest}, or undefined if it is one. */
function badRequest(req: TypeCheckRequest): string | undefined {
  const shape =
    'check() expects { changed: SourceText[], loaded: SourceText[], transitions?: TransitionSource[], previous?: SourceText[] }';
  if (!req || !Array.isArray(req.changed) || !Array.isArray(req.loaded)) return shape;
  if (!req.changed.every(isSource) || !req.loaded.every(isSource))
    return `${shape}: a SourceText is { module, file, text }, all strings`;
  if (req.transitions !== undefined) {
    if (!Array.isArray(req.transitions)) return shape;
    for (const t of req.transitions) {
      if (!isSource(t) || typeof t.id !== 'string' || typeof t.label !== 'string')
        return `${shape}: a TransitionSource is { id, label, module, file, text }, all strings`;
    }
  }
  if (req.previous !== undefined && (!Array.isArray(req.previous) || !req.previous.every(isSource)))
    return `${shape}: previous holds SourceText { module, file, text }`;
  return undefined;
}

/** Only the three fields cross the thread boundary (callers may pass richer objects). */
function plain(s: { module: string; file: string; text: string }): {
  module: string;
  file: string;
  text: string;
} {
  return { module: s.module, file: s.file, text: s.text };
}
