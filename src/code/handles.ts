/**
 * Module records and handles (S2, S3; docs/architecture.md).
 *
 * Per module name, for the life of the OS process:
 * - a *cell* `{ v }`: `v` is the current version's exports object (or a stub
 *   when there is none). Compiled calls `m.f(x)` become `cell.v.f(x)`: one
 *   property load and a plain call, no trampoline.
 * - a *handle*: the plain, stable object users hold (`mod('m')`, imports
 *   read as values, `genServer`). Its own properties are stable trampolines
 *   for function exports (an external reference, S3.4) and getters of the
 *   current value for everything else (S1.5).
 * - a *miss proxy*, the prototype of the handle, the stub and every exports
 *   object: only a name that is not an own property reaches it, and it
 *   autoloads (S3.5) or throws `undef` — but answers `undefined` to probes
 *   (`then`, symbols, `toJSON`, `constructor`, non-identifiers), so a handle
 *   can be awaited, logged and inspected.
 */
import { inspect } from 'node:util';
import { UndefError } from '../errors.js';
import type { VersionToken } from '../process/frames.js';
import { isIdentifierName } from '../vocabulary.js';
import type { ObjectHeader } from './objectFile.js';

export interface Version {
  readonly module: string;
  readonly exports: Record<string, unknown>;
  readonly header: ObjectHeader;
  /** The object file (or the name given to loadBinary). */
  readonly file: string;
  readonly loadedAt: number;
  /** Load sequence number within the node; part of the stack-trace filename. */
  readonly seq: number;
  /**
   * Which version of its module this is, counting the versions this node has
   * installed (1, 2, …; set when it is installed): "version 1, used by
   * <0.85.0>" in a type gate's transition diagnostics.
   */
  number: number;
  /** The filename V8 sees for this version's code (mapped back in stacktrace.ts). */
  readonly filename: string;
  /** The source map JSON (decoded lazily for stack traces). */
  readonly map: string | undefined;
  /** Suspended-frame bookkeeping of this version (process/frames.ts). */
  readonly token: VersionToken;
}

export interface Cell {
  v: Record<string, unknown>;
}

export class ModuleRecord {
  /** Current version: set by a load, moved to `old` by the next load or by delete. */
  current: Version | undefined = undefined;
  /** Old version: set when a newer one is loaded (or on delete); cleared by purge. */
  old: Version | undefined = undefined;
  /**
   * Bumped by every change of `current` or `old` (the code server's), so a
   * queued change can tell whether someone else moved the module meanwhile
   * (S6.7).
   */
  generation = 0;
  /** Versions of this module installed so far (Version.number of the last one). */
  installed = 0;
  readonly cell: Cell;
  readonly handle: Record<string, unknown>;
  /** Exports object used while there is no current version: every name misses. */
  readonly stub: Record<string, unknown>;
  readonly missProxy: object;
  /** Trampolines by export name, stable across versions (S3.4). */
  private readonly trampolines = new Map<string, (...args: unknown[]) => unknown>();

  constructor(
    readonly name: string,
    autoload: (rec: ModuleRecord) => void,
    describe: (rec: ModuleRecord) => string,
  ) {
    const rec = this;
    this.missProxy = new Proxy(Object.create(null) as object, {
      get(_target, prop, receiver) {
        if (typeof prop === 'symbol' || PROBES.has(prop) || !isIdentifierName(prop)) {
          return typeof prop === 'string' && OBJECT_METHODS.has(prop)
            ? (Object.prototype as unknown as Record<string, unknown>)[prop]
            : undefined;
        }
        if (rec.current === undefined) autoload(rec);
        if (receiver === rec.handle) {
          if (rec.current !== undefined && Object.hasOwn(rec.handle, prop)) return rec.handle[prop];
          // A name no version exports (yet): as Erlang's `fun m:f/a`, the reference
          // can be made now and fails with undef only when called (S3.4).
          return rec.trampoline(prop);
        }
        const target = rec.cell.v;
        if (rec.current !== undefined && Object.hasOwn(target, prop)) return target[prop];
        throw undef(rec, prop);
      },
      has() {
        return false;
      },
      set(_target, prop, value, receiver) {
        // Assigning to a handle or exports object: define on the receiver, as a plain object would.
        Object.defineProperty(receiver, prop, {
          value,
          writable: true,
          enumerable: true,
          configurable: true,
        });
        return true;
      },
    });
    this.cell = { v: Object.create(this.missProxy) as Record<string, unknown> };
    this.stub = this.cell.v;
    this.handle = Object.create(this.missProxy) as Record<string, unknown>;
    Object.defineProperties(this.handle, {
      [HANDLE_NAME]: { value: name },
      [Symbol.toStringTag]: { value: `hotcode module ${name}` },
      [inspect.custom]: { value: () => describe(rec) },
    });

    function undef(r: ModuleRecord, fn: string): UndefError {
      if (r.current === undefined)
        return new UndefError(
          r.name,
          fn,
          `${r.name}.${fn} is undefined: module ${r.name} is not loaded and no object file ${r.name}.js was found on the code path; compile it with c('${r.name}') or check code.getPath()`,
        );
      return new UndefError(
        r.name,
        fn,
        `${r.name}.${fn} is not exported by ${r.name} (loaded from ${r.current.file}); its exports are: ${r.current.header.exports.join(', ') || '(none)'}`,
      );
    }
  }

  /**
   * The external function reference for `name` (Erlang's `fun m:f/a`): it runs
   * the current version at each call, and is the same object across versions.
   */
  trampoline(name: string): (...args: unknown[]) => unknown {
    let t = this.trampolines.get(name);
    if (t === undefined) {
      const cell = this.cell;
      t = {
        [name]: (...args: unknown[]) => (cell.v[name] as (...a: unknown[]) => unknown)(...args),
      }[name]!;
      Object.defineProperty(t, EXTERNAL_REF, { value: `${this.name}.${name}` });
      this.trampolines.set(name, t);
    }
    return t;
  }

  /** Points the cell and the handle at `v` (or at nothing): the moment a version becomes current. */
  repoint(v: Version | undefined): void {
    const h = this.handle;
    if (v === undefined) {
      this.cell.v = this.stub;
      for (const k of Object.keys(h)) delete h[k];
      return;
    }
    const ex = v.exports;
    this.cell.v = ex;
    for (const k of Object.keys(h)) if (!Object.hasOwn(ex, k)) delete h[k];
    const cell = this.cell;
    for (const name of Object.keys(ex)) {
      const desc = Object.getOwnPropertyDescriptor(ex, name)!;
      const value = desc.get === undefined ? desc.value : undefined;
      if (typeof value === 'function' && !isClass(value)) {
        const t = this.trampoline(name);
        const cur = Object.getOwnPropertyDescriptor(h, name);
        if (cur?.value !== t)
          Object.defineProperty(h, name, {
            value: t,
            enumerable: true,
            configurable: true,
            writable: false,
          });
      } else {
        Object.defineProperty(h, name, {
          get: () => cell.v[name],
          enumerable: true,
          configurable: true,
        });
      }
    }
  }
}

const HANDLE_NAME = Symbol('hotcode.module');
const EXTERNAL_REF = Symbol('hotcode.externalRef');

/**
 * `module.fname` if `f` is an external function reference read from a
 * handle (S3.4), so a process spawned with one shows `counter.loop/1` as its
 * initial call, as Erlang shows `counter:loop/1`.
 */
export function externalRefName(f: unknown): string | undefined {
  if (typeof f !== 'function') return undefined;
  const n = (f as unknown as Record<symbol, unknown>)[EXTERNAL_REF];
  return typeof n === 'string' ? n : undefined;
}

/** The module name a handle stands for, or undefined if `x` is not a handle. */
export function handleName(x: unknown): string | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const n = (x as Record<symbol, unknown>)[HANDLE_NAME];
  return typeof n === 'string' ? n : undefined;
}

/**
 * Names that tools probe on any object; they must never autoload or throw
 * (await, console.log, util.inspect, JSON.stringify, REPL previews, test
 * frameworks).
 */
const OBJECT_METHODS = new Set([
  'toString',
  'valueOf',
  'toLocaleString',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);
const PROBES = new Set([
  ...OBJECT_METHODS,
  'then',
  'catch',
  'finally',
  'toJSON',
  'constructor',
  '__proto__',
  'inspect',
  'asymmetricMatch',
  'nodeType',
  'tagName',
  '$$typeof',
  '@@__IMMUTABLE_ITERABLE__@@',
]);

function isClass(f: unknown): boolean {
  return typeof f === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(f));
}
