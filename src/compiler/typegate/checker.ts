/**
 * The type gate's engine: one long-lived TypeScript LanguageService over an
 * in-memory view of the project's modules. Synchronous; it runs inside the
 * gate's worker (`worker.ts`), never on the node's main thread.
 *
 * Each check brings the view up to date (new sources for the changed modules,
 * the loaded versions' sources for the other loaded modules, the disk for the
 * rest, and the old versions still in use — the *transitions* — in slot files
 * beside their modules), bumps the script version of exactly the files whose
 * text changed, and asks TypeScript for the diagnostics of the files the
 * change can break only. Unchanged files keep their parsed and bound trees
 * between checks, so a warm check costs a new type checker over the same trees
 * plus the checking of a handful of files.
 *
 * Imports are resolved by TypeScript's own rules under the project's options
 * (S6.2: the gate judges as `tsc --noEmit` would); hotcode's flat module
 * namespace across several source directories is only a fallback for a
 * sibling specifier that finds nothing beside its importer.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { Diagnostic } from '../../types.js';
import { moduleOfSourceFile, SOURCE_EXTENSIONS, siblingModuleOf } from '../../vocabulary.js';
import { ConfigCache, configDir, packageJsonFiles } from './config.js';
import { toDiagnostic } from './diagnostics.js';
import { affectedBy, type ModuleDeps, moduleDeps } from './graph.js';
import type {
  SourceText,
  TransitionSource,
  TypeCheckRequest,
  TypeCheckResult,
  WorkerConfig,
} from './protocol.js';

export interface Checker {
  check(req: TypeCheckRequest): TypeCheckResult;
  /**
   * Brings the checker to the state the next check finds after a first one:
   * the program built from the disk, a type checker created, the library
   * declarations loaded, and the checker's own code run once (a small module
   * checked in a slot, then up to `budgetMs` of the project's modules).
   */
  warm(budgetMs?: number): void;
  /** Checks done, files in the current program, transition sources checked. */
  stats(): { checks: number; programFiles: number; transitionsChecked: number };
  dispose(): void;
}

/** A file of the in-memory view: a module, a declaration file, or a slot. */
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
const DECLARATION_EXT = /\.d\.[cm]?ts$/;
const JS_EXT = /\.[cm]?jsx?$/;

/**
 * The text of a slot no transition uses this time. Slots stay in the program
 * once made (adding or removing a root file costs a program built afresh), so
 * an unused one must cost nothing: an empty module.
 */
const EMPTY_MODULE = 'export {};\n';

/**
 * What {@link Checker.warm} checks: a small module that runs the checker
 * through the kinds of code modules are made of (unions, generics, classes,
 * async functions, Node's and hotcode's declarations), so its code is compiled
 * by V8 and the library types are resolved before the first real check.
 */
function warmUpModule(withHotcode: boolean, round: number): string {
  return [
    `// warm-up round ${round}`,
    "import { readFileSync } from 'node:fs';",
    "import { join } from 'node:path';",
    withHotcode ? "import type { Pid } from 'hotcode';" : 'type Pid = { id: number };',
    'interface Point { x: number; y: number }',
    "type Shape = { kind: 'circle'; r: number } | { kind: 'rect'; w: number; h: number };",
    'export function area(s: Shape): number {',
    '  switch (s.kind) {',
    "    case 'circle': return Math.PI * s.r ** 2;",
    "    case 'rect': return s.w * s.h;",
    '  }',
    '}',
    'export class Store<T> {',
    '  #items = new Map<string, T>();',
    '  add(k: string, v: T): this { this.#items.set(k, v); return this; }',
    '  get size(): number { return this.#items.size; }',
    '}',
    'export async function lines(dir: string, owner?: Pid): Promise<string[]> {',
    "  const text = readFileSync(join(dir, 'x'), 'utf8');",
    '  await Promise.resolve(owner);',
    "  return text.split('\\n').map((l) => l.trim()).filter(Boolean);",
    '}',
    'export const points: Point[] = [{ x: 1, y: 2 }].map(({ x, y }) => ({ x: y, y: x }));',
    'export const shapes = { total: [...new Set([1, 2])].reduce((a, b) => a + b, 0) } as const;',
    '',
  ].join('\n');
}

/** How many times {@link Checker.warm} checks its module (see there). */
const WARM_ROUNDS = 5;

/** One transition source placed in a slot file for this check. */
interface Placed {
  slot: string;
  source: TransitionSource;
}

export function createChecker(cfg: WorkerConfig): Checker {
  const root = resolve(cfg.root);
  const srcDirs = cfg.srcDirs.map((d) => resolve(root, d));
  const srcDirPaths = srcDirs.map(tsPath);
  const caseSensitive = ts.sys.useCaseSensitiveFileNames;
  const canonical = (f: string): string => (caseSensitive ? f : f.toLowerCase());
  const configCache = new ConfigCache(
    () => configDir(root, srcDirs),
    packageJsonFiles(root, srcDirs),
  );
  const hotcodeDts = hotcodeDeclarations();
  const nodeTypes = hotcodeNodeTypes();
  const disk = new DiskCache();

  /** Every file of the view, by TypeScript path. */
  const files = new Map<string, FileEntry>();
  /** Module name → its file (TypeScript path). */
  let modules = new Map<string, string>();
  /** Canonical paths of the module files, for the resolver. */
  let moduleFiles = new Set<string>();
  /**
   * Slot files for transition sources, by directory and extension
   * (`<dir>/.hotcode-transition-<i><ext>`): made on demand, kept for the life
   * of the service (their texts change; the program's root files do not).
   */
  const slots = new Map<string, string[]>();
  /** Canonical paths of all slot files. */
  const slotFiles = new Set<string>();
  /** Texts put into slots by warm(), for the next check only. */
  let warmSlotText: Map<string, string> | undefined;
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
  let transitionsChecked = 0;

  const resolutionHost: ts.ModuleResolutionHost = {
    fileExists: (f) => files.has(f) || ts.sys.fileExists(f),
    readFile: (f) => files.get(f)?.text ?? ts.sys.readFile(f),
    directoryExists: (d) => ts.sys.directoryExists(d),
    getDirectories: (d) => ts.sys.getDirectories(d),
    realpath: (p) => (ts.sys.realpath ? ts.sys.realpath(p) : p),
    getCurrentDirectory: () => root,
    useCaseSensitiveFileNames: caseSensitive,
  };

  /**
   * hotcode's fallback for a sibling specifier that standard resolution did
   * not find: the module it names in another source directory, resolved by
   * the same rules as if the importer sat there (so `module: nodenext` still
   * wants `'./helper.js'`, and the first directory that has it wins).
   */
  function resolveInOtherSourceDir(
    spec: string,
    containingFile: string,
    opts: ts.CompilerOptions,
    redirected: ts.ResolvedProjectReference | undefined,
    mode: ts.ResolutionMode,
  ): ts.ResolvedModuleWithFailedLookupLocations | undefined {
    const name = siblingModuleOf(spec);
    if (name === undefined || srcDirPaths.length < 2) return undefined;
    const target = modules.get(name);
    if (target === undefined) return undefined;
    const here = dirname(containingFile);
    const there = dirname(target);
    if (canonical(there) === canonical(here)) return undefined;
    const r = ts.resolveModuleName(
      spec,
      `${there}/${basename(containingFile)}`,
      opts,
      resolutionHost,
      undefined,
      redirected,
      mode,
    );
    const file = r.resolvedModule?.resolvedFileName;
    return file !== undefined && canonical(file) === canonical(target) ? r : undefined;
  }

  function resolveModuleNameLiterals(
    literals: readonly ts.StringLiteralLike[],
    containingFile: string,
    redirected: ts.ResolvedProjectReference | undefined,
    opts: ts.CompilerOptions,
    containingSourceFile: ts.SourceFile,
  ): readonly ts.ResolvedModuleWithFailedLookupLocations[] {
    const key = canonical(containingFile);
    const fromModule = moduleFiles.has(key) || slotFiles.has(key);
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
      const mode = ts.getModeForUsageLocation(containingSourceFile, lit, opts);
      // Libraries' resolutions are cached for the life of the service; a
      // module's are not, so a package installed or a module created later is found.
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
      if (r.resolvedModule || !fromModule) {
        if (!r.resolvedModule) unresolved = true;
        return r;
      }
      const flat = resolveInOtherSourceDir(spec, containingFile, opts, redirected, mode);
      if (flat) return flat;
      unresolved = true;
      return r;
    });
    if (fromModule && unresolved) unresolvedIn.add(key);
    else unresolvedIn.delete(key);
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

  /**
   * The module files: the first source directory wins; in one directory, the
   * first of SOURCE_EXTENSIONS (`counter.ts` over `counter.js`).
   */
  function scanSourceDirs(): { found: Map<string, string>; declarations: string[] } {
    const found = new Map<string, string>();
    const declarations: string[] = [];
    const rank = (file: string): number => SOURCE_EXTENSIONS.indexOf(extname(file));
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
        const name = moduleOfSourceFile(n);
        if (name === undefined) continue;
        const file = tsPath(join(dir, n));
        const other = inDir.get(name);
        if (other === undefined || rank(file) < rank(other)) inDir.set(name, file);
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

  /** Whether `options` let the program hold JavaScript files (as tsc decides it). */
  function allowsJs(): boolean {
    return options.allowJs ?? options.checkJs ?? false;
  }

  /** Whether `file`'s diagnostics are type errors worth reporting (JS only with checkJs). */
  function typed(file: string): boolean {
    return options.checkJs === true || !JS_EXT.test(file);
  }

  /** Places the transition sources in slot files (making slots as needed). */
  function placeTransitions(transitions: readonly TransitionSource[]): Placed[] {
    const used = new Map<string, number>();
    const placed: Placed[] = [];
    for (const source of transitions) {
      const file = overlayFile(source);
      const dir = dirname(file);
      const ext = extname(file);
      const key = `${canonical(dir)}\0${ext}`;
      const i = used.get(key) ?? 0;
      used.set(key, i + 1);
      let list = slots.get(key);
      if (!list) slots.set(key, (list = []));
      if (list.length <= i) {
        const slot = `${dir}/.hotcode-transition-${i}${ext}`;
        list.push(slot);
        slotFiles.add(canonical(slot));
      }
      placed.push({ slot: list[i]!, source });
    }
    return placed;
  }

  /** A new LanguageService when there is none or the configuration changed. */
  function ensureService(config: { options: ts.CompilerOptions }): boolean {
    if (serviceGeneration === configCache.generation && service) return false;
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
    return true;
  }

  /** Syntax errors of one file, or (when it has none and `semantic`) its semantic diagnostics, as tsc reports them. */
  function diagnosticsOf(program: ts.Program, sf: ts.SourceFile, semantic: boolean) {
    const syntax = program.getSyntacticDiagnostics(sf);
    return syntax.length > 0 || !semantic ? syntax : program.getSemanticDiagnostics(sf);
  }

  const errorKey = (d: ts.Diagnostic): string => `${d.start}:${d.length}:${d.code}`;

  function check(req: TypeCheckRequest): TypeCheckResult {
    checks++;
    const config = configCache.get();
    if (!config.ok) return { ok: false, configError: config.configError };
    let dirty = ensureService(config);

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
    const placed = placeTransitions(req.transitions ?? []);
    const inSlot = new Map(placed.map((p) => [p.slot, p.source.text]));
    for (const list of slots.values()) {
      for (const slot of list) {
        const text = inSlot.get(slot) ?? warmSlotText?.get(slot) ?? EMPTY_MODULE;
        if (setText(slot, text, next)) dirty = true;
      }
    }
    warmSlotText = undefined;
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
    const js = allowsJs();
    // Sorted: the same files in another order would make TypeScript build the program afresh.
    const roots = [...next.keys()].filter((f) => js || !JS_EXT.test(f)).sort();
    if (roots.length !== rootNames.length || roots.some((f, i) => f !== rootNames[i])) {
      rootNames = roots;
      dirty = true;
    }
    if (dirty) projectVersion++;

    // 3. One program for the whole view; TypeScript reuses what did not change.
    const program = currentProgram();
    invalidateAll = false;

    // 4. Which files to check: the changed modules and what they can break.
    const depsOf = new Map<string, ModuleDeps>();
    for (const [name, file] of modules) {
      const deps = depsIn(program, file);
      if (deps) depsOf.set(name, deps);
    }
    const changedNames = new Set(req.changed.map((s) => s.module));
    const affected = affectedBy(changedNames, depsOf);
    const diagnostics: Diagnostic[] = [];
    for (const name of affected.check) {
      const file = modules.get(name);
      const sf = file === undefined ? undefined : program.getSourceFile(file);
      if (!sf) continue;
      // An unchecked .js module is still parsed: a changed one must not have syntax errors.
      if (!typed(file!) && !changedNames.has(name)) continue;
      for (const d of diagnosticsOf(program, sf, typed(file!))) {
        const diag = toDiagnostic(d);
        if (diag) diagnostics.push(diag);
      }
    }
    diagnostics.sort(
      (a, b) =>
        (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.column - b.column,
    );

    // 5. The transitions: each old version in use that imports something whose exports changed.
    const broken: { placed: Placed; errors: ts.Diagnostic[] }[] = [];
    for (const p of placed) {
      if (!typed(p.slot)) continue;
      const sf = program.getSourceFile(p.slot);
      const deps = depsIn(program, p.slot);
      if (!sf || !deps || ![...deps.keys()].some((m) => affected.exporters.has(m))) continue;
      transitionsChecked++;
      const errors = diagnosticsOf(program, sf, true).filter(
        (d) => d.category === ts.DiagnosticCategory.Error,
      );
      if (errors.length > 0) broken.push({ placed: p, errors });
    }
    if (broken.length > 0) dropPreexisting(broken, req);
    const brokenTransitions: string[] = [];
    for (const { placed: p, errors } of broken) {
      if (errors.length === 0) continue;
      brokenTransitions.push(p.source.id);
      const found: Diagnostic[] = [];
      for (const d of errors) {
        const diag = toDiagnostic(d);
        if (diag)
          found.push({ ...diag, file: resolve(root, p.source.file), transition: p.source.label });
      }
      found.sort((a, b) => a.line - b.line || a.column - b.column);
      diagnostics.push(...found);
    }

    const ok = !diagnostics.some((d) => d.category === 'error');
    if (ok) return { ok: true, diagnostics };
    return brokenTransitions.length > 0
      ? { ok: false, diagnostics, brokenTransitions }
      : { ok: false, diagnostics };
  }

  /**
   * Removes from each broken transition the errors it also has against the
   * code that ran before the change (`req.previous`): the changed modules'
   * files hold their previous texts for one more program, then get their new
   * texts back (the next check sees them as changed again, which costs a
   * re-parse of those files only — and only on this path, a refusal).
   */
  function dropPreexisting(
    broken: { placed: Placed; errors: ts.Diagnostic[] }[],
    req: TypeCheckRequest,
  ): void {
    const previous = new Map((req.previous ?? []).map((s) => [s.module, s.text]));
    const swapped: [string, FileEntry][] = [];
    for (const s of req.changed) {
      const file = modules.get(s.module);
      const entry = file === undefined ? undefined : files.get(file);
      if (!entry) continue;
      swapped.push([file!, entry]);
      const text = previous.get(s.module) ?? EMPTY_MODULE;
      files.set(file!, {
        version: String(++nextScriptVersion),
        text,
        snapshot: undefined,
        deps: undefined,
      });
    }
    projectVersion++;
    try {
      const before = currentProgram();
      for (const b of broken) {
        const sf = before.getSourceFile(b.placed.slot);
        if (!sf) continue;
        const old = new Set(diagnosticsOf(before, sf, true).map(errorKey));
        b.errors = b.errors.filter((d) => !old.has(errorKey(d)));
      }
    } finally {
      // The view is the change's again; a new version so the service notices.
      for (const [file, entry] of swapped) {
        files.set(file, { ...entry, version: String(++nextScriptVersion), snapshot: undefined });
      }
      projectVersion++;
    }
  }

  function currentProgram(): ts.Program {
    const program = service!.getProgram();
    if (!program) throw new Error('TypeScript returned no program');
    lastProgram = program;
    return program;
  }

  /** The module imports of a file of the view (cached with its version). */
  function depsIn(program: ts.Program, file: string): ModuleDeps | undefined {
    const entry = files.get(file);
    const sf = program.getSourceFile(file);
    if (!entry || !sf) return undefined;
    entry.deps ??= moduleDeps(sf);
    return entry.deps;
  }

  function warm(budgetMs = 500): void {
    // The warm-up module goes into the first transition slot of the first
    // source directory: a slot stays in the program, so the first real check
    // finds the same root files (an empty module in that slot) and reuses all.
    // It is checked in a few rounds, each a new program and type checker as a
    // real check makes: V8 optimizes TypeScript's code only after it has run
    // a few times (one round leaves the first real check twice as slow as the
    // next ones).
    const dir = tsPath(srcDirs[0] ?? root);
    const [p] = placeTransitions([
      { id: '', label: '', module: '', file: `${dir}/warm.ts`, text: '' },
    ]);
    const slot = p!.slot;
    const start = performance.now();
    for (let round = 0; round < WARM_ROUNDS; round++) {
      warmSlotText = new Map([[slot, warmUpModule(hotcodeDts !== undefined, round)]]);
      const r = check({ changed: [], loaded: [] });
      checks--;
      if ('configError' in r) return;
      const program = currentProgram();
      const sf = program.getSourceFile(slot);
      if (sf) program.getSemanticDiagnostics(sf);
      for (const file of modules.values()) {
        if (performance.now() - start > budgetMs) break;
        const m = program.getSourceFile(file);
        if (m && typed(file)) program.getSemanticDiagnostics(m);
      }
    }
  }

  return {
    check,
    warm,
    stats: () => ({
      checks,
      programFiles: service?.getProgram()?.getSourceFiles().length ?? 0,
      transitionsChecked,
    }),
    dispose: () => {
      service?.dispose();
      service = undefined;
    },
  };
}
