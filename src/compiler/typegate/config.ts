/**
 * The compiler options the gate checks with: the user's `tsconfig.json` when
 * there is one — judged as `tsc --noEmit -p tsconfig.json` would judge it,
 * module and resolution rules included — and otherwise the settings
 * `hotcode init` recommends (docs/typegate.md).
 */
import { statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import ts from 'typescript';
import type { Diagnostic } from '../../types.js';
import { toDiagnostic } from './diagnostics.js';

export type ConfigResult =
  | {
      ok: true;
      options: ts.CompilerOptions;
      /** Declaration files the configuration includes (global declarations). */
      declarationFiles: string[];
      /** The files this configuration was read from (tsconfig.json and what it extends). */
      sources: string[];
    }
  | { ok: false; configError: Diagnostic };

/**
 * Used when the project has no tsconfig.json: the options of the
 * `tsconfig.json` that `hotcode init` writes (docs/typegate.md), where every
 * source file is a module (S1.1) and `.js` modules' types are seen by
 * the `.ts` modules that import them.
 */
function defaultOptions(): ts.CompilerOptions {
  return {
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    allowJs: true,
    skipLibCheck: true,
    isolatedModules: true,
    moduleDetection: ts.ModuleDetectionKind.Force,
    esModuleInterop: true,
  };
}

/**
 * Options that only matter for emitting; with `noEmit` forced they would at
 * best do nothing and at worst be reported as conflicting with it.
 */
const EMIT_ONLY: readonly (keyof ts.CompilerOptions)[] = [
  'declaration',
  'declarationMap',
  'declarationDir',
  'emitDeclarationOnly',
  'isolatedDeclarations',
  'sourceMap',
  'inlineSourceMap',
  'inlineSources',
  'composite',
  'incremental',
  'tsBuildInfoFile',
  'outFile',
  'outDir',
  'rootDir',
];

/**
 * As `tsc --noEmit`: nothing is emitted, so emit-only options are dropped.
 * Everything else — `module`, `moduleResolution`, `allowImportingTsExtensions`,
 * `allowJs`, `moduleDetection`, `verbatimModuleSyntax`… — is the project's,
 * so an import specifier is accepted or refused exactly as `tsc` does.
 */
function forCheckOnly(options: ts.CompilerOptions): ts.CompilerOptions {
  const o: ts.CompilerOptions = { ...options };
  for (const key of EMIT_ONLY) delete o[key];
  o.noEmit = true;
  return o;
}

/**
 * Node's own types are always in: when the configuration lists `types`, `node`
 * is added; when it does not, TypeScript's automatic inclusion of
 * `node_modules/@types/*` is made explicit and `node` added to it. Where
 * `node` resolves to is the checker's business (the project's own
 * `@types/node` first, hotcode's copy otherwise).
 */
function withNodeTypes(options: ts.CompilerOptions, cwd: string): ts.CompilerOptions {
  const host: ts.ModuleResolutionHost = {
    fileExists: ts.sys.fileExists,
    readFile: ts.sys.readFile,
    directoryExists: ts.sys.directoryExists,
    getDirectories: ts.sys.getDirectories,
    realpath: ts.sys.realpath,
    getCurrentDirectory: () => cwd,
  };
  const types = options.types ?? ts.getAutomaticTypeDirectiveNames(options, host);
  return { ...options, types: types.includes('node') ? [...types] : [...types, 'node'] };
}

function errorAt(file: string, d: ts.Diagnostic | undefined, fallback: string): Diagnostic {
  if (d) {
    const diag = toDiagnostic(d);
    if (diag) return diag;
    return {
      file,
      line: 1,
      column: 1,
      message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
      code: d.code,
      category: 'error',
    };
  }
  return { file, line: 1, column: 1, message: fallback, category: 'error' };
}

/** TS18003 "No inputs were found": the gate does not use the config's file list for modules. */
const NO_INPUTS = 18003;

/**
 * The directory whose `tsconfig.json` judges the modules: the nearest one at
 * or above the first source directory, up to the project root — as an editor
 * picks the nearest tsconfig for a file (a project whose modules live in
 * `examples/` with an `examples/tsconfig.json` is judged by that one, not by
 * the root's). The root when none is found on the way.
 */
export function configDir(root: string, srcDirs: readonly string[]): string {
  const top = resolve(root);
  const first = srcDirs[0];
  if (first === undefined) return top;
  let d = resolve(top, first);
  if (d !== top && !d.startsWith(`${top}${sep}`)) return top; // a source directory outside the project
  for (;;) {
    if (ts.sys.fileExists(join(d, 'tsconfig.json'))) return d;
    if (d === top) return top;
    d = dirname(d);
  }
}

/** Reads and parses `<root>/tsconfig.json` (not cached: see {@link ConfigCache}). */
export function readConfig(root: string): ConfigResult {
  const file = join(root, 'tsconfig.json');
  if (!ts.sys.fileExists(file)) {
    return {
      ok: true,
      options: defaultOptions(),
      declarationFiles: [],
      sources: [],
    };
  }
  const text = ts.sys.readFile(file);
  if (text === undefined) {
    return { ok: false, configError: errorAt(file, undefined, `cannot read ${file}`) };
  }
  const syntax = ts.parseConfigFileTextToJson(file, text);
  if (syntax.error)
    return { ok: false, configError: errorAt(file, syntax.error, 'does not parse') };
  const source = ts.parseJsonText(file, text) as ts.TsConfigSourceFile;
  const parsed = ts.parseJsonSourceFileConfigFileContent(source, ts.sys, root, undefined, file);
  const errors = parsed.errors.filter(
    (d) => d.code !== NO_INPUTS && d.category === ts.DiagnosticCategory.Error,
  );
  if (errors.length > 0) {
    return { ok: false, configError: errorAt(file, errors[0], 'invalid configuration') };
  }
  return {
    ok: true,
    options: withNodeTypes(forCheckOnly(parsed.options), root),
    declarationFiles: parsed.fileNames.filter((f) => /\.d\.[cm]?ts$/.test(f)),
    sources: [file, ...(source.extendedSourceFiles ?? [])],
  };
}

function stamp(file: string): string {
  try {
    const s = statSync(file);
    return `${s.mtimeMs}:${s.size}`;
  } catch {
    return 'absent';
  }
}

/**
 * The `package.json` files whose `"type"` can decide whether a module is ES or
 * CommonJS (`module: nodenext`, S6.2): the nearest one above a source
 * file decides, so every `package.json` path from each source directory up to
 * the filesystem root (a few `stat`s per check).
 */
export function packageJsonFiles(root: string, srcDirs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const dir of srcDirs) {
    let d = resolve(root, dir);
    for (;;) {
      out.add(join(d, 'package.json'));
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  return [...out];
}

/**
 * Re-reads the configuration only when `tsconfig.json`, a file it extends or
 * a `package.json` that decides the module format (`watched`) has changed (by
 * mtime and size), so a check costs a few `stat`s, not a parse. `generation`
 * changes whenever the options or those files do.
 */
export class ConfigCache {
  /** Where the tsconfig.json is looked for: asked at every read, so one made later is found. */
  #dir: () => string;
  #lastDir: string | undefined;
  #watched: readonly string[];
  /** The stamps the current result was read under; undefined before the first read. */
  #stamps: Map<string, string> | undefined;
  #result: ConfigResult | undefined;
  generation = 0;

  constructor(dir: string | (() => string), watched: readonly string[] = []) {
    this.#dir = typeof dir === 'string' ? () => dir : dir;
    this.#watched = watched;
  }

  get(): ConfigResult {
    const dir = this.#dir();
    // A failed read is not cached: the file at fault may be one it extends.
    if (
      this.#result?.ok &&
      this.#stamps &&
      dir === this.#lastDir &&
      [...this.#stamps].every(([f, s]) => stamp(f) === s)
    ) {
      return this.#result;
    }
    this.#lastDir = dir;
    const file = join(dir, 'tsconfig.json');
    const stamps = new Map([[file, stamp(file)]]);
    for (const f of this.#watched) stamps.set(f, stamp(f));
    const result = readConfig(dir);
    if (result.ok) {
      for (const f of result.sources) if (!stamps.has(f)) stamps.set(f, stamp(f));
    }
    this.#stamps = stamps;
    this.#result = result;
    this.generation++;
    return result;
  }
}
