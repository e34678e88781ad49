// Shared test helpers: a fresh project directory per test, versioned fixtures.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** A temp project: { dir, src, out }, with `files` ({ name: text }) written into src. */
export function project(files = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hotcode-test-'));
  const src = join(dir, 'src');
  const out = join(dir, 'ebin');
  mkdirSync(src);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(src, name), text);
  return { dir, src, out };
}

/** Copies fixture `core/<fixture>` into the project's src as `<as>`. */
export function useFixture(p, fixture, as) {
  copyFileSync(join(FIXTURES, fixture), join(p.src, as));
}

export function writeSource(p, name, text) {
  writeFileSync(join(p.src, name), text);
}

export function fixtureText(fixture) {
  return readFileSync(join(FIXTURES, fixture), 'utf8');
}

/** A promise and its resolver, for deterministic waits. */
export function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const DIST_INDEX = new URL('../dist/index.js', import.meta.url).href;

/**
 * Runs `body` (an ES module's text that may `import … from 'hotcode'`) as a
 * child process of this Node, in a fresh temp project; resolves with its
 * exit status and output. For behaviours that could end the whole process.
 */
export async function runScript(body, { timeoutMs = 30_000, env = {} } = {}) {
  const { execFile } = await import('node:child_process');
  const p = project();
  const file = join(p.dir, 'script.mjs');
  writeFileSync(file, body.replaceAll("from 'hotcode'", `from '${DIST_INDEX}'`));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [file],
      { cwd: p.dir, timeout: timeoutMs, env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        resolve({
          status: error ? (error.code ?? 1) : 0,
          signal: error?.signal,
          stdout,
          stderr,
          dir: p.dir,
        }),
    );
  });
}
