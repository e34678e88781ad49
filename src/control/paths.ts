/**
 * Where a named node listens (S9.1): node names, the runtime directory and
 * the socket path, and the checks that keep that directory private.
 *
 * `<dir>` is `$HOTCODE_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/hotcode`, else
 * `/tmp/hotcode-<uid>`; it is created with mode 0700 and refused
 * (`control_insecure`) when someone else owns it or group or others can use
 * it. The socket is `<dir>/<name>.sock`.
 */
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { badarg, HotcodeError } from '../errors.js';

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Is `name` a valid node name (`[A-Za-z0-9_.-]`, 1–64 characters)? */
export function isNodeName(name: unknown): name is string {
  return typeof name === 'string' && NAME.test(name) && name !== '.' && name !== '..';
}

/** Throws `badarg` unless `name` is a node name. */
export function checkNodeName(name: unknown, what: string): string {
  if (!isNodeName(name))
    badarg(
      `${what}: a node name is 1 to 64 characters of A-Z, a-z, 0-9, _, . and - (got ${JSON.stringify(name) ?? String(name)})`,
    );
  return name;
}

/**
 * The node name a package gets by default (S9.1): its `name` without the
 * scope, characters a node name cannot have dropped; undefined if nothing is
 * left.
 */
export function nodeNameOfPackage(pkgName: unknown): string | undefined {
  if (typeof pkgName !== 'string') return undefined;
  const bare = pkgName.replace(/^@[^/]*\//, '');
  const name = bare.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64);
  return isNodeName(name) ? name : undefined;
}

function uid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

/** The directory of the control sockets (not created). */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HOTCODE_RUNTIME_DIR) return resolve(env.HOTCODE_RUNTIME_DIR);
  if (env.XDG_RUNTIME_DIR) return join(resolve(env.XDG_RUNTIME_DIR), 'hotcode');
  return join(tmpdir(), `hotcode-${uid() ?? 'user'}`);
}

/** `<dir>/<name>.sock`. */
export function socketPath(name: string, dir = runtimeDir()): string {
  return join(dir, `${name}.sock`);
}

/** The longest Unix socket path Linux and macOS accept (sun_path, with its NUL). */
export const MAX_SOCKET_PATH = 103;

/**
 * Creates `dir` with mode 0700 if it is missing; refuses (`control_insecure`)
 * a directory that is a symbolic link, that another user owns, or that group
 * or others can use.
 */
export function ensurePrivateDir(dir: string): void {
  let st = lstatOrUndefined(dir);
  if (st === undefined) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new HotcodeError(
        'control_insecure',
        `cannot create the control directory ${dir}: ${(e as Error).message}; set HOTCODE_RUNTIME_DIR to a directory of yours`,
      );
    }
    st = lstatOrUndefined(dir);
  }
  if (st === undefined || st.isSymbolicLink() || !st.isDirectory())
    throw new HotcodeError(
      'control_insecure',
      `the control directory ${dir} is not a directory (a symbolic link or a file is there): remove it, or set HOTCODE_RUNTIME_DIR`,
    );
  const me = uid();
  if (me !== undefined && st.uid !== me)
    throw new HotcodeError(
      'control_insecure',
      `the control directory ${dir} belongs to uid ${st.uid}, not to you (uid ${me}): remove it, or set HOTCODE_RUNTIME_DIR to a directory of yours`,
    );
  if ((st.mode & 0o077) !== 0)
    throw new HotcodeError(
      'control_insecure',
      `the control directory ${dir} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}): chmod 700 ${dir}`,
    );
}

export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
