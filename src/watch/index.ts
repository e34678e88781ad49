/**
 * Watch mode: save a source file and its new version is live.
 *
 * `fs.watch` on each source directory (modules live directly in one, S1.4).
 * Events are coalesced for a millisecond (an editor's save is
 * often a truncate and a write, or a write and a rename), then the changed
 * modules are compiled and loaded together with `c` — type gate included
 * when the node has it on — so a version that does not compile never reaches
 * the running system (S6.2, S6.3). While a load runs, further saves queue up
 * and are applied as one change after it.
 *
 * A module whose last save was refused stays *pending*: the next save of any
 * module is tried together with it, so that a signature change and the fix
 * of its callers, saved one after the other, load as one change.
 */
import { existsSync, type FSWatcher, watch as fsWatch, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  c,
  checkProcessCode,
  code,
  type Diagnostic,
  isProcessAlive,
  type Pid,
  processes,
} from '../index.js';
import { md5, moduleOfSourceFile, SOURCE_EXTENSIONS } from '../vocabulary.js';

/** What one reload did, for the one line watch mode prints. */
export type WatchReport =
  | {
      type: 'loaded';
      module: string;
      /** `v3` (the third version this node loaded) or the module's own `vsn`. */
      version: string;
      /** Processes killed by the purge of the version this load made old. */
      killed: number;
      /** From the first file event of this change to the new code being current. */
      ms: number;
    }
  | { type: 'compile_failed'; modules: string[]; diagnostics: Diagnostic[] }
  | { type: 'load_failed'; modules: string[]; error: string; reason?: unknown };

export interface WatchOptions {
  /** Absolute source directories. */
  src: readonly string[];
  /** Type gate on/off for these loads; default: the node's `typecheck` option. */
  typecheck?: boolean;
  /** Quiet time after the last event of a module before it is compiled (default 1 ms; the empty file of a truncate-then-write save is skipped, and a save that lands during a load is applied after it). */
  debounceMs?: number;
  /** Keep the event loop alive while watching (default false). */
  persistent?: boolean;
  onReport(report: WatchReport): void;
}

export interface Watcher {
  /** Resolves when no change is waiting or being applied. */
  idle(): Promise<void>;
  close(): void;
}

/** Loads counted per module, so a reload line can say `v3`. Shared by the shell's `c`/`l`. */
const loadCounts = new Map<string, { seq: number; n: number }>();

/**
 * A short label for the current version of `module`: its `vsn` when the
 * module declares one (`export const vsn = '1.2'` → `v1.2`), else `vN`, N
 * counting the versions of it this node has loaded.
 */
export function versionLabel(module: string): string {
  const cur = code.versions(module).current;
  if (cur === undefined) return 'not loaded';
  let entry = loadCounts.get(module);
  if (entry === undefined) loadCounts.set(module, (entry = { seq: cur.seq, n: 1 }));
  else if (entry.seq !== cur.seq) {
    entry.seq = cur.seq;
    entry.n++;
  }
  return cur.vsn !== cur.md5 ? `v${cur.vsn}` : `v${entry.n}`;
}

export function watch(opts: WatchOptions): Watcher {
  const debounceMs = opts.debounceMs ?? 1;
  const watchers: FSWatcher[] = [];
  /** Modules with events in the current window, and when the first event came. */
  const dirty = new Map<string, number>();
  /** Modules whose last change was refused; retried with the next change. */
  const pending = new Set<string>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  let closed = false;

  function sourceFile(module: string): string | undefined {
    for (const dir of opts.src)
      for (const ext of SOURCE_EXTENSIONS) {
        const f = join(dir, module + ext);
        if (existsSync(f)) return f;
      }
    return undefined;
  }

  /** Has the file's text changed from the loaded version (the object file records the source's MD5)? */
  function changed(module: string): boolean {
    const file = sourceFile(module);
    if (file === undefined) return false;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return false;
    }
    // An empty file is an editor half-way through a save (truncate, then write): wait for the write.
    if (text.length === 0) return false;
    return code.versions(module).current?.md5 !== md5(text);
  }

  function onEvent(dir: string, filename: string | Buffer | null): void {
    if (closed || filename === null) return;
    const module = moduleOfSourceFile(join(dir, filename.toString()));
    if (module === undefined) return;
    if (!dirty.has(module)) dirty.set(module, performance.now());
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(flush, debounceMs);
    if (!opts.persistent) timer.unref();
  }

  function flush(): void {
    timer = undefined;
    if (running !== undefined) return; // applied when the running load ends
    const batch = new Map(dirty);
    dirty.clear();
    running = apply(batch).finally(() => {
      running = undefined;
      if (dirty.size && timer === undefined && !closed) flush();
    });
  }

  async function apply(batch: Map<string, number>): Promise<void> {
    const mods = [...batch.keys()].filter(changed);
    if (mods.length === 0) return;
    const started = Math.min(...mods.map((m) => batch.get(m)!));
    const retry = [...pending].filter((m) => !mods.includes(m) && changed(m));
    if (retry.length) {
      const together = await load([...mods, ...retry], started);
      if (together.ok) {
        for (const m of retry) pending.delete(m);
        return;
      }
    }
    const alone = await load(mods, started, true);
    if (!alone.ok) for (const m of mods) pending.add(m);
  }

  /** `c(mods)`, reporting each loaded module; reports failures only if `report`. */
  async function load(mods: string[], started: number, report = false): Promise<{ ok: boolean }> {
    // `c` purges the old version before the current one becomes old: its users are the ones killed.
    const inOld = new Map<string, Pid[]>();
    for (const m of mods) {
      versionLabel(m); // counts the version being replaced (it may have been autoloaded since the watch began)
      if (code.checkOldCode(m))
        inOld.set(
          m,
          processes().filter((p) => checkProcessCode(p, m)),
        );
    }
    const options = opts.typecheck === undefined ? {} : { typecheck: opts.typecheck };
    let r: Record<string, unknown>;
    try {
      r = (mods.length === 1 ? await c(mods[0]!, options) : await c(mods, options)) as Record<
        string,
        unknown
      >;
    } catch (e) {
      if (report)
        opts.onReport({ type: 'load_failed', modules: mods, error: 'exception', reason: e });
      return { ok: false };
    }
    if ('module' in r || 'modules' in r) {
      const ms = Math.round(performance.now() - started);
      for (const m of mods) {
        const killed = (inOld.get(m) ?? []).filter((p) => !isProcessAlive(p)).length;
        opts.onReport({ type: 'loaded', module: m, version: versionLabel(m), killed, ms });
      }
      return { ok: true };
    }
    if (!report) return { ok: false };
    if (r.error === 'compile') {
      opts.onReport({
        type: 'compile_failed',
        modules: mods,
        diagnostics: r.diagnostics as Diagnostic[],
      });
    } else if (Array.isArray(r.error)) {
      const first = r.error[0] as { error: string; reason?: unknown };
      opts.onReport({
        type: 'load_failed',
        modules: mods,
        error: first.error,
        reason: first.reason,
      });
    } else {
      opts.onReport({
        type: 'load_failed',
        modules: mods,
        error: String(r.error),
        reason: r.reason,
      });
    }
    return { ok: false };
  }

  // Versions loaded before the watcher started count as v1.
  for (const [m] of code.allLoaded()) versionLabel(m);

  for (const dir of opts.src) {
    if (!existsSync(dir)) continue;
    const w = fsWatch(dir, { persistent: opts.persistent ?? false }, (_event, filename) =>
      onEvent(dir, filename),
    );
    w.on('error', () => {});
    watchers.push(w);
  }

  return {
    async idle() {
      while (timer !== undefined || running !== undefined) {
        if (running) await running;
        else await new Promise((r) => setTimeout(r, debounceMs));
      }
    },
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
