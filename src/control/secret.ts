/**
 * The shared secret (S9.2): the bytes of a file — `secretFile`, else
 * `$HOTCODE_SECRET_FILE`, else `~/.hotcode/secret` — created with 32 random
 * bytes and mode 0600 if missing (as Erlang's cookie), refused with
 * `control_insecure` if group or others can read it (as ssh refuses a key).
 *
 * The secret is read once and kept in memory; it never appears in argv, the
 * environment, logs or error messages (messages name the file, never its
 * content).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { HotcodeError } from '../errors.js';

/** The file the secret is read from. */
export function secretFilePath(file?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (file !== undefined) return resolve(file);
  if (env.HOTCODE_SECRET_FILE) return resolve(env.HOTCODE_SECRET_FILE);
  return join(homedir(), '.hotcode', 'secret');
}

/**
 * Reads the secret, creating the file (32 random bytes, mode 0600; its
 * directory 0700) when it is missing. Throws `control_insecure` when the file
 * is readable or writable by group or others, belongs to another user, or is
 * empty.
 */
export function readSecret(file?: string): Buffer {
  const path = secretFilePath(file);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw unreadable(path, e);
    create(path);
    fd = openSync(path, 'r');
  }
  try {
    // Checked on the open file, so what is checked is what is read.
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new HotcodeError('control_insecure', `the secret file ${path} is not a regular file`);
    const me = typeof process.getuid === 'function' ? process.getuid() : undefined;
    if (me !== undefined && st.uid !== me)
      throw new HotcodeError(
        'control_insecure',
        `the secret file ${path} belongs to uid ${st.uid}, not to you (uid ${me}); use a secret file of your own (secretFile, HOTCODE_SECRET_FILE)`,
      );
    if ((st.mode & 0o077) !== 0)
      throw new HotcodeError(
        'control_insecure',
        `the secret file ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 ${path}`,
      );
    const secret = readFileSync(fd);
    if (secret.length === 0)
      throw new HotcodeError(
        'control_insecure',
        `the secret file ${path} is empty: remove it (a new one is made) or put a secret in it`,
      );
    return secret;
  } finally {
    closeSync(fd);
  }
}

function create(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // 'wx': never follows or replaces something already there (another process may win the race).
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(32));
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw unreadable(path, e);
  }
}

function unreadable(path: string, e: unknown): HotcodeError {
  return new HotcodeError(
    'control_insecure',
    `cannot read or create the secret file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'}); set secretFile or HOTCODE_SECRET_FILE to a file of yours`,
  );
}
