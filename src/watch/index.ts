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
 * of its callers, saved one after the other, load as one change. A save that
 * puts a pending module's source back to its running version loads nothing
 * and says so (`restored`), so the last line on screen is not a stale refusal.
 */

import { existsSync, type FSWatcher, watch as fsWatch, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withOrigin } from '../changes.js';
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
  | {
      type: 'compile_failed';
      modules: string[];
      diagnostics: Diagnostic[];
      /** Processes in old versions that the change would break (S6.2): `--old-code kill` loads anyway. */
      oldUsers?: { module: string; pids: Pid[] }[];
    }
  | { type: 'load_failed'; modules: string[]; error: string; reason?: unknown }
  /** A refused module's source is back to the version that runs: nothing to load. */
  | { type: 'restored'; module: string; version: string };

export interface WatchOptions {
  /** Absolute source directories. */
  src: readonly string[];
  /** Type gate on/off for these loads; default: the node's `typecheck` option. */
  typecheck?: boolean;
  /** Quiet time after the last event of a module before it is compiled (default 1 ms; the empty file of a truncate-then-write save is skipped, and a save that lands during a load is applied after it). */
  debounceMs?: number;
  /** Keep the event loop alive while watching (default false). */
  persistent?: boolean;
  /**
   * `'kill'`: load a change even when processes in old versions would break
   * (S6.2 transitions), killing them, as `c(Ms, { oldCode: 'kill' })`.
   */
  oldCode?: 'kill';
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
    return compare(module) === 'changed';
  }

  function compare(module: string): 'changed' | 'same' | 'unknown' {
    const file = sourceFile(module);
    if (file === undefined) return 'unknown';
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return 'unknown';
    }
    // An empty file is an editor half-way through a save (truncate, then write): wait for the write.
    if (text.length === 0) return 'unknown';
    const loaded = code.versions(module).current?.md5;
    if (loaded === undefined) return 'changed';
    return loaded === md5(text) ? 'same' : 'changed';
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
    for (const m of batch.keys())
      if (pending.has(m) && compare(m) === 'same') {
        pending.delete(m);
        opts.onReport({ type: 'restored', module: m, version: versionLabel(m) });
      }
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
    const options: { typecheck?: boolean; oldCode?: 'kill' } = {};
    if (opts.typecheck !== undefined) options.typecheck = opts.typecheck;
    if (opts.oldCode !== undefined) options.oldCode = opts.oldCode;
    let r: Record<string, unknown>;
    try {
      // `oldCode` is passed through as is (the node's `c` knows it, S6.2).
      const cOptions = options as Parameters<typeof c>[1];
      r = (await withOrigin('watch', () =>
        mods.length === 1 ? c(mods[0]!, cOptions) : c(mods, cOptions),
      )) as Record<string, unknown>;
    } catch (e) {
      if (report)
        opts.onReport({ type: 'load_failed', modules: mods, error: 'exception', reason: e });
      return { ok: false };
    }
    if ('module' in r || 'modules' in r) {
      const ms = Math.round(performance.now() - started);
      // The runtime says whom the change killed (`killed`, non-enumerable); else count them here.
      const all = r.killed as Pid[] | undefined;
      for (const m of mods) {
        const killed =
          Array.isArray(all) && mods.length === 1
            ? all.length
            : (inOld.get(m) ?? []).filter((p) => !isProcessAlive(p)).length;
        opts.onReport({ type: 'loaded', module: m, version: versionLabel(m), killed, ms });
      }
      return { ok: true };
    }
    if (!report) return { ok: false };
    if (r.error === 'compile') {
      const report: WatchReport = {
        type: 'compile_failed',
        modules: mods,
        diagnostics: r.diagnostics as Diagnostic[],
      };
      const oldUsers = r.oldUsers as { module: string; pids: Pid[] }[] | undefined;
      if (Array.isArray(oldUsers) && oldUsers.length > 0) report.oldUsers = oldUsers;
      opts.onReport(report);
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
