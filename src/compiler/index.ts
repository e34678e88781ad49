/**
 * compile.file and the compile step of `c` (SPEC S6.1–S6.3): find sources,
 * compile, ask the type gate, write object files all or none.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
  | { ok: false; error: 'nofile'; module: string };

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
  // Write all or none: temporary files first, then renames.
  const written: { tmp: string; file: string }[] = [];
  try {
    for (const c of compiled) {
      const file = join(req.outDir, `${c.module}.js`);
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, c.text);
      written.push({ tmp, file });
    }
  } catch (e) {
    for (const w of written) rmSync(w.tmp, { force: true });
    throw e;
  }
  for (const w of written) renameSync(w.tmp, w.file);
  const withFiles = compiled.map((c, i) => ({ ...c, file: written[i]!.file }));
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
