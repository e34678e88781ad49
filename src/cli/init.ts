/**
 * `hotcode init [dir]` (S7.5): a new project a person can run at once.
 *
 * It writes a `package.json` depending on hotcode, a `tsconfig.json` under
 * which `tsc --noEmit` and the type gate agree (S6.2), `src/` with a process
 * module (`counter`) and a genServer (`greeter`), `hotcode.config.json`, a
 * `.gitignore` for the object files, and a README with the next three
 * commands. It never overwrites a file: one that exists is skipped, and the
 * report says so.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

export interface InitReport {
  dir: string;
  /** Files written, relative to `dir`. */
  created: string[];
  /** Files that existed and were left as they were. */
  skipped: string[];
}

/**
 * The tsconfig.json of a new project: what tsc and the type gate both judge
 * by (docs/typegate.md says why each setting is there).
 */
export const PROJECT_TSCONFIG = {
  compilerOptions: {
    target: 'ES2023',
    module: 'ESNext',
    moduleResolution: 'Bundler',
    lib: ['ES2023'],
    types: ['node'],
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    allowJs: true,
    skipLibCheck: true,
    isolatedModules: true,
    moduleDetection: 'force',
  },
  include: ['src'],
};

interface HotcodePackage {
  version: string;
  dependencies?: Record<string, string>;
}

function hotcodePackage(): HotcodePackage {
  return JSON.parse(
    readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
  ) as HotcodePackage;
}

/** A package name from a directory name (npm's rules: lower case, no spaces). */
function packageName(dir: string): string {
  const name = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+|-+$/g, '');
  return name === '' ? 'hotcode-app' : name.slice(0, 214);
}

export function init(target: string): InitReport {
  const dir = resolve(target);
  const pkg = hotcodePackage();
  const deps = pkg.dependencies ?? {};
  const name = packageName(dir);
  const files: [string, string][] = [
    [
      'package.json',
      json({
        name,
        version: '0.1.0',
        private: true,
        type: 'module',
        scripts: {
          start: 'hotcode shell --watch',
          test: 'tsc --noEmit && hotcode run counter demo',
        },
        dependencies: { hotcode: `^${pkg.version}` },
        devDependencies: {
          '@types/node': deps['@types/node'] ?? '*',
          typescript: deps.typescript ?? '*',
        },
      }),
    ],
    ['tsconfig.json', json(PROJECT_TSCONFIG)],
    ['hotcode.config.json', json({ src: ['src'], out: 'ebin', typecheck: true })],
    [
      '.gitignore',
      'node_modules/\n# object files (hotcode compiles src/ into them)\nebin/\n.hotcode_history\n',
    ],
    ['README.md', readme(name)],
    ['src/counter.ts', COUNTER],
    ['src/greeter.ts', GREETER],
  ];
  const report: InitReport = { dir, created: [], skipped: [] };
  mkdirSync(join(dir, 'src'), { recursive: true });
  for (const [rel, text] of files) {
    const file = join(dir, rel);
    if (existsSync(file)) {
      report.skipped.push(rel);
      continue;
    }
    // 'wx': never replace a file, even one that appeared meanwhile.
    try {
      writeFileSync(file, text, { flag: 'wx' });
      report.created.push(rel);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      report.skipped.push(rel);
    }
  }
  return report;
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function readme(name: string): string {
  return `# ${name}

A [hotcode](https://www.npmjs.com/package/hotcode) project: TypeScript modules
that you change while they run, as in Erlang/OTP.

\`\`\`sh
npm install                    # hotcode and TypeScript
npx hotcode run counter demo   # runs counter.demo() as a process, then exits
npx hotcode shell --watch      # a node and its shell; a saved file in src/ is reloaded
\`\`\`

In the shell, try \`pid = counter.start()\`, \`send(pid, { op: 'inc' })\`,
\`send(pid, { op: 'get', from: self() })\` and \`flush()\`; or \`greeter.start()\`
and \`greeter.greet('Ada')\`. Then edit \`step()\` in \`src/counter.ts\` or
\`greeting()\` in \`src/greeter.ts\`, save, and ask again: the same process,
its state kept, runs the new code. \`help()\` lists the shell's commands.

- \`src/\` holds the modules (one file each, directly in \`src/\`); \`ebin/\`
  the object files hotcode compiles them into.
- Every reload is type-checked first (\`tsconfig.json\`, the same rules as
  \`tsc --noEmit\`); a change that does not check is not loaded.
- \`npm test\` runs \`tsc --noEmit\` and the demo.
- The manual: \`node_modules/hotcode/README.md\` and \`node_modules/hotcode/docs/\`.
`;
}

const COUNTER = `// A counter process: its state, the count, survives every upgrade.
//
// \`loop\` calls itself through the module (self.loop), as Erlang's
// ?MODULE:loop(State), so a newly loaded version takes over at the next
// message. Change step() below, save (or c(counter) in the shell), and send
// another { op: 'inc' } to the same process.
import { type Pid, receive, self as me, send, spawn } from 'hotcode';
import * as self from './counter';

export const vsn = 1;

export type Msg = { op: 'inc' } | { op: 'get'; from: Pid } | { op: 'stop' };

/** How much one \`inc\` adds. Change it and reload. */
export function step(): number {
  return 1;
}

export function start(initial = 0): Pid {
  return spawn(self.loop, initial);
}

export async function loop(count: number): Promise<number> {
  const msg = await receive<Msg>();
  switch (msg.op) {
    case 'inc':
      return self.loop(count + step());
    case 'get':
      send(msg.from, { count, vsn });
      return self.loop(count);
    case 'stop':
      return count;
  }
}

/** \`npx hotcode run counter demo [times]\`: start a counter, bump it, read it, stop it. */
export async function demo(times = '3'): Promise<void> {
  const pid = start(0);
  for (let i = 0; i < Number(times); i++) send(pid, { op: 'inc' });
  send(pid, { op: 'get', from: me() });
  const { count } = await receive<{ count: number; vsn: number }>();
  console.log(\`counter \${pid} counted \${count} (version \${vsn})\`);
  send(pid, { op: 'stop' });
}
`;

const GREETER = `// A greeter server (a genServer): edit it while it runs.
//
// genServer calls these callbacks through the module, so after a reload the
// next call runs the new code — and the count, the server's state, carries on.
// A release upgrade with a new state shape migrates it with codeChange.
import { type CallResult, type From, genServer, type Pid } from 'hotcode';

export interface State {
  count: number;
}

export type Request = { greet: string } | 'count';

/** The word the server greets with. Change it and save. */
export function greeting(): string {
  return 'Hello';
}

/** Starts the server, registered as 'greeter'. */
export function start(): Promise<Pid> {
  return genServer.start('greeter', undefined, { name: 'greeter' });
}

export function greet(name: string): Promise<string> {
  return genServer.call<string>('greeter', { greet: name });
}

export function stop(): Promise<void> {
  return genServer.stop('greeter');
}

// ---- genServer callbacks -------------------------------------------------------------

export function init(): State {
  return { count: 0 };
}

export function handleCall(
  request: Request,
  _from: From,
  state: State,
): CallResult<string | number, State> {
  if (request === 'count') return { reply: state.count, state };
  const count = state.count + 1;
  return { reply: \`\${greeting()}, \${request.greet}! (greeting #\${count})\`, state: { count } };
}

/** Run by a release upgrade: return the new state (never change the old one). */
export function codeChange(_oldVsn: string | undefined, state: State): State {
  return { ...state };
}

/** \`npx hotcode run greeter demo Ada Grace\`: start the server, greet, stop it. */
export async function demo(...names: string[]): Promise<void> {
  await start();
  for (const name of names.length > 0 ? names : ['Ada', 'Grace']) console.log(await greet(name));
  await stop();
}
`;
