/**
 * The object file: hotcode's `.beam`. A self-describing JavaScript file
 *
 *   line 1   //hotcode {"format":1,"module":"counter","exports":[…],…}   (the header)
 *   line 2…  the body of a function the loader evaluates with vm.compileFunction
 *   last     //# sourceMappingURL=data:application/json;base64,…   (maps the body
 *            to the .ts source; its `sourcesContent` is the source itself)
 *
 * It is never imported through Node's module system, so a purged version can
 * be garbage-collected (S1.2).
 */
import { md5 } from '../vocabulary.js';

export { md5 };

/**
 * Bumped when the layout or the linkage the body expects changes. 2: a
 * killed process's compiled code awaits `__hc.k()` (a promise that never
 * settles) where format 1 expected it to throw, so a format-1 file would let
 * a killed process run on: it is refused, to be recompiled.
 */
export const FORMAT_VERSION = 2;
const OLDEST_FORMAT = 2;
const HEADER_PREFIX = '//hotcode ';
const MAP_PREFIX = '//# sourceMappingURL=data:application/json;base64,';

export interface ObjectHeader {
  format: number;
  module: string;
  exports: string[];
  /** Sibling modules this one imports or re-exports. */
  imports: string[];
  /** MD5 (hex) of the source text. */
  md5: string;
  vsn: string;
  /** Milliseconds since the epoch. */
  compiledAt: number;
  /** Absolute path of the source file at compile time. */
  source: string;
  options: Record<string, unknown>;
}

export interface ParsedObject {
  header: ObjectHeader;
  /** The function body, with its inline source map comment. */
  body: string;
  /** The source map JSON text (undefined if the file has none). */
  map: string | undefined;
}

export function formatObjectFile(header: ObjectHeader, body: string, mapJson: string): string {
  const map = Buffer.from(mapJson).toString('base64');
  return `${HEADER_PREFIX}${JSON.stringify(header)}\n${body}${body.endsWith('\n') ? '' : '\n'}${MAP_PREFIX}${map}\n`;
}

/**
 * Parses an object file; returns a reason string when it is not one (the
 * loader turns any reason into `badfile`, S6.8): no header, a header that is
 * not JSON or lacks a field or has one of the wrong type, another module's
 * name, a newer format, a source map that is not a JSON source map.
 */
export function parseObjectFile(text: string, expectedModule: string): ParsedObject | string {
  if (typeof text !== 'string') return 'the object file is not text';
  if (!text.startsWith(HEADER_PREFIX)) return 'no hotcode header on the first line';
  const nl = text.indexOf('\n');
  if (nl < 0) return 'no body after the header';
  let header: ObjectHeader;
  try {
    header = JSON.parse(text.slice(HEADER_PREFIX.length, nl)) as ObjectHeader;
  } catch {
    return 'the header is not valid JSON';
  }
  const bad = checkHeader(header, expectedModule);
  if (bad !== undefined) return bad;
  const body = text.slice(nl + 1);
  let map: string | undefined;
  const at = body.lastIndexOf(MAP_PREFIX);
  if (at >= 0) {
    const end = body.indexOf('\n', at);
    map = Buffer.from(
      body.slice(at + MAP_PREFIX.length, end < 0 ? undefined : end),
      'base64',
    ).toString();
    const badMap = checkMap(map);
    if (badMap !== undefined) return badMap;
  }
  // The loader maps stack traces itself (stacktrace.ts): V8 need not scan the map's long
  // base64 line (0.6 s of a 0.9 s load for a 12 MB map).
  return { header, body: at >= 0 ? body.slice(0, at) : body, map };
}

function checkHeader(header: unknown, expectedModule: string): string | undefined {
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    return 'the header is not an object';
  const h = header as Record<string, unknown>;
  if (typeof h.format !== 'number') return 'the header has no format version';
  if (h.format > FORMAT_VERSION)
    return `format version ${h.format} is newer than this runtime's (${FORMAT_VERSION}); recompile the module or upgrade hotcode`;
  if (h.format < OLDEST_FORMAT)
    return `format version ${h.format} was written by an older hotcode, whose code this runtime cannot keep from running after a kill; recompile the module (c or hotcode compile)`;
  if (h.module !== expectedModule)
    return `the header names module '${String(h.module)}', not '${expectedModule}'`;
  if (!isStringArray(h.exports)) return 'the header has no export list (a list of names)';
  if (h.imports === undefined) h.imports = [];
  else if (!isStringArray(h.imports)) return "the header's import list is not a list of names";
  if (typeof h.md5 !== 'string') return 'the header has no md5';
  if (typeof h.vsn !== 'string') return 'the header has no vsn';
  if (typeof h.source !== 'string' || h.source === '') return 'the header has no source path';
  if (h.compiledAt !== undefined && typeof h.compiledAt !== 'number')
    return "the header's compiledAt is not a number";
  if (h.options === undefined) h.options = {};
  else if (typeof h.options !== 'object' || h.options === null)
    return "the header's options are not an object";
  return undefined;
}

function isStringArray(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((e) => typeof e === 'string');
}

/** A source map the stack traces can use: JSON with a version, sources and mappings. */
function checkMap(map: string): string | undefined {
  let m: unknown;
  try {
    m = JSON.parse(map);
  } catch {
    return 'its source map is not valid JSON (a truncated or damaged file?)';
  }
  if (typeof m !== 'object' || m === null) return 'its source map is not an object';
  const sm = m as { version?: unknown; sources?: unknown; mappings?: unknown };
  if (sm.version !== 3 || !Array.isArray(sm.sources) || typeof sm.mappings !== 'string')
    return 'its source map is not a version 3 source map';
  return undefined;
}

/** The source text recorded in an object file's source map, if any. */
export function sourceOf(parsed: ParsedObject): string | undefined {
  if (!parsed.map) return undefined;
  try {
    const m = JSON.parse(parsed.map) as { sourcesContent?: (string | null)[] };
    return m.sourcesContent?.[0] ?? undefined;
  } catch {
    return undefined;
  }
}
