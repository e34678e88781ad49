/**
 * compile.file and the compile step of `c` (S6.1–S6.3): find sources,
 * compile, ask the type gate, write object files all or none.
 */
import { existsSync, linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CompileOk, Diagnostic } from '../types.js';
import { SOURCE_EXTENSIONS } from '../vocabulary.js';
import { type CompiledModule, compileSource } from './compile.js';

export function findSource(srcDirs: readonly string[], module: string): string | undefined {
  for (const dir of srcDirs)
    for (const ext of SOURCE_EXTENSIONS) {
      const f = join(dir, module + ext);
      if (existsSync(f)) return f;
    }
  return undefined;
}

/** What a type gate answers; see typegate/. */
export type GateVerdict =
  | { ok: true; diagnostics: Diagnostic[] }
  | { ok: false; diagnostics: Diagnostic[] };

export interface CompileRequest {
  modules: string[];
  srcDirs: readonly string[];
  outDir: string;
  /** Runs the type gate over the new sources; undefined = no gate. */
  gate?: (changed: { module: string; file: string; text: string }[]) => Promise<GateVerdict>;
}

export type CompileManyOutcome =
  | { ok: true; compiled: (CompiledModule & { file: string })[]; results: CompileOk[] }
  | { ok: false; error: 'compile'; diagnostics: Diagnostic[] }
  | { ok: false; error: 'nofile'; module: string }
  | { ok: false; error: 'write'; reason: string };

/** Compiles several modules as one change: all written or none. */
export async function compileModules(req: CompileRequest): Promise<CompileManyOutcome> {
  const sources: { module: string; file: string; text: string }[] = [];
  for (const m of req.modules) {
    const file = findSource(req.srcDirs, m);
    if (file === undefined) return { ok: false, error: 'nofile', module: m };
    sources.push({ module: m, file, text: readFileSync(file, 'utf8') });
  }
  const outcomes = await Promise.all(sources.map((s) => compileSource(s.module, s.file, s.text)));
  const diagnostics: Diagnostic[] = [];
  const compiled: CompiledModule[] = [];
  for (const o of outcomes) {
    if (o.ok) compiled.push(o.compiled);
    else diagnostics.push(...o.diagnostics);
  }
  if (diagnostics.length) return { ok: false, error: 'compile', diagnostics };
  const extraWarnings: Diagnostic[] = [];
  if (req.gate) {
    const verdict = await req.gate(sources);
    if (!verdict.ok) return { ok: false, error: 'compile', diagnostics: verdict.diagnostics };
    extraWarnings.push(...verdict.diagnostics);
  }
  const written = writeAll(req.outDir, compiled);
  if ('reason' in written) return { ok: false, error: 'write', reason: written.reason };
  const withFiles = compiled.map((c, i) => ({ ...c, file: written.files[i]! }));
  return {
    ok: true,
    compiled: withFiles,
    results: withFiles.map((c) => ({
      module: c.module,
      file: c.file,
      warnings: [
        ...c.warnings,
        ...extraWarnings.filter((w) => w.file === sources.find((s) => s.module === c.module)?.file),
      ],
    })),
  };
}

let tmpSeq = 0;

/**
 * Writes the object files all or none (S6.1), or says why not (S6.8): each
 * to a temporary file first, then renamed into place. If a rename fails,
 * the files already renamed get their previous contents back (kept as hard
 * links until every rename succeeded). No temporary file is left either way.
 */
function writeAll(
  outDir: string,
  compiled: readonly CompiledModule[],
): { files: string[] } | { reason: string } {
  const steps = compiled.map((c) => {
    const file = join(outDir, `${c.module}.js`);
    const tmp = `${file}.${process.pid}.${++tmpSeq}.tmp`;
    return { c, file, tmp, backup: `${tmp}.old`, hasBackup: false, renamed: false };
  });
  let failed: { file: string; error: unknown } | undefined;
  for (const s of steps) {
    try {
      writeFileSync(s.tmp, s.c.text);
    } catch (error) {
      failed = { file: s.file, error };
      break;
    }
  }
  if (failed === undefined) {
    for (const s of steps) {
      try {
        if (steps.length > 1 && existsSync(s.file)) {
          linkSync(s.file, s.backup);
          s.hasBackup = true;
        }
        renameSync(s.tmp, s.file);
        s.renamed = true;
      } catch (error) {
        failed = { file: s.file, error };
        break;
      }
    }
  }
  if (failed !== undefined) {
    for (const s of steps) {
      if (!s.renamed) continue;
      attempt(() => (s.hasBackup ? renameSync(s.backup, s.file) : rmSync(s.file)));
    }
  }
  for (const s of steps) {
    attempt(() => rmSync(s.tmp, { force: true }));
    if (s.hasBackup) attempt(() => rmSync(s.backup, { force: true }));
  }
  if (failed === undefined) return { files: steps.map((s) => s.file) };
  const e = failed.error as { code?: unknown; message?: unknown };
  const why = typeof e.message === 'string' ? e.message : String(failed.error);
  return {
    reason:
      `could not write ${failed.file} (${why}); nothing was written. ` +
      `Check that the out directory ${outDir} exists, is a directory and is writable.`,
  };
}

/** Cleanup that must not turn one failure into another. */
function attempt(f: () => void): void {
  try {
    f();
  } catch {
    // nothing more to do: the write already failed, or the file is gone
  }
}
