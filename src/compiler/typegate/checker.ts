/**
 * The type gate's engine: one long-lived TypeScript LanguageService over an
 * in-memory view of the project's modules. Synchronous; it runs inside the
 * gate's worker (`worker.ts`), never on the node's main thread.
 *
 * Each check brings the view up to date (new sources for the changed modules,
 * the loaded versions' sources for the other loaded modules, the disk for the
 * rest), bumps the script version of exactly the files whose text changed,
 * and asks TypeScript for the diagnostics of the files the change can break
 * only. Unchanged files keep their parsed and bound trees between checks, so a
 * warm check costs a new type checker over the same trees plus the checking of
 * a handful of files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { Diagnostic } from '../../types.js';
import { ConfigCache } from './config.js';
import { toDiagnostic } from './diagnostics.js';
import {
  flatModuleName,
  isModuleName,
  type ModuleDeps,
  moduleDeps,
  modulesToCheck,
} from './graph.js';
import type { SourceText, TypeCheckRequest, TypeCheckResult, WorkerConfig } from './protocol.js';

export interface Checker {
  check(req: TypeCheckRequest): TypeCheckResult;
  /** Checks done and files in the current program. */
  stats(): { checks: number; programFiles: number };
  dispose(): void;
}

/** A file of the in-memory view: a module, or a declaration file of the project. */
interface FileEntry {
  /** Changes exactly when `text` does. */
  version: string;
  text: string;
  /** Created on demand, dropped with the text it was made from. */
  snapshot: ts.IScriptSnapshot | undefined;
  /** The module's imports of other modules; computed on demand per version. */
  deps: ModuleDeps | undefined;
}

/** TypeScript's spelling of a path: absolute, forward slashes. */
function tsPath(p: string): string {
  return sep === '/' ? p : p.split(sep).join('/');
}

/** `dist/index.d.ts` of the package this file belongs to (it sits at `dist/compiler/typegate/`). */
function hotcodeDeclarations(): string | undefined {
  const file = fileURLToPath(new URL('../../index.d.ts', import.meta.url));
  return ts.sys.fileExists(file) ? tsPath(file) : undefined;
}

/** hotcode's own `@types/node` (a dependency), for projects that have none. */
function hotcodeNodeTypes(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('@types/node/package.json');
    const index = join(dirname(pkg), 'index.d.ts');
    return ts.sys.fileExists(index) ? tsPath(index) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads files from disk again only when their mtime or size changed. */
class DiskCache {
  #files = new Map<string, { stamp: string; text: string }>();
  #seen = new Set<string>();

  read(file: string): string | undefined {
    this.#seen.add(file);
    let stamp: string;
    try {
      const s = statSync(file);
      stamp = `${s.mtimeMs}:${s.size}`;
    } catch {
      this.#files.delete(file);
      return undefined;
    }
    const cached = this.#files.get(file);
    if (cached?.stamp === stamp) return cached.text;
    try {
      const text = readFileSync(file, 'utf8');
      this.#files.set(file, { stamp, text });
      return text;
    } catch {
      this.#files.delete(file);
      return undefined;
    }
  }

  /** Forgets the files not read since the last sweep. */
  sweep(): void {
    for (const f of this.#files.keys()) if (!this.#seen.has(f)) this.#files.delete(f);
    this.#seen.clear();
  }
}

/** As tsc does: JSDoc is parsed only where it can carry types (JS files). */
const JSDOC_MODE = ts.JSDocParsingMode.ParseForTypeErrors;
const MODULE_EXT = /\.(ts|js)$/;
const DECLARATION_EXT = /\.d\.[cm]?ts$/;

export function createChecker(cfg: WorkerConfig): Checker {
  const root = resolve(cfg.root);
  const srcDirs = cfg.srcDirs.map((d) => resolve(root, d));
  const caseSensitive = ts.sys.useCaseSensitiveFileNames;
  const canonical = (f: string): string => (caseSensitive ? f : f.toLowerCase());
  const configCache = new ConfigCache(root);
  const hotcodeDts = hotcodeDeclarations();
  const nodeTypes = hotcodeNodeTypes();
  const disk = new DiskCache();

  /** Every file of the view, by TypeScript path. */
  const files = new Map<string, FileEntry>();
  /** Module name → its file (TypeScript path). */
  let modules = new Map<string, string>();
  /** Canonical paths of the module files, for the resolver. */
  let moduleFiles = new Set<string>();
  let rootNames: string[] = [];
  let options: ts.CompilerOptions = {};
  let projectVersion = 0;
  let nextScriptVersion = 0;
  /** Set when the module map changed: every file's imports are resolved again. */
  let invalidateAll = false;
  /** Canonical paths of modules with an import that did not resolve: resolved again each time. */
  const unresolvedIn = new Set<string>();
  /** Resolutions made from library files (node_modules, lib, hotcode's declarations); per service. */
  let libraryResolutionCache: ts.ModuleResolutionCache | undefined;
  let typeResolutionCache: ts.TypeReferenceDirectiveResolutionCache | undefined;
  let checks = 0;

  const resolutionHost: ts.ModuleResolutionHost = {
    fileExists: (f) => files.has(f) || ts.sys.fileExists(f),
    readFile: (f) => files.get(f)?.text ?? ts.sys.readFile(f),
    directoryExists: (d) => ts.sys.directoryExists(d),
    getDirectories: (d) => ts.sys.getDirectories(d),
    realpath: (p) => (ts.sys.realpath ? ts.sys.realpath(p) : p),
    getCurrentDirectory: () => root,
    useCaseSensitiveFileNames: caseSensitive,
  };

  function resolveModuleNameLiterals(
    literals: readonly ts.StringLiteralLike[],
    containingFile: string,
    redirected: ts.ResolvedProjectReference | undefined,
    opts: ts.CompilerOptions,
    containingSourceFile: ts.SourceFile,
  ): readonly ts.ResolvedModuleWithFailedLookupLocations[] {
    const fromModule = moduleFiles.has(canonical(containingFile));
    let unresolved = false;
    const out = literals.map((lit): ts.ResolvedModuleWithFailedLookupLocations => {
      const spec = lit.text;
      if (spec === 'hotcode' && hotcodeDts) {
        // The API of the node this gate runs in, whatever the project has installed.
        return {
          resolvedModule: {
            resolvedFileName: hotcodeDts,
            extension: ts.Extension.Dts,
            isExternalLibraryImport: true,
          },
        };
      }
      const name = fromModule ? flatModuleName(spec) : undefined;
      if (name !== undefined) {
        // Modules live in a flat namespace across the source directories (SPEC S1.4).
        const file = modules.get(name);
        if (file === undefined) {
          unresolved = true;
          return { resolvedModule: undefined };
        }
        return {
          resolvedModule: {
            resolvedFileName: file,
            extension: file.endsWith('.js') ? ts.Extension.Js : ts.Extension.Ts,
            isExternalLibraryImport: false,
            resolvedUsingTsExtension: spec.endsWith('.ts'),
          },
        };
      }
      const mode = ts.getModeForUsageLocation(containingSourceFile, lit, opts);
      // Libraries' resolutions are cached for the life of the service; a
      // module's are not, so a package installed later is found.
      const cache = fromModule ? undefined : libraryResolutionCache;
      const r = ts.resolveModuleName(
        spec,
        containingFile,
        opts,
        resolutionHost,
        cache,
        redirected,
        mode,
      );
      if (!r.resolvedModule) unresolved = true;
      return r;
    });
    if (fromModule && unresolved) unresolvedIn.add(canonical(containingFile));
    else unresolvedIn.delete(canonical(containingFile));
    return out;
  }

  function resolveTypeReferenceDirectiveReferences<T extends ts.FileReference | string>(
    refs: readonly T[],
    containingFile: string,
    redirected: ts.ResolvedProjectReference | undefined,
    opts: ts.CompilerOptions,
    containingSourceFile: ts.SourceFile | undefined,
  ): readonly ts.ResolvedTypeReferenceDirectiveWithFailedLookupLocations[] {
    return refs.map((ref) => {
      const name = typeof ref === 'string' ? ref : ref.fileName.toLowerCase();
      const mode =
        typeof ref === 'string'
          ? undefined
          : ts.getModeForFileReference(ref, containingSourceFile?.impliedNodeFormat);
      const r = ts.resolveTypeReferenceDirective(
        name,
        containingFile,
        opts,
        resolutionHost,
        redirected,
        typeResolutionCache,
        mode,
      );
      if (!r.resolvedTypeReferenceDirective && name === 'node' && nodeTypes) {
        // The project has no @types/node of its own: use hotcode's.
        return {
          resolvedTypeReferenceDirective: {
            primary: true,
            resolvedFileName: nodeTypes,
            isExternalLibraryImport: true,
          },
        };
      }
      return r;
    });
  }

  const host: ts.LanguageServiceHost & {
    hasInvalidatedResolutions(path: string): boolean;
    getModuleResolutionCache(): ts.ModuleResolutionCache | undefined;
  } = {
    getCompilationSettings: () => options,
    getProjectVersion: () => String(projectVersion),
    getScriptFileNames: () => rootNames,
    getScriptVersion: (f) => files.get(f)?.version ?? '0',
    getScriptSnapshot: (f) => {
      const entry = files.get(f);
      if (entry) return (entry.snapshot ??= ts.ScriptSnapshot.fromString(entry.text));
      // A library file (lib, node_modules, hotcode's declarations) never
      // changes version; the service asks for its snapshot on every update
      // all the same, so answer from the tree it already has, not the disk.
      const known = lastProgram?.getSourceFile(f);
      if (known) return ts.ScriptSnapshot.fromString(known.text);
      const text = ts.sys.readFile(f);
      return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
    },
    getCurrentDirectory: () => root,
    getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
    fileExists: resolutionHost.fileExists,
    readFile: (f) => resolutionHost.readFile(f),
    directoryExists: resolutionHost.directoryExists,
    getDirectories: resolutionHost.getDirectories,
    realpath: resolutionHost.realpath,
    readDirectory: ts.sys.readDirectory,
    useCaseSensitiveFileNames: () => caseSensitive,
    resolveModuleNameLiterals,
    resolveTypeReferenceDirectiveReferences,
    jsDocParsingMode: JSDOC_MODE,
    // Not in the public LanguageServiceHost type, but honoured by the service:
    // without it, resolutions of unchanged files are reused even when the
    // module map changed (a missing sibling created, a module moved).
    hasInvalidatedResolutions: (path) => invalidateAll || unresolvedIn.has(path),
    // Also internal: lets TypeScript remember which package.json scopes the
    // library files are in instead of reading them again for every program.
    getModuleResolutionCache: () => libraryResolutionCache,
  };

  let service: ts.LanguageService | undefined;
  let serviceGeneration = -1;
  /** The service's program after the last check; undefined until the first and after a config change. */
  let lastProgram: ts.Program | undefined;

  /** The module files: first source directory wins; `.ts` beats `.js` in one directory. */
  function scanSourceDirs(): { found: Map<string, string>; declarations: string[] } {
    const found = new Map<string, string>();
    const declarations: string[] = [];
    for (const dir of srcDirs) {
      let names: string[];
      try {
        names = readdirSync(dir, { withFileTypes: true })
          .filter((e) => e.isFile() || e.isSymbolicLink())
          .map((e) => e.name);
      } catch {
        continue;
      }
      const inDir = new Map<string, string>();
      for (const n of names.sort()) {
        if (DECLARATION_EXT.test(n)) {
          declarations.push(tsPath(join(dir, n)));
          continue;
        }
        const m = MODULE_EXT.exec(n);
        if (!m) continue;
        const name = n.slice(0, -3);
        if (!isModuleName(name)) continue;
        if (m[1] === 'ts' || !inDir.has(name)) inDir.set(name, tsPath(join(dir, n)));
      }
      for (const [name, file] of inDir) if (!found.has(name)) found.set(name, file);
    }
    return { found, declarations };
  }

  /** Records `text` as the content of `file`; returns whether it changed. */
  function setText(file: string, text: string, next: Map<string, FileEntry>): boolean {
    const old = files.get(file);
    if (old && old.text === text) {
      next.set(file, old);
      return false;
    }
    next.set(file, {
      version: String(++nextScriptVersion),
      text,
      snapshot: undefined,
      deps: undefined,
    });
    return true;
  }

  function overlayFile(s: SourceText): string {
    return tsPath(isAbsolute(s.file) ? s.file : resolve(root, s.file));
  }

  function check(req: TypeCheckRequest): TypeCheckResult {
    checks++;
    const config = configCache.get();
    if (!config.ok) return { ok: false, configError: config.configError };
    let dirty = false;
    if (serviceGeneration !== configCache.generation || !service) {
      service?.dispose();
      lastProgram = undefined;
      options = config.options;
      libraryResolutionCache = ts.createModuleResolutionCache(root, canonical, options);
      typeResolutionCache = ts.createTypeReferenceDirectiveResolutionCache(
        root,
        canonical,
        options,
        libraryResolutionCache.getPackageJsonInfoCache(),
      );
      service = ts.createLanguageService(
        host,
        ts.createDocumentRegistry(caseSensitive, root, JSDOC_MODE),
      );
      serviceGeneration = configCache.generation;
      dirty = true;
    }

    // 1. The module map: disk, then loaded versions, then this call's sources.
    const { found, declarations } = scanSourceDirs();
    const overlay = new Map<string, SourceText>();
    for (const s of req.loaded) overlay.set(s.module, s);
    for (const s of req.changed) overlay.set(s.module, s);
    const nextModules = new Map(found);
    for (const [name, s] of overlay) nextModules.set(name, overlayFile(s));

    // 2. Texts, and new script versions only where a text changed.
    const next = new Map<string, FileEntry>();
    for (const [name, file] of nextModules) {
      const s = overlay.get(name);
      const text = s ? s.text : disk.read(file);
      if (text === undefined) {
        nextModules.delete(name); // vanished between the scan and the read
        continue;
      }
      if (setText(file, text, next)) dirty = true;
    }
    const extraRoots = [...new Set([...declarations, ...config.declarationFiles.map(tsPath)])];
    for (const file of extraRoots) {
      const text = disk.read(file);
      if (text !== undefined && !next.has(file) && setText(file, text, next)) dirty = true;
    }
    disk.sweep();
    if (next.size !== files.size || [...files.keys()].some((f) => !next.has(f))) dirty = true;
    if (
      nextModules.size !== modules.size ||
      [...nextModules].some(([name, file]) => modules.get(name) !== file)
    ) {
      invalidateAll = true;
      dirty = true;
    }
    files.clear();
    for (const [f, e] of next) files.set(f, e);
    modules = nextModules;
    moduleFiles = new Set([...modules.values()].map(canonical));
    rootNames = [...next.keys()];
    if (dirty) projectVersion++;

    // 3. One program for the whole view; TypeScript reuses what did not change.
    const program = service.getProgram();
    invalidateAll = false;
    if (!program) throw new Error('TypeScript returned no program');
    lastProgram = program;

    // 4. Which files to check: the changed modules and what they can break.
    const depsOf = new Map<string, ModuleDeps>();
    for (const [name, file] of modules) {
      const entry = files.get(file)!;
      const sf = program.getSourceFile(file);
      if (!sf) continue;
      entry.deps ??= moduleDeps(sf);
      depsOf.set(name, entry.deps);
    }
    const changedNames = new Set(req.changed.map((s) => s.module));
    const checkJs = options.checkJs === true;
    const diagnostics: Diagnostic[] = [];
    for (const name of modulesToCheck(changedNames, depsOf)) {
      const file = modules.get(name);
      const sf = file === undefined ? undefined : program.getSourceFile(file);
      if (!sf) continue;
      const typed = checkJs || !file!.endsWith('.js');
      // An unchecked .js module is still parsed: a changed one must not have syntax errors.
      if (!typed && !changedNames.has(name)) continue;
      let found: readonly ts.Diagnostic[] = program.getSyntacticDiagnostics(sf);
      if (found.length === 0 && typed) found = program.getSemanticDiagnostics(sf);
      for (const d of found) {
        const diag = toDiagnostic(d);
        if (diag) diagnostics.push(diag);
      }
    }
    diagnostics.sort(
      (a, b) =>
        (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.column - b.column,
    );
    const ok = !diagnostics.some((d) => d.category === 'error');
    return ok ? { ok: true, diagnostics } : { ok: false, diagnostics };
  }

  return {
    check,
    stats: () => ({ checks, programFiles: service?.getProgram()?.getSourceFiles().length ?? 0 }),
    dispose: () => {
      service?.dispose();
      service = undefined;
    },
  };
}
