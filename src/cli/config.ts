/**
 * The project's configuration for the `hotcode` command: `hotcode.config.json`
 * or the `"hotcode"` field of `package.json`, found in the working directory
 * or the nearest directory above it that has one of them (the project root).
 *
 * ```json
 * { "src": ["src"], "out": "ebin", "path": ["vendor/ebin"], "typecheck": true, "name": "shop" }
 * ```
 *
 * Paths are relative to the file's directory. Flags override every field.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { isNodeName, nodeNameOfPackage } from '../control/paths.js';
import type { ClusterOptions } from '../types.js';

export interface ProjectConfig {
  /** The directory of the configuration file (or the working directory when there is none). */
  root: string;
  /** Where the configuration came from, for messages; undefined when there is none. */
  file: string | undefined;
  src?: string[];
  out?: string;
  path?: string[];
  typecheck?: boolean;
  /** The node's name (S9.1): a named node listens for control connections. */
  name?: string;
  /** The group this project's nodes join (S11.1): `{ servers, group?, user?, pass?, token? }`. */
  cluster?: ClusterOptions;
}

/** A configuration file that cannot be used: says which file, where, and what is wrong. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly column: number | undefined,
    message: string,
  ) {
    super(`${shown(file)}${line !== undefined ? `:${line}:${column ?? 1}` : ''}: ${message}`);
  }
  override get name(): string {
    return 'ConfigError';
  }
}

/** A path relative to the working directory when it is inside it. */
function shown(file: string): string {
  const r = relative(process.cwd(), file);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : file;
}

export const CONFIG_FILE = 'hotcode.config.json';

/** Finds and reads the configuration, starting at `dir` (or reads `file` if given). */
export function loadConfig(dir: string, file?: string): ProjectConfig {
  if (file !== undefined) {
    const f = resolve(dir, file);
    if (!existsSync(f)) throw new ConfigError(f, undefined, undefined, 'no such file');
    const json = parseJsonFile(f);
    return validate(
      f.endsWith('package.json') ? ((json as Record<string, unknown>).hotcode ?? {}) : json,
      f,
      dirname(f),
    );
  }
  for (let d = resolve(dir); ; d = dirname(d)) {
    const own = join(d, CONFIG_FILE);
    if (existsSync(own)) return validate(parseJsonFile(own), own, d);
    const pkg = join(d, 'package.json');
    if (existsSync(pkg)) {
      const json = parseJsonFile(pkg) as Record<string, unknown> | null;
      if (json !== null && typeof json === 'object' && json.hotcode !== undefined)
        return validate(json.hotcode, `${pkg} ("hotcode")`, d);
      return { root: d, file: undefined };
    }
    if (dirname(d) === d) return { root: resolve(dir), file: undefined };
  }
}

function parseJsonFile(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const pos = /at position (\d+)/.exec(message);
    let line: number | undefined;
    let column: number | undefined;
    if (pos) {
      const offset = Number(pos[1]);
      const before = text.slice(0, offset);
      line = before.split('\n').length;
      column = offset - before.lastIndexOf('\n');
    } else if (/Unexpected end of JSON input/.test(message)) {
      const lines = text.split('\n');
      line = lines.length;
      column = lines[lines.length - 1]!.length + 1;
    }
    const clean = message
      .replace(/\s*\(line \d+ column \d+\)/, '')
      .replace(/ in JSON at position \d+/, '');
    throw new ConfigError(file, line, column, `not valid JSON: ${clean}`);
  }
}

function validate(value: unknown, file: string, root: string): ProjectConfig {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ConfigError(
      file,
      undefined,
      undefined,
      'the configuration must be an object: { "src", "out", "path", "typecheck" }',
    );
  const v = value as Record<string, unknown>;
  const known = new Set(['src', 'out', 'path', 'typecheck', 'name', 'cluster', '$schema']);
  for (const k of Object.keys(v))
    if (!known.has(k))
      throw new ConfigError(
        file,
        undefined,
        undefined,
        `unknown field "${k}" (known: src, out, path, typecheck, name, cluster)`,
      );
  const dirs = (k: string): string[] | undefined => {
    const x = v[k];
    if (x === undefined) return undefined;
    const list = typeof x === 'string' ? [x] : x;
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && s !== ''))
      throw new ConfigError(
        file,
        undefined,
        undefined,
        `"${k}" must be a directory or a list of directories`,
      );
    return list.map((s) => resolve(root, s));
  };
  const cfg: ProjectConfig = { root, file };
  const src = dirs('src');
  if (src) cfg.src = src;
  if (v.out !== undefined) {
    if (typeof v.out !== 'string' || v.out === '')
      throw new ConfigError(file, undefined, undefined, '"out" must be a directory');
    cfg.out = resolve(root, v.out);
  }
  const path = dirs('path');
  if (path) cfg.path = path;
  if (v.typecheck !== undefined) {
    if (typeof v.typecheck !== 'boolean')
      throw new ConfigError(file, undefined, undefined, '"typecheck" must be true or false');
    cfg.typecheck = v.typecheck;
  }
  if (v.name !== undefined) {
    if (!isNodeName(v.name))
      throw new ConfigError(
        file,
        undefined,
        undefined,
        '"name" must be a node name: 1 to 64 characters of A-Z, a-z, 0-9, _, . and -',
      );
    cfg.name = v.name;
  }
  if (v.cluster !== undefined) cfg.cluster = clusterField(v.cluster, file);
  return cfg;
}

/**
 * The name `hotcode run` gives its node by default (S9.1): the nearest
 * package.json's `name`, scope and characters a node name cannot have
 * dropped; undefined when there is none.
 */
export function packageNodeName(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const pkg = join(d, 'package.json');
    if (existsSync(pkg)) {
      try {
        return nodeNameOfPackage(
          (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name,
        );
      } catch {
        return undefined;
      }
    }
    if (dirname(d) === d) return undefined;
  }
}

/** `"cluster": { "servers": "nats://…", "group": "web", "user", "pass", "token" }` (S11.1). */
function clusterField(x: unknown, file: string): ClusterOptions {
  const bad = (what: string) =>
    new ConfigError(
      file,
      undefined,
      undefined,
      `"cluster" ${what}: { "servers": "nats://host:4222", "group": "default" }`,
    );
  if (x === null || typeof x !== 'object' || Array.isArray(x)) throw bad('must be an object');
  const c = x as Record<string, unknown>;
  for (const k of Object.keys(c))
    if (!['servers', 'group', 'user', 'pass', 'token'].includes(k))
      throw bad(`has an unknown field "${k}"`);
  const servers = typeof c.servers === 'string' ? [c.servers] : c.servers;
  if (
    !Array.isArray(servers) ||
    servers.length === 0 ||
    !servers.every((s) => typeof s === 'string' && s !== '')
  )
    throw bad('needs "servers", a NATS URL or a list of them');
  const out: ClusterOptions = { servers: servers as string[] };
  for (const k of ['group', 'user', 'pass', 'token'] as const) {
    if (c[k] === undefined) continue;
    if (typeof c[k] !== 'string') throw bad(`"${k}" must be a string`);
    out[k] = c[k] as string;
  }
  return out;
}
