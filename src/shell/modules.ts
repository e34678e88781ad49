/**
 * Which module names exist for the shell: those on the code path (object
 * files `M.js`), those in a source directory (`M.ts`, `M.js`, …) and those
 * loaded (the runtime's own included). Read from the directories each time,
 * so a module written a moment ago is there at the next line or Tab.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { code } from '../index.js';
import { isModuleName, md5, moduleOfSourceFile, SOURCE_EXTENSIONS } from '../vocabulary.js';

function namesIn(dir: string, objectFiles: boolean): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const f of entries) {
    if (objectFiles) {
      if (!f.endsWith('.js')) continue;
      const name = f.slice(0, -3);
      if (isModuleName(name)) out.push(name);
    } else {
      const name = moduleOfSourceFile(f);
      if (name !== undefined) out.push(name);
    }
  }
  return out;
}

/** Every module name the shell knows of, sorted. */
export function knownModules(srcDirs: readonly string[]): string[] {
  const names = new Set<string>();
  for (const [m] of code.allLoaded()) names.add(m);
  for (const dir of code.getPath()) for (const n of namesIn(dir, true)) names.add(n);
  for (const dir of srcDirs) for (const n of namesIn(dir, false)) names.add(n);
  return [...names].sort();
}

/** The modules that have a source file in one of `srcDirs`, sorted. */
export function sourceModules(srcDirs: readonly string[]): string[] {
  const names = new Set<string>();
  for (const dir of srcDirs) for (const n of namesIn(dir, false)) names.add(n);
  return [...names].sort();
}

/** Loaded modules, sorted. */
export function loadedModules(): string[] {
  return code
    .allLoaded()
    .map(([m]) => m)
    .sort();
}

/** Source modules whose object file in `out` is missing or older than the source (make's rule). */
export function staleModules(srcDirs: readonly string[], out: string): string[] {
  const stale: string[] = [];
  const seen = new Set<string>();
  for (const dir of srcDirs) {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const f of entries.sort()) {
      const name = moduleOfSourceFile(f);
      if (name === undefined || seen.has(name)) continue;
      seen.add(name);
      const src = mtime(join(dir, f));
      const obj = mtime(join(out, `${name}.js`));
      if (src !== undefined && (obj === undefined || obj < src)) stale.push(name);
    }
  }
  return stale;
}

function mtime(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The source file of `module` in the first source directory that has one, or undefined. */
export function sourceFileOf(module: string, srcDirs: readonly string[]): string | undefined {
  for (const dir of srcDirs)
    for (const ext of SOURCE_EXTENSIONS) {
      const f = join(dir, module + ext);
      if (existsSync(f)) return f;
    }
  return undefined;
}

/**
 * Loaded modules whose source differs from their loaded version (the MD5 of
 * the source file against the one the version records): what `recompile()`
 * compiles and loads (S7.6). Runtime modules have no source here.
 */
export function changedSources(srcDirs: readonly string[]): string[] {
  const changed: string[] = [];
  for (const [m] of code.allLoaded()) {
    const file = sourceFileOf(m, srcDirs);
    if (file === undefined) continue;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (code.versions(m).current?.md5 !== md5(text)) changed.push(m);
  }
  return changed.sort();
}

/**
 * The known module names closest to a mistyped `name` ("did you mean
 * counter?", S7.6): within an edit distance (a swap of two neighbours
 * counting one) of a third of the name's length, at least 1; the closest
 * ones only, at most three.
 */
export function closestModules(name: string, srcDirs: readonly string[]): string[] {
  const known = knownModules(srcDirs).filter((m) => m !== name);
  return closest(name, known);
}

export function closest(name: string, candidates: readonly string[]): string[] {
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best = Number.POSITIVE_INFINITY;
  let hits: string[] = [];
  for (const c of candidates) {
    const d = distance(name.toLowerCase(), c.toLowerCase());
    if (d > limit || d > best) continue;
    if (d < best) {
      best = d;
      hits = [];
    }
    hits.push(c);
  }
  return hits.sort().slice(0, 3);
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function distance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]![j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}
