/**
 * Stack traces that point into the `.ts` source of the version that ran,
 * old versions included (docs/architecture.md). Each loaded version is
 * compiled under its own filename; while it is current or old, that filename
 * maps to its source map here. Purge unregisters it, so no per-version map
 * outlives its version (Node's own source-map cache is keyed by filename and
 * would keep them).
 */
import { originalPositionFor, TraceMap } from '@jridgewell/trace-mapping';
import type { Version } from './handles.js';

const live = new Map<string, { version: Version; trace?: TraceMap; broken?: boolean }>();
type Prepare = (err: Error, frames: NodeJS.CallSite[]) => unknown;
let previous: Prepare | undefined;
let installed = false;

export function registerVersion(v: Version): void {
  live.set(v.filename, { version: v });
}

export function unregisterVersion(v: Version): void {
  live.delete(v.filename);
}

export function clearVersions(): void {
  live.clear();
}

/** Maps a generated position of a live version to its source (1-based line and column). */
export function mapPosition(
  filename: string,
  line: number,
  column: number,
): { file: string; line: number; column: number } | undefined {
  const entry = live.get(filename);
  if (entry === undefined || entry.version.map === undefined || entry.broken) return undefined;
  try {
    entry.trace ??= new TraceMap(entry.version.map);
    const pos = originalPositionFor(entry.trace, { line, column: column - 1 });
    if (pos.line == null || pos.source == null) return undefined;
    return { file: pos.source, line: pos.line, column: pos.column + 1 };
  } catch {
    // A map that cannot be decoded: frames of this version stay in compiled code.
    entry.broken = true;
    return undefined;
  }
}

function fileOf(cs: NodeJS.CallSite): string {
  try {
    return cs.getFileName() ?? '';
  } catch {
    return '';
  }
}

function safeFrame(cs: NodeJS.CallSite): string {
  try {
    return formatFrame(cs);
  } catch {
    return '<a frame that cannot be printed>';
  }
}

function formatFrame(cs: NodeJS.CallSite): string {
  const text = cs.toString();
  const file = cs.getFileName();
  if (file === undefined || file === null || !live.has(file)) return text;
  const line = cs.getLineNumber();
  const col = cs.getColumnNumber();
  if (line === null || col === null) return text;
  const mapped = mapPosition(file, line, col);
  if (mapped === undefined) return text;
  return text.replace(`${file}:${line}:${col}`, `${mapped.file}:${mapped.line}:${mapped.column}`);
}

export function installStackTraces(): void {
  if (installed) return;
  installed = true;
  previous = Error.prepareStackTrace as Prepare | undefined;
  // Never throws (S0.5): a stack that cannot be mapped is printed as it is.
  Error.prepareStackTrace = (err: Error, frames: NodeJS.CallSite[]) => {
    if (previous !== undefined && !frames.some((f) => live.has(fileOf(f))))
      return previous(err, frames);
    let head: string;
    try {
      head = Error.prototype.toString.call(err);
    } catch {
      head = 'Error';
    }
    return head + frames.map((f) => `\n    at ${safeFrame(f)}`).join('');
  };
}

export function uninstallStackTraces(): void {
  if (!installed) return;
  installed = false;
  if (previous === undefined) delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
  else Error.prepareStackTrace = previous;
  previous = undefined;
}
