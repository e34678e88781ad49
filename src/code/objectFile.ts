/**
 * The object file: hotcode's `.beam`. A self-describing JavaScript file
 *
 *   line 1   //hotcode {"format":1,"module":"counter","exports":[…],…}   (the header)
 *   line 2…  the body of a function the loader evaluates with vm.compileFunction
 *   last     //# sourceMappingURL=data:application/json;base64,…   (maps the body
 *            to the .ts source; its `sourcesContent` is the source itself)
 *
 * It is never imported through Node's module system, so a purged version can
 * be garbage-collected (SPEC S1.2).
 */
import { md5 } from '../vocabulary.js';

export { md5 };

/** Bumped when the layout or the linkage the body expects changes. */
export const FORMAT_VERSION = 1;
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
 * Parses an object file; returns a reason string when it is not one
 * (the loader turns any reason into `badfile`).
 */
export function parseObjectFile(text: string, expectedModule: string): ParsedObject | string {
  if (!text.startsWith(HEADER_PREFIX)) return 'no hotcode header on the first line';
  const nl = text.indexOf('\n');
  if (nl < 0) return 'no body after the header';
  let header: ObjectHeader;
  try {
    header = JSON.parse(text.slice(HEADER_PREFIX.length, nl)) as ObjectHeader;
  } catch {
    return 'the header is not valid JSON';
  }
  if (typeof header !== 'object' || header === null) return 'the header is not an object';
  if (typeof header.format !== 'number') return 'the header has no format version';
  if (header.format > FORMAT_VERSION)
    return `format version ${header.format} is newer than this runtime's (${FORMAT_VERSION}); recompile the module or upgrade hotcode`;
  if (header.module !== expectedModule)
    return `the header names module '${String(header.module)}', not '${expectedModule}'`;
  if (!Array.isArray(header.exports) || !header.exports.every((e) => typeof e === 'string'))
    return 'the header has no export list';
  if (typeof header.md5 !== 'string' || typeof header.vsn !== 'string')
    return 'the header has no md5/vsn';
  if (!Array.isArray(header.imports)) header.imports = [];
  const body = text.slice(nl + 1);
  let map: string | undefined;
  const at = body.lastIndexOf(MAP_PREFIX);
  if (at >= 0) {
    const end = body.indexOf('\n', at);
    map = Buffer.from(
      body.slice(at + MAP_PREFIX.length, end < 0 ? undefined : end),
      'base64',
    ).toString();
  }
  return { header, body, map };
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
