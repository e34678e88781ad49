/**
 * The code path (S1.3): an ordered list of object-file directories; the
 * first one that has `M.js` wins. Directories are stored absolute.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type PathResult = true | { error: 'bad_directory' };

export class CodePath {
  private dirs: string[] = [];

  get(): string[] {
    return [...this.dirs];
  }

  set(dirs: readonly string[]): PathResult {
    if (!Array.isArray(dirs) || !dirs.every((d) => typeof d === 'string'))
      return { error: 'bad_directory' };
    const abs = dirs.map((d) => resolve(d));
    if (!abs.every(isDirectory)) return { error: 'bad_directory' };
    this.dirs = [...new Set(abs)];
    return true;
  }

  /** Adds at the front (`first`) or at the end; moves it if already there. */
  add(dir: string, first: boolean): PathResult {
    if (typeof dir !== 'string' || !isDirectory(resolve(dir))) return { error: 'bad_directory' };
    const abs = resolve(dir);
    this.dirs = this.dirs.filter((d) => d !== abs);
    if (first) this.dirs.unshift(abs);
    else this.dirs.push(abs);
    return true;
  }

  del(dir: string): boolean {
    if (typeof dir !== 'string') return false;
    const abs = resolve(dir);
    const before = this.dirs.length;
    this.dirs = this.dirs.filter((d) => d !== abs);
    return this.dirs.length !== before;
  }

  /** The object file that loading `module` would use; missing directories are skipped. */
  which(module: string): string | undefined {
    for (const d of this.dirs) {
      const f = join(d, `${module}.js`);
      if (existsSync(f)) return f;
    }
    return undefined;
  }
}

export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
