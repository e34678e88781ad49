/**
 * The ground floor: the words every other floor uses, defined once.
 *
 * - what a module name is, and which source files are modules;
 * - the MD5 that identifies a source (object-file headers, watch mode,
 *   deploys);
 * - hotcode's own version (the shell's banner, a node's status, the observer);
 * - a safe description of any value a process may throw or exit with —
 *   crash reports, the shell, genServer and supervisor all print exit
 *   reasons through {@link describe}, which never throws, whatever the
 *   value does when it is read (docs/semantics.md, "Faults").
 *
 * Nothing here imports another file of hotcode.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { inspect, types } from 'node:util';

// ---- hotcode's version ------------------------------------------------------------

let ownVersion: string | undefined;

/** hotcode's version, from its package.json (read once; 'unknown' if it cannot be read). */
export function hotcodeVersion(): string {
  if (ownVersion === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
        version?: unknown;
      };
      ownVersion = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      ownVersion = 'unknown';
    }
  }
  return ownVersion;
}

// ---- module names -----------------------------------------------------------------

const IDENT = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200C\u200D]*$/u;

/** Words that cannot name a binding in a module, so cannot name a module either. */
const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends ' +
    'false finally for function if import in instanceof new null return super switch this throw ' +
    'true try typeof var void while with yield let static implements interface package private ' +
    'protected public await arguments eval undefined NaN Infinity'
  ).split(' '),
);

/** Is `s` a JavaScript identifier name (reserved words included)? Export names, property keys. */
export function isIdentifierName(s: string): boolean {
  return IDENT.test(s);
}

/**
 * A module name is a JavaScript identifier that can name a binding
 * (`import * as counter from './counter'`), so reserved words are not
 * module names (docs/semantics.md, "Modules").
 */
export function isModuleName(name: unknown): name is string {
  return typeof name === 'string' && IDENT.test(name) && !RESERVED.has(name);
}

/**
 * The source extensions of modules, in the order a source directory is
 * searched when two files give the same module name (`counter.ts` wins over
 * `counter.js`). The compiler, the type gate, watch mode and the shell all
 * use this list.
 */
export const SOURCE_EXTENSIONS: readonly string[] = ['.ts', '.mts', '.tsx', '.js', '.mjs', '.jsx'];

/** The module a source file defines (`src/counter.ts` → `counter`), or undefined if it is none. */
export function moduleOfSourceFile(file: string): string | undefined {
  if (/\.d\.[cm]?ts$/.test(file)) return undefined;
  const ext = extname(file);
  if (!SOURCE_EXTENSIONS.includes(ext)) return undefined;
  const name = basename(file, ext);
  return isModuleName(name) ? name : undefined;
}

/**
 * The module name in a relative import specifier of a sibling module
 * (`'./counter'`, `'./counter.js'`, `'./counter.ts'`, any source extension),
 * or undefined.
 */
export function siblingModuleOf(spec: string): string | undefined {
  const m = /^\.\/([^/\\]+?)(\.(?:[cm]?[jt]s|[jt]sx))?$/.exec(spec);
  return m?.[1] !== undefined && isModuleName(m[1]) ? m[1] : undefined;
}

// ---- identity of a source ------------------------------------------------------------

/** MD5 (hex) of a text: a source's identity in object files and deploys. */
export function md5(text: string | Uint8Array): string {
  return createHash('md5').update(text).digest('hex');
}

// ---- describing any value safely -------------------------------------------------------

const MAX_DESCRIPTION = 4000;

/**
 * A one-line (or, with `stack`, multi-line) description of any value, for
 * crash reports, exit reasons and error messages. Never throws: a value
 * whose properties, `stack`, `toString` or `toJSON` throw, a revoked proxy,
 * an error whose stack cannot be source-mapped — each still gets a
 * description.
 */
export function describe(value: unknown, opts: { stack?: boolean } = {}): string {
  try {
    return clip(describeUnsafe(value, opts.stack === true));
  } catch {
    return fallback(value);
  }
}

function describeUnsafe(value: unknown, stack: boolean): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return String(value);
    case 'symbol':
      return Symbol.prototype.toString.call(value);
  }
  if (value === null) return 'null';
  if (types.isProxy(value)) return inspectSafely(value);
  if (isErrorLike(value)) {
    const e = value as Error;
    if (stack) {
      const s = read(() => e.stack);
      if (typeof s === 'string' && s !== '') return s;
    }
    const name = read(() => e.name);
    const message = read(() => e.message);
    const head = typeof name === 'string' && name !== '' ? name : 'Error';
    return typeof message === 'string' && message !== '' ? `${head}: ${message}` : head;
  }
  return inspectSafely(value);
}

function isErrorLike(value: unknown): boolean {
  if (types.isNativeError(value)) return true;
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

function read(f: () => unknown): unknown {
  try {
    return f();
  } catch {
    return undefined;
  }
}

function inspectSafely(value: unknown): string {
  const base = { depth: 3, breakLength: Number.POSITIVE_INFINITY, showProxy: true };
  try {
    return inspect(value, base);
  } catch {
    // a custom inspect that throws: the plain structure
    return inspect(value, { ...base, customInspect: false, getters: false });
  }
}

function fallback(value: unknown): string {
  if (typeof value === 'function') return '[a function that cannot be described]';
  return '[a value that cannot be described]';
}

function clip(s: string): string {
  return s.length > MAX_DESCRIPTION ? `${s.slice(0, MAX_DESCRIPTION)}… (${s.length} chars)` : s;
}
