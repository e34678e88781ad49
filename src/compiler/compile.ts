/**
 * Source → object file text: esbuild (TS → JS, source map) → acorn +
 * magic-string rewrites and one source map back to the source (stage.ts; in
 * a worker for large modules, offthread.ts) → the object file of objectFile.ts.
 * No type work here: the type gate (typegate/) runs beside it.
 */

import { compileFunction } from 'node:vm';
import { originalPositionFor, TraceMap } from '@jridgewell/trace-mapping';
import { type TransformOptions, type TransformResult, transform } from 'esbuild';
import { FORMAT_VERSION, formatObjectFile, md5, type ObjectHeader } from '../code/objectFile.js';
import type { Diagnostic } from '../types.js';
import { OFF_THREAD_CHARS, rewriteStageOffThread } from './offthread.js';

export interface CompiledModule {
  module: string;
  header: ObjectHeader;
  /** The whole object file. */
  text: string;
  warnings: Diagnostic[];
}

export type CompileOutcome =
  | { ok: true; compiled: CompiledModule }
  | { ok: false; diagnostics: Diagnostic[] };

/** esbuild's options for a source file: types stripped, ESM kept, an external source map. */
export function transformOptions(file: string): TransformOptions {
  const isTs = /\.[cm]?tsx?$/.test(file);
  return {
    loader: isTs ? (file.endsWith('x') ? 'tsx' : 'ts') : file.endsWith('x') ? 'jsx' : 'js',
    format: 'esm',
    target: 'esnext',
    sourcemap: 'external',
    sourcefile: file,
    sourcesContent: true,
    tsconfigRaw: {
      compilerOptions: { verbatimModuleSyntax: false, useDefineForClassFields: true },
    },
  };
}

/** One source to its object file, or the diagnostics that stop it (nothing is written here). */
export async function compileSource(
  module: string,
  file: string,
  source: string,
): Promise<CompileOutcome> {
  let out: TransformResult;
  try {
    out = await transform(source, transformOptions(file));
  } catch (e) {
    const failure = e as {
      errors?: { text: string; location?: { line: number; column: number; file: string } | null }[];
    };
    return {
      ok: false,
      diagnostics: (failure.errors ?? [{ text: String(e) }]).map((m) => ({
        file,
        line: m.location?.line ?? 1,
        column: (m.location?.column ?? 0) + 1,
        message: m.text,
        category: 'error' as const,
      })),
    };
  }
  const warnings: Diagnostic[] = out.warnings.map((m) => ({
    file,
    line: m.location?.line ?? 1,
    column: (m.location?.column ?? 0) + 1,
    message: m.text,
    category: 'warning' as const,
  }));

  // The rewrite and the source map: in a worker for a large module (offthread.ts).
  const large = out.code.length > OFF_THREAD_CHARS;
  const rw = await rewriteStageOffThread({ module, file, source, code: out.code, map: out.map });
  if (!rw.ok) return rw;
  // An object file that would not load is never written (S6.8).
  if (large) await turn();
  const broken = syntaxErrorOf(rw.code, file);
  if (broken) {
    const at =
      broken.line > 0
        ? originalPositionFor(new TraceMap(rw.map), {
            line: broken.line,
            column: broken.column,
          })
        : undefined;
    return {
      ok: false,
      diagnostics: [
        {
          file,
          line: at?.line ?? 1,
          column: (at?.column ?? 0) + 1,
          message: `hotcode compiled this module into code that would not load (${broken.message}), so nothing was written. This is a bug in hotcode's compiler: please report it with this source.`,
          category: 'error',
        },
      ],
    };
  }
  if (large) await turn();
  const sum = md5(source);
  const header: ObjectHeader = {
    format: FORMAT_VERSION,
    module,
    exports: rw.exports,
    imports: rw.imports,
    md5: sum,
    vsn: rw.vsn ?? sum,
    compiledAt: Date.now(),
    source: file,
    options: {},
  };
  return {
    ok: true,
    compiled: {
      module,
      header,
      text: formatObjectFile(header, rw.code, rw.map),
      warnings,
    },
  };
}

/**
 * Does the body parse as the function body the loader makes of it (same
 * parameters, same V8)? Compiled, not run. Returns the SyntaxError's message
 * and its 1-based line, 0-based column in the body (line 0 if unknown).
 */
export function syntaxErrorOf(
  body: string,
  file: string,
): { message: string; line: number; column: number } | undefined {
  const filename = `${file} (compiled)`;
  try {
    compileFunction(body, LINKAGE_PARAMS, { filename });
    return undefined;
  } catch (e) {
    const err = e as { message?: unknown; stack?: unknown };
    const message = typeof err.message === 'string' ? err.message : String(e);
    // V8's stack of a SyntaxError: "file:line", the line, a caret under the column.
    const stack = typeof err.stack === 'string' ? err.stack.split('\n') : [];
    const line = stack[0]?.startsWith(`${filename}:`)
      ? Number(stack[0].slice(filename.length + 1))
      : 0;
    const caret = stack[2]?.indexOf('^') ?? -1;
    return {
      message: `SyntaxError: ${message}`,
      line: Number.isInteger(line) ? line : 0,
      column: Math.max(caret, 0),
    };
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The parameters of an object file's body (code/server.ts evaluates it with these). */
const LINKAGE_PARAMS = ['__hc', '__hcV'];
