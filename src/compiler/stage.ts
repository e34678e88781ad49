/**
 * The compiler's synchronous middle stage: esbuild's JavaScript → hotcode's
 * rewrite (rewrite.ts) → one source map from the rewritten code back to the
 * TypeScript source. Pure (text in, text and plain data out), so it runs on
 * the main thread for ordinary modules and in a worker for large ones
 * (offthread.ts): on a 12 k-export module it is ~350 ms of parsing and
 * rewriting that would otherwise block the event loop.
 */
import remapping from '@jridgewell/remapping';
import { decodedMappings, originalPositionFor, TraceMap } from '@jridgewell/trace-mapping';
import type { Diagnostic } from '../types.js';
import { rewrite } from './rewrite.js';

export interface StageInput {
  module: string;
  /** The source file's path (for diagnostics and the map). */
  file: string;
  /** The TypeScript (or JavaScript) source, kept in the map's sourcesContent. */
  source: string;
  /** esbuild's output and its source map (JSON text). */
  code: string;
  map: string;
}

export type StageOutput =
  | { ok: false; diagnostics: Diagnostic[] }
  | {
      ok: true;
      code: string;
      /** The source map of `code` back to `source`, as JSON text. */
      map: string;
      exports: string[];
      imports: string[];
      vsn: string | undefined;
    };

export function rewriteStage(input: StageInput): StageOutput {
  const { module, file, source, code } = input;
  // esbuild's map, decoded once: where it has segments is where the rewrite's map needs them.
  const esMap = new TraceMap(input.map);
  const lines = lineStarts(code);
  const rw = rewrite(code, module, segmentOffsets(esMap, lines));
  if (rw.problems.length)
    return {
      ok: false,
      diagnostics: rw.problems.map((p) => {
        const { line, column } = offsetToLineCol(lines, p.pos);
        const orig = originalPositionFor(esMap, { line, column });
        return {
          file,
          line: orig.line ?? line,
          column: (orig.column ?? column) + 1,
          message: p.message,
          category: 'error' as const,
        };
      }),
    };
  const map = remapping([rw.map as never, esMap], () => null);
  map.sources = [file];
  map.sourcesContent = [source];
  return {
    ok: true,
    code: rw.code,
    map: JSON.stringify(map),
    exports: rw.exports,
    imports: rw.imports,
    vsn: rw.vsn,
  };
}

/** The offsets in the generated text at which a source map has segments. */
export function* segmentOffsets(map: TraceMap, starts: number[]): Iterable<number> {
  const lines = decodedMappings(map);
  for (let i = 0; i < lines.length; i++) {
    const start = starts[i];
    if (start === undefined) break;
    for (const seg of lines[i]!) yield start + seg[0]!;
  }
}

export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function offsetToLineCol(starts: number[], pos: number): { line: number; column: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= pos) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: pos - starts[lo]! };
}
