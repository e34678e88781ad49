/** TypeScript diagnostics turned into hotcode's {@link Diagnostic} (1-based, flattened). */
import { resolve } from 'node:path';
import ts from 'typescript';
import type { Diagnostic } from '../../types.js';

const CATEGORY: Record<ts.DiagnosticCategory, Diagnostic['category']> = {
  [ts.DiagnosticCategory.Error]: 'error',
  [ts.DiagnosticCategory.Warning]: 'warning',
  [ts.DiagnosticCategory.Suggestion]: 'suggestion',
  [ts.DiagnosticCategory.Message]: 'message',
};

/** `undefined` for a diagnostic that is not located in a file. */
export function toDiagnostic(d: ts.Diagnostic): Diagnostic | undefined {
  if (!d.file) return undefined;
  const { line, character } = ts.getLineAndCharacterOfPosition(d.file, d.start ?? 0);
  return {
    file: resolve(d.file.fileName),
    line: line + 1,
    column: character + 1,
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
    code: d.code,
    category: CATEGORY[d.category],
  };
}
