/**
 * Which module names exist for the shell: those on the code path (object
 * files `M.js`), those in a source directory (`M.ts`, `M.js`, …) and those
 * loaded (the runtime's own included). Read from the directories each time,
 * so a module written a moment ago is there at the next line or Tab.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { code } from '../index.js';
import { isModuleName, moduleOfSourceFile } from '../vocabulary.js';

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
