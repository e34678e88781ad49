#!/usr/bin/env node
/**
 * The `hotcode` command (S0.1, S7.1):
 *
 *   hotcode shell [--watch]                       a node and its interactive shell
 *   hotcode run [--watch] <module> <function> [args…]
 *                                                 runs module.function(...args) as a process
 *   hotcode compile [module…]                     writes object files, loads nothing
 *   hotcode init [dir]                            a new project (init.ts)
 *   hotcode remote|rpc|eval|deploy|status|stop NAME …
 *                                                 remote control of a named node (remote.ts)
 *
 * Configuration comes from `hotcode.config.json` or the `"hotcode"` field of
 * `package.json` (config.ts); flags override it.
 */
import { spawn as spawnChild } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isNodeName } from '../control/paths.js';
import {
  code,
  compile,
  type Diagnostic,
  mod,
  processes,
  receive,
  run,
  type StartOptions,
  setLogger,
  spawnMonitor,
  start,
  stop,
} from '../index.js';
import { services } from '../node.js';
import {
  createStyle,
  formatDiagnostics,
  formatError,
  formatReason,
  formatWatchReport,
  wantsColor,
} from '../shell/format.js';
import { startShell } from '../shell/index.js';
import { sourceModules, staleModules } from '../shell/modules.js';
import { hotcodeVersion } from '../vocabulary.js';
import { watch } from '../watch/index.js';
import { clusterMain, isClusterCommand } from './cluster.js';
import { ConfigError, loadConfig, packageNodeName } from './config.js';
import { init } from './init.js';
import { ObserverUsageError, observeHere, observerCommand, observerFlags } from './observer.js';
import { REMOTE_COMMANDS, RemoteUsageError, remoteCommand, targetPositionals } from './remote.js';

const USAGE = `Usage: hotcode <command> [options]

Commands:
  shell [--watch]                        start a node and the interactive shell (the default)
  run [--watch] <module> <function> [args…]
                                         run module.function(...args) as a process, args as
                                         strings; exits when every process has ended: 0 if
                                         they all ended normally, 1 otherwise
  compile [module…]                      compile modules (default: every module in the source
                                         directories) to object files; loads nothing
  compile --stale                        compile each module whose object file is missing or
                                         older than its source, one by one (as run does at start)
  init [dir]                             make a new project in dir (default: here): package.json,
                                         tsconfig.json, src/ with two modules; overwrites nothing
  deploy --cluster URL [module…]         deploy to every node of a group (hotcode deploy --cluster
                                         URL --help); rollback --cluster URL, nodes --cluster URL

Remote control of a named node (a node named by --name, or by hotcode run after package.json):
  remote NAME                            a shell evaluated in the node; q() or Ctrl+D detaches
  rpc NAME <module> <function> [args…]   run module.function(...args) there; args are JSON (a
                                         word that is not JSON is a string); prints the result
  eval NAME '<expression>'               evaluate a shell expression there
  deploy NAME [module…]                  compile and type-check here, load there as one change
                                         (no modules: every module whose source differs)
  status NAME                            modules, versions, processes in old code, memory
  stop NAME                              stop the node
  observer NAME [--port 4848]            a live web page of the node (S10): modules and versions,
                                         processes, supervision trees, code changes

Options:
  --src <dir>        source directory (repeatable; default: src)
  --out <dir>        where object files are written (default: ebin)
  --path <dir>       a further object-file directory on the code path (repeatable)
  --typecheck        type-check each change before it is loaded (the default)
  --no-typecheck     compile without the type gate
  --config <file>    read the configuration from this file
  -w, --watch        compile and load each source file when it is saved
  --old-code kill    with --watch or deploy: load a change even if processes in old versions
                     would break, killing them (as c(M, { oldCode: 'kill' }))
  --name <name>      run/shell: the node's name; it listens for control connections
  --no-control       run/shell: no control listener (hotcode run names its node by default)
  --socket <path>    remote commands: the node's socket, in place of NAME
  --host <h> --port <n>
                     remote commands: the node's TCP address (TLS 1.3), in place of NAME
  --secret-file <f>  the shared secret (default: $HOTCODE_SECRET_FILE, else ~/.hotcode/secret)
  --check            deploy: type-check and prepare on the node, load nothing
  --upgrade          deploy: load as a release upgrade (S8.4)
  --change <server>:<module>
                     deploy --upgrade: migrate that server's state with module's codeChange
  --observer         run/shell: serve the observer's page for this node (S10)
  --port <n>         observer: the page's port (default 4848)
  --host <h> --allow-remote
                     observer: serve the page on h instead of 127.0.0.1
  --allow-destructive
                     observer: offer purge and kill on the page
  --verbose          full stack traces
  -h, --help         this help
  -v, --version      hotcode's version

Configuration: hotcode.config.json, or the "hotcode" field of package.json, in the
working directory or the nearest one above it:
  { "src": ["src"], "out": "ebin", "path": [], "typecheck": true, "name": "shop" }
Paths in it are relative to its directory; flags override it.
`;

const OPTIONS = {
  src: { type: 'string', multiple: true },
  out: { type: 'string' },
  path: { type: 'string', multiple: true },
  typecheck: { type: 'boolean' },
  'no-typecheck': { type: 'boolean' },
  config: { type: 'string' },
  watch: { type: 'boolean', short: 'w' },
  'old-code': { type: 'string' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  name: { type: 'string' },
  observer: { type: 'boolean' },
  'allow-destructive': { type: 'boolean' },
  'allow-remote': { type: 'boolean' },
  'no-control': { type: 'boolean' },
  socket: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'secret-file': { type: 'string' },
  check: { type: 'boolean' },
  upgrade: { type: 'boolean' },
  change: { type: 'string', multiple: true },
  stale: { type: 'boolean' },
} as const;

const VALUE_OPTIONS = new Set([
  '--src',
  '--out',
  '--path',
  '--config',
  '--old-code',
  '--name',
  '--socket',
  '--host',
  '--port',
  '--secret-file',
  '--change',
]);
const COMMANDS = new Set([
  'shell',
  'run',
  'compile',
  'init',
  'help',
  'observer',
  ...REMOTE_COMMANDS,
]);

const err = createStyle(wantsColor(process.stderr));

class UsageError extends Error {}

function fail(message: string, status = 1): never {
  process.stderr.write(`hotcode: ${message}\n`);
  process.exit(status);
}

/**
 * Splits argv into the command, the arguments parseArgs reads, and — for
 * `run` — the function's own arguments: everything after `<module>
 * <function>` is passed as is, dashes included.
 */
function splitArgv(argv: string[]): { command: string; args: string[]; rest: string[] } {
  let command: string | undefined;
  const args: string[] = [];
  let positionals = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      const tail = argv.slice(i + 1);
      if (command === 'run') {
        const need = Math.max(0, 2 - positionals);
        return { command, args: [...args, ...tail.slice(0, need)], rest: tail.slice(need) };
      }
      return { command: command ?? 'shell', args: [...args, ...tail], rest: [] };
    }
    if (a.startsWith('-') && a !== '-') {
      args.push(a);
      if (VALUE_OPTIONS.has(a) && i + 1 < argv.length) args.push(argv[++i]!);
      continue;
    }
    if (command === undefined) {
      if (!COMMANDS.has(a))
        throw new UsageError(
          `unknown command '${a}' (commands: shell, run, compile, init, ${[...REMOTE_COMMANDS].join(', ')}, observer)`,
        );
      command = a;
      continue;
    }
    args.push(a);
    positionals++;
    if (command === 'run' && positionals === 2) return { command, args, rest: argv.slice(i + 1) };
    // rpc NAME MODULE FUNCTION: what follows is the function's arguments, as is.
    if (command === 'rpc' && positionals === 2 + targetPositionals(args))
      return { command, args, rest: argv.slice(i + 1) };
  }
  return { command: command ?? 'shell', args, rest: [] };
}

interface Settings {
  start: StartOptions & { src: string[]; out: string; root: string };
  /** The node's name from --name or the configuration (run: else package.json's, S9.1). */
  name: string | undefined;
  watch: boolean;
  /** `--old-code kill`: watch mode loads changes that break processes in old versions, killing them. */
  oldCode: 'kill' | undefined;
  verbose: boolean;
  /** A configuration file, or a flag that says where the modules are. */
  configured: boolean;
  cluster?: StartOptions['cluster'];
}

function settings(values: Record<string, unknown>, command = 'shell'): Settings {
  const cwd = process.cwd();
  const cfg = loadConfig(cwd, values.config as string | undefined);
  const flagDirs = (k: string) => (values[k] as string[] | undefined)?.map((d) => resolve(cwd, d));
  const src = flagDirs('src') ?? cfg.src ?? [resolve(cfg.root, 'src')];
  const out =
    values.out !== undefined
      ? resolve(cwd, values.out as string)
      : (cfg.out ?? resolve(cfg.root, 'ebin'));
  const path = flagDirs('path') ?? cfg.path ?? [];
  if (values.typecheck && values['no-typecheck'])
    throw new UsageError('--typecheck and --no-typecheck contradict each other');
  const typecheck = values['no-typecheck']
    ? false
    : values.typecheck
      ? true
      : (cfg.typecheck ?? true);
  const oldCode = values['old-code'] as string | undefined;
  if (oldCode !== undefined && oldCode !== 'kill')
    throw new UsageError(`--old-code takes one value, kill (got '${oldCode}')`);
  if (oldCode !== undefined && values.watch !== true && command !== 'deploy')
    throw new UsageError(
      "--old-code kill applies to watch mode (--watch); in the shell, c(M, { oldCode: 'kill' })",
    );
  const name = (values.name as string | undefined) ?? cfg.name;
  if (name !== undefined && !isNodeName(name))
    throw new UsageError(
      `--name: a node name is 1 to 64 characters of A-Z, a-z, 0-9, _, . and - (got '${name}')`,
    );
  if (values.name !== undefined && values['no-control'])
    throw new UsageError('--name and --no-control contradict each other');
  return {
    start: { root: cfg.root, src, out, path, typecheck },
    name,
    // run and shell join the configured group (S11.1); compile does not.
    ...(cfg.cluster ? { cluster: cfg.cluster } : {}),
    watch: values.watch === true,
    oldCode,
    verbose: values.verbose === true,
    configured:
      cfg.file !== undefined ||
      ['src', 'out', 'path', 'config'].some((k) => values[k] !== undefined),
  };
}

/**
 * Where there is no configuration and no source directory with modules,
 * there is no project: say so in one line and write nothing (no `ebin/`).
 */
function requireProject(s: Settings): void {
  if (s.configured || sourceModules(s.start.src).length > 0) return;
  const dirs = s.start.src.map(displayDir).join(', ');
  throw new UsageError(
    `no hotcode project here: no hotcode.config.json or "hotcode" field in package.json, and no modules in ${dirs}/ (hotcode init makes a project; --src DIR names the modules' directory)`,
  );
}

function initCommand(positionals: string[]): never {
  if (positionals.length > 1)
    throw new UsageError(`init takes one directory (got ${positionals.join(' ')})`);
  const report = init(positionals[0] ?? '.');
  const where = displayDir(report.dir);
  for (const f of report.created) process.stdout.write(`created ${join(where, f)}\n`);
  for (const f of report.skipped)
    process.stdout.write(`skipped ${join(where, f)} (it exists; left as it was)\n`);
  const cd = where === '' || where === '.' ? '' : `cd ${where} && `;
  process.stdout.write(
    `next: ${cd}npm install && npx hotcode run counter demo && npx hotcode shell --watch\n`,
  );
  process.exit(0);
}

/** Compiles the source modules whose object file is missing or older than the source (as `make`). */
async function makeStale(s: Settings, report: (line: string) => void): Promise<void> {
  const stale = staleModules(s.start.src, s.start.out);
  const done: string[] = [];
  for (const m of stale) {
    const r = await compile.file(m);
    if ('module' in r) done.push(m);
    else if (r.error === 'compile')
      report(`${m}: not compiled\n${formatDiagnostics(r.diagnostics, err, '  ')}`);
  }
  if (done.length) report(err.dim(`compiled ${done.join(', ')}`));
}

/**
 * `hotcode compile --stale` in a child process, with this command's settings;
 * what it prints goes to standard error, as the start-up compile's lines do.
 */
async function compileStaleInChild(s: Settings, values: Record<string, unknown>): Promise<void> {
  if (staleModules(s.start.src, s.start.out).length === 0) return;
  const args = [
    process.argv[1]!,
    'compile',
    '--stale',
    ...(values.config !== undefined ? ['--config', values.config as string] : []),
    ...s.start.src.flatMap((d) => ['--src', d]),
    '--out',
    s.start.out,
    ...(s.start.path ?? []).flatMap((d) => ['--path', d]),
    s.start.typecheck === false ? '--no-typecheck' : '--typecheck',
  ];
  const child = spawnChild(process.execPath, args, {
    stdio: ['ignore', 2, 2],
    env: { ...process.env, HOTCODE_NO_REEXEC: '1' },
  });
  await new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    child.on('error', () => resolve());
  });
}

/** The start options with the node's name and control settings (S9.1). */
function withControl(
  s: Settings,
  values: Record<string, unknown>,
  defaultName: string | undefined,
): StartOptions {
  // run and shell join the configured group (S11.1).
  const base: StartOptions = s.cluster ? { ...s.start, cluster: s.cluster } : s.start;
  if (values['no-control']) return base;
  const name = s.name ?? defaultName;
  if (name === undefined) return base;
  const secretFile = values['secret-file'] as string | undefined;
  return { ...base, name, ...(secretFile !== undefined ? { secretFile } : {}) };
}

async function shellCommand(s: Settings, values: Record<string, unknown>): Promise<never> {
  requireProject(s);
  const options = withControl(s, values, undefined);
  await start(options);
  // The first type check loads TypeScript (~1.5 s): do it while the user types.
  void services.warmTypeGate().catch(() => {});
  const out = createStyle(wantsColor(process.stdout));
  await makeStale(s, (line) => process.stdout.write(`${line}\n`));
  if (values.observer)
    await observeHere(options.name ?? basename(s.start.root), observerFlags(values), (line) =>
      process.stdout.write(`${out.dim(line)}\n`),
    );
  const history = process.env.HOTCODE_HISTORY ?? join(s.start.root, '.hotcode_history');
  const shell = startShell({
    src: s.start.src,
    typecheck: s.start.typecheck ?? true,
    history: history === '' ? false : history,
    banner: out.dim(
      `hotcode ${hotcodeVersion()} (Node ${process.version})${s.watch ? ', watching ' + s.start.src.map((d) => displayDir(d)).join(', ') : ''}; help() lists the commands, q() or Ctrl+D quits`,
    ),
  });
  process.on('unhandledRejection', (reason) =>
    shell.print(`Unhandled rejection: ${formatError(reason, shell.style)}`),
  );
  const w = s.watch
    ? watch({
        src: s.start.src,
        ...(s.oldCode ? { oldCode: s.oldCode } : {}),
        onReport: (r) => shell.print(formatWatchReport(r, shell.style)),
      })
    : undefined;
  await shell.closed;
  w?.close();
  await stop();
  process.exit(0);
}

function displayDir(d: string): string {
  const r = resolve(d);
  const cwd = process.cwd();
  if (r === cwd) return '.';
  return r.startsWith(`${cwd}/`) ? r.slice(cwd.length + 1) : r;
}

async function runCommand(
  s: Settings,
  values: Record<string, unknown>,
  positionals: string[],
  args: string[],
): Promise<never> {
  const [module, fname] = positionals;
  if (module === undefined || fname === undefined)
    throw new UsageError(
      'run needs a module and a function: hotcode run <module> <function> [args…]',
    );
  requireProject(s);
  // hotcode run names its node after the nearest package.json by default (S9.1).
  const options = withControl(s, values, packageNodeName(process.cwd()));
  if (s.watch) {
    await start(options);
    await makeStale(s, (line) => process.stderr.write(`${line}\n`));
  } else {
    // Without --watch nothing here type-checks again, so TypeScript never enters this
    // process: the stale modules are compiled by a child (a gate's worker, once ended,
    // leaves ~100 MB this process would keep). Deploys check on the deploying side
    // (S9.4); a typed c from the remote shell starts a gate when it is needed.
    await compileStaleInChild(s, values);
    await start(options);
  }
  // Unknown module or function: one line, as Erlang's `erl -run` reports undef.
  const loaded = code.ensureLoaded(module);
  if ('error' in loaded) {
    const reason = (loaded as { reason?: unknown }).reason;
    if (loaded.error === 'nofile')
      fail(
        `undef: there is no module ${module} (no ${module}.js on the code path, no source in ${s.start.src.map(displayDir).join(', ')})`,
      );
    fail(
      `cannot load ${module}: ${loaded.error}${reason !== undefined ? ` (${formatReason(reason)})` : ''}`,
    );
  }
  const handle = mod(module) as Record<string, unknown>;
  if (!Object.hasOwn(handle, fname) || typeof handle[fname] !== 'function') {
    const fns = Object.keys(handle).filter((k) => typeof handle[k] === 'function');
    fail(
      `undef: ${module}.${fname} is not a function exported by ${module} (its functions: ${fns.join(', ') || 'none'})`,
    );
  }
  if (values.observer)
    await observeHere(options.name ?? basename(s.start.root), observerFlags(values), (line) =>
      process.stderr.write(`${err.dim(`hotcode: ${line}`)}\n`),
    );
  let crashed = false;
  setLogger({
    error(_message, meta) {
      crashed = true;
      const who = meta.name !== undefined ? `${meta.pid} (${meta.name})` : String(meta.pid);
      const started = meta.initialCall !== undefined ? ` started as ${meta.initialCall}` : '';
      const head = err.red(`=CRASH REPORT==== process ${who}${started} exited:`);
      const text =
        meta.reason instanceof Error
          ? `${head}\n${formatError(meta.reason, err, s.verbose ? { stack: true } : {})}`
          : `${head} ${formatReason(meta.reason)}`;
      process.stderr.write(`${text}\n`);
    },
  });
  const w = s.watch
    ? watch({
        src: s.start.src,
        ...(s.oldCode ? { oldCode: s.oldCode } : {}),
        onReport: (r) => process.stderr.write(`${formatWatchReport(r, err)}\n`),
      })
    : undefined;
  if (w)
    process.stderr.write(
      `${err.dim(`hotcode: watching ${s.start.src.map(displayDir).join(', ')}: a saved module is reloaded${s.start.typecheck === false ? '' : ' when it type-checks'}${s.oldCode ? ', killing processes its old versions would break' : ''}`)}\n`,
    );
  // The main process, watched by a monitor so that its exit reason decides the status.
  let mainReason: unknown;
  run(async () => {
    const { ref } = spawnMonitor(module, fname, args);
    const down = await receive(
      (m): m is { reason: unknown } => (m as { ref?: unknown }).ref === ref,
    );
    mainReason = down.reason;
  }).catch((e: unknown) => {
    mainReason = e;
  });
  // The node stays up while any process lives (S7.1).
  await new Promise<void>((resolveDone) => {
    const t = setInterval(() => {
      if (processes().length === 0) {
        clearInterval(t);
        resolveDone();
      }
    }, 10);
  });
  w?.close();
  await stop();
  process.exit(mainReason === 'normal' && !crashed ? 0 : 1);
}

async function compileCommand(
  s: Settings,
  positionals: string[],
  values: Record<string, unknown>,
): Promise<never> {
  if (values.stale) {
    if (positionals.length)
      throw new UsageError(`compile --stale takes no modules (got ${positionals.join(' ')})`);
    requireProject(s);
    await start(s.start);
    await makeStale(s, (line) => process.stdout.write(`${line}\n`));
    await stop();
    process.exit(0);
  }
  if (positionals.length === 0) requireProject(s);
  await start(s.start);
  const modules = positionals.length ? positionals : sourceModules(s.start.src);
  if (modules.length === 0) {
    await stop();
    fail(`no modules to compile in ${s.start.src.map(displayDir).join(', ')}`);
  }
  let r:
    | Awaited<ReturnType<typeof compile.file>>
    | { modules: { module: string; file: string; warnings: Diagnostic[] }[] };
  try {
    r = await compile.file(modules);
  } catch (e) {
    await stop();
    fail((e as Error).message);
  }
  await stop();
  if ('modules' in r) {
    for (const m of r.modules) {
      if (m.warnings.length) process.stderr.write(`${formatDiagnostics(m.warnings, err)}\n`);
      process.stdout.write(`${m.module} -> ${displayDir(m.file)}\n`);
    }
    process.exit(0);
  }
  if (r.error === 'compile') {
    process.stderr.write(`${formatDiagnostics(r.diagnostics, err)}\n`);
    fail(`nothing written: ${r.diagnostics.filter((d) => d.category === 'error').length} error(s)`);
  }
  fail(
    `no source for ${(r as { reason?: unknown }).reason ?? 'a module'} in ${s.start.src.map(displayDir).join(', ')}`,
  );
}

/**
 * On Node 22, AsyncLocalStorage is only fast with AsyncContextFrame
 * (default from Node 24): run again with the flag (docs/architecture.md).
 */
function reexecIfNeeded(): boolean {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) {
    process.stderr.write(
      `hotcode needs Node.js 22 or newer (this is ${process.version}, which has no fast AsyncLocalStorage and cannot require ES modules); ${howToGetNode()}\n`,
    );
    process.exit(1);
  }
  if (
    major >= 24 ||
    process.execArgv.includes('--experimental-async-context-frame') ||
    process.env.HOTCODE_NO_REEXEC
  )
    return false;
  const child = spawnChild(
    process.execPath,
    ['--experimental-async-context-frame', ...process.execArgv, ...process.argv.slice(1)],
    {
      stdio: 'inherit',
      env: { ...process.env, HOTCODE_NO_REEXEC: '1' },
    },
  );
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  process.on('SIGINT', () => {}); // the child, in the same process group, gets it
  child.on('exit', (status, signal) => process.exit(status ?? (signal ? 128 + 2 : 1)));
  return true;
}

/** Where a suitable Node comes from: in hotcode's own repository, its `node` dev dependency. */
function howToGetNode(): string {
  const root = new URL('../../', import.meta.url);
  let devNode: string | undefined;
  try {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
      devDependencies?: Record<string, string>;
    };
    devNode = pkg.devDependencies?.node;
  } catch {
    devNode = undefined;
  }
  const inRepository = devNode !== undefined && existsSync(new URL('.git', root));
  return inRepository
    ? `this repository brings Node ${devNode} as a dev dependency: run npm ci, then npm start, npm test or npx hotcode (npm puts node_modules/.bin first on PATH)`
    : 'install Node 22 or newer (https://nodejs.org/en/download, or nvm install 22) and run it with that';
}

async function main(argv: string[]): Promise<void> {
  // deploy / rollback / nodes with --cluster URL: a group of nodes (S11.2, cluster.ts).
  if (isClusterCommand(argv)) await clusterMain(argv);
  let split: ReturnType<typeof splitArgv>;
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    split = splitArgv(argv);
    ({ values, positionals } = parseArgs({
      args: split.args,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    fail(
      `${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')}\nRun hotcode --help for the commands and options.`,
    );
  }
  if (values.help || split.command === 'help') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (values.version) {
    process.stdout.write(`hotcode ${hotcodeVersion()}\n`);
    process.exit(0);
  }
  if (split.command === 'init') {
    try {
      initCommand(positionals);
    } catch (e) {
      if (e instanceof UsageError) fail(e.message);
      fail(formatError(e, err, { stack: values.verbose === true }));
    }
  }
  if (reexecIfNeeded()) return;
  let s: Settings;
  try {
    s = settings(values, split.command);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof UsageError) fail(e.message);
    throw e;
  }
  try {
    const observing = split.command === 'observer' || values.observer === true;
    for (const flag of ['allow-destructive', 'allow-remote'])
      if (values[flag] !== undefined && !observing)
        throw new UsageError(
          `--${flag} is an option of the observer (hotcode observer, or --observer)`,
        );
    if (values.observer && split.command !== 'shell' && split.command !== 'run')
      throw new UsageError('--observer is an option of hotcode run and hotcode shell');
    if (split.command === 'observer') await observerCommand(positionals, values);
    if (REMOTE_COMMANDS.has(split.command))
      await remoteCommand(split.command, positionals, split.rest, values, {
        src: s.start.src,
        root: s.start.root,
        typecheck: s.start.typecheck ?? true,
        oldCode: s.oldCode,
      });
    for (const flag of ['socket', 'host', 'port', 'check', 'upgrade', 'change'])
      if (values[flag] !== undefined && !(observing && (flag === 'host' || flag === 'port')))
        throw new UsageError(`--${flag} is an option of the remote commands (hotcode --help)`);
    if (values.stale !== undefined && split.command !== 'compile')
      throw new UsageError('--stale is an option of hotcode compile');
    if (split.command !== 'shell' && split.command !== 'run')
      for (const flag of ['name', 'no-control'])
        if (values[flag] !== undefined)
          throw new UsageError(`--${flag} is an option of hotcode run and hotcode shell`);
    if (split.command === 'shell') {
      if (positionals.length)
        throw new UsageError(`shell takes no arguments (got ${positionals.join(' ')})`);
      await shellCommand(s, values);
    } else if (split.command === 'run') await runCommand(s, values, positionals, split.rest);
    else if (split.command === 'compile') await compileCommand(s, positionals, values);
  } catch (e) {
    if (e instanceof UsageError || e instanceof RemoteUsageError || e instanceof ObserverUsageError)
      fail(e.message);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && !s.verbose) fail(formatError(e, err, { stack: false }));
    fail(formatError(e, err, { stack: s.verbose }));
  }
}

await main(process.argv.slice(2));
