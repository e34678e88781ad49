/**
 * The control client (S9.5): `connect(NAME | { socket } | { host, port })`
 * reaches a named node, proves the secret, and gives typed calls — `rpc`,
 * `eval`, `deploy`, `status`, `stop`, `close` — over a generic
 * `request(cmd, args)` that any command of the protocol (protocol.ts) can
 * use. A deploy compiles and type-checks HERE, against the versions the node
 * describes, and sends object files: the node never loads TypeScript.
 *
 * Errors: `nodedown` (no node there, or the connection ended), `auth` (the
 * secret does not match, either way), `control_insecure` (the secret file),
 * and for `rpc` the remote error's own `code` (`undef`, …) or `exit` with
 * `reason`.
 *
 * This file sits below the public API (index.ts exports `connect`): it
 * uses the compiler and the type gate, never the running node's state.
 *
 * @example
 * const node = await connect('shop');
 * await node.rpc('cart', 'add', [42]);
 * const r = await node.deploy(['cart']);   // { modules: ['cart'], killed: [] }
 * await node.close();
 */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { hostname, userInfo } from 'node:os';
import { basename, join, resolve } from 'node:path';
import tls from 'node:tls';
import { loadConfig } from '../cli/config.js';
import type { SystemVersion } from '../compiler/check.js';
import { findSource } from '../compiler/index.js';
import { planDeploy } from '../compiler/plan.js';
import { createTypeGate, type TypeGate } from '../compiler/typegate/index.js';
import { badarg, HotcodeError } from '../errors.js';
import type { Diagnostic } from '../types.js';
import { isModuleName, md5, moduleOfSourceFile } from '../vocabulary.js';
import {
  bytesOf,
  newNonce,
  PSK_IDENTITY,
  proofMatches,
  proofOf,
  TLS_CIPHERS,
  tlsPsk,
} from './auth.js';
import { Channel } from './channel.js';
import { MAX_FRAME } from './frame.js';
import { checkNodeName, socketPath } from './paths.js';
import type {
  Commands,
  DeployResult,
  NodeInfo,
  NodeStatus,
  Reply,
  WireDeployResult,
} from './protocol.js';
import { readSecret } from './secret.js';

export type { DeployResult, NodeInfo, NodeStatus } from './protocol.js';

/** Which node: its name, its socket, or its TCP address (TLS 1.3). */
export type ConnectTarget =
  | string
  | { socket: string }
  | {
      host: string;
      port: number;
      /** Certificates instead of the secret as the TLS key: PEM text or file paths. */
      tls?: { ca: string; cert: string; key: string };
    };

export interface ConnectOptions {
  /** The secret's file (default `$HOTCODE_SECRET_FILE`, else `~/.hotcode/secret`). */
  secretFile?: string;
  /** How long connecting and the handshake may take (default 10 s). */
  timeoutMs?: number;
  /** What the node's log says this client is (default: `user@host pid N`). */
  client?: string;
}

/** A server of a release upgrade and the module whose codeChange migrates its state (S8.4). */
export interface UpgradeChangeSpec {
  server: string;
  module: string;
  extra?: unknown;
}

export interface DeployOptions {
  /** Source directories (default: the configuration's, as `hotcode` reads it here). */
  src?: string | string[];
  /** The project root, where the type gate finds tsconfig.json (default: the configuration's). */
  root?: string;
  /** Type-check here before sending (default: the configuration's, else true). */
  typecheck?: boolean;
  /** Type-check and prepare on the node, load nothing (`--check`). */
  check?: boolean;
  /** Load as a release upgrade (S8.4): `true`, or the servers to migrate. */
  upgrade?: boolean | { change?: UpgradeChangeSpec[] };
  /** `'kill'`: load even if old versions in use break, killing their users (S6.2). */
  oldCode?: 'kill' | 'refuse';
}

/** One module of a successful deploy: its version number before and after. */
export interface DeployedVersion {
  module: string;
  from?: number;
  to?: number;
}

type Pending = { resolve(v: unknown): void; reject(e: unknown): void };

export interface RemoteNode {
  /** Who answered: the node's name, OS pid and hotcode version. */
  readonly info: NodeInfo;
  /** Resolves when the connection has ended (for any reason). */
  readonly closed: Promise<void>;
  /** Any command of the protocol (protocol.ts); rejects with the node's error. */
  request<K extends keyof Commands>(
    cmd: K,
    args: Commands[K]['args'],
  ): Promise<Commands[K]['result']>;
  request(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Unsolicited frames (a remote shell's output); returns the unsubscribe function. */
  onEvent(listener: (event: Record<string, unknown>) => void): () => void;
  /** `module.fn(...args)` as a process on the node; its result as JSON. */
  rpc(module: string, fn: string, args?: unknown[]): Promise<unknown>;
  /** A shell expression on the node: what the shell prints for it. */
  eval(expr: string): Promise<string>;
  /** Compile and type-check here, load there as one change (S9.4). */
  deploy(modules?: string | string[], options?: DeployOptions): Promise<DeployResult>;
  status(): Promise<NodeStatus>;
  /** Stops the node: every process, then its OS process (as `init:stop()`). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

function nodedown(message: string): HotcodeError {
  return new HotcodeError('nodedown', message);
}

/** Where a target is, for messages. */
function targetText(t: ConnectTarget): string {
  if (typeof t === 'string') return `node ${t} (${socketPath(t)})`;
  if ('socket' in t) return `the node at ${t.socket}`;
  return `the node at ${t.host}:${t.port}`;
}

function pem(x: string): string {
  return x.includes('-----BEGIN') ? x : readFileSync(x, 'utf8');
}

/**
 * Connects to a named node and authenticates (S9.2, S9.5).
 *
 * @example
 * const node = await connect('shop', { secretFile: '/etc/shop/secret' });
 */
export async function connect(
  target: ConnectTarget,
  options: ConnectOptions = {},
): Promise<RemoteNode> {
  if (typeof target === 'string') checkNodeName(target, 'connect');
  else if (target === null || typeof target !== 'object')
    badarg('connect: expected a node name, { socket } or { host, port }');
  else if ('socket' in target) {
    if (typeof target.socket !== 'string' || target.socket === '')
      badarg('connect: { socket } must be a path');
  } else if (
    typeof (target as { host?: unknown }).host !== 'string' ||
    !Number.isInteger((target as { port?: unknown }).port)
  )
    badarg('connect: expected a node name, { socket: path } or { host, port }');
  if (options === null || typeof options !== 'object') badarg('connect: options must be an object');
  const secret = readSecret(options.secretFile);
  const where = targetText(target);
  const socket = open(target, secret);
  const channel = new Channel(socket);
  const info = await handshake(channel, secret, where, options);
  channel.decoder.limit = MAX_FRAME;
  return remoteNode(channel, info, where);
}

function open(target: ConnectTarget, secret: Buffer): net.Socket {
  if (typeof target === 'string') return net.createConnection(socketPath(target));
  if ('socket' in target) return net.createConnection(resolve(target.socket));
  const base = {
    host: target.host,
    port: target.port,
    minVersion: 'TLSv1.3' as const,
    maxVersion: 'TLSv1.3' as const,
  };
  if (target.tls)
    return tls.connect({
      ...base,
      ca: pem(target.tls.ca),
      cert: pem(target.tls.cert),
      key: pem(target.tls.key),
      ...(net.isIP(target.host) ? {} : { servername: target.host }),
    });
  return tls.connect({
    ...base,
    ciphers: TLS_CIPHERS,
    pskCallback: () => ({ psk: tlsPsk(secret), identity: PSK_IDENTITY }),
    // A PSK connection has no certificate to check: the key itself is the proof.
    checkServerIdentity: () => undefined,
  });
}

function handshake(
  channel: Channel,
  secret: Buffer,
  where: string,
  options: ConnectOptions,
): Promise<NodeInfo> {
  return new Promise<NodeInfo>((resolvePromise, rejectPromise) => {
    let step: 'hello' | 'welcome' | 'done' = 'hello';
    let nodeNonce: Buffer | undefined;
    const clientNonce = newNonce();
    const fail = (e: HotcodeError) => {
      if (step === 'done') return;
      step = 'done';
      clearTimeout(timer);
      channel.close(e.message, true);
      rejectPromise(e);
    };
    const timer = setTimeout(
      () => fail(nodedown(`${where} did not complete the handshake in time`)),
      options.timeoutMs ?? 10_000,
    );
    channel.onClose((why) => {
      if (step === 'welcome')
        // The node hangs up on a wrong proof (it may not even say so).
        fail(new HotcodeError('auth', `${where} refused the secret (${secretHint(options)})`));
      else fail(nodedown(`cannot reach ${where}: ${reason(why)}`));
    });
    channel.onFrame((f) => {
      if (step === 'hello') {
        nodeNonce = bytesOf(f.nonce);
        if (f.hotcode !== 'control' || nodeNonce === undefined) {
          fail(nodedown(`${where} is not a hotcode node (its greeting is not hotcode's)`));
          return;
        }
        step = 'welcome';
        channel.send({
          nonce: clientNonce.toString('base64'),
          proof: proofOf(secret, 'client', nodeNonce, clientNonce).toString('base64'),
          client: options.client ?? describeClient(),
        });
        return;
      }
      if (step !== 'welcome') return;
      if (f.denied === true) {
        fail(new HotcodeError('auth', `${where} refused the secret (${secretHint(options)})`));
        return;
      }
      const expected = proofOf(secret, 'node', nodeNonce!, clientNonce);
      if (!proofMatches(expected, bytesOf(f.welcome))) {
        fail(
          new HotcodeError(
            'auth',
            `${where} did not prove that it knows the secret: it is not the node you meant`,
          ),
        );
        return;
      }
      const node = (f.node ?? {}) as Partial<NodeInfo>;
      step = 'done';
      clearTimeout(timer);
      resolvePromise({
        name: String(node.name ?? ''),
        pid: Number(node.pid ?? 0),
        hotcode: String(node.hotcode ?? ''),
      });
    });
  });
}

function secretHint(options: ConnectOptions): string {
  return options.secretFile !== undefined
    ? `check that ${options.secretFile} holds the node's secret`
    : "check that your secret file (HOTCODE_SECRET_FILE, else ~/.hotcode/secret) holds the node's";
}

function reason(why: string): string {
  if (why === 'ENOENT') return 'no socket there (is the node running, with that name?)';
  if (why === 'ECONNREFUSED') return 'nothing listens there (the node has stopped)';
  if (why === 'EACCES') return 'permission denied (the socket belongs to another user)';
  return why;
}

function describeClient(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {}
  return `${user}@${hostname()} pid ${process.pid}`;
}

function remoteNode(channel: Channel, info: NodeInfo, where: string): RemoteNode {
  const pending = new Map<number, Pending>();
  const listeners = new Set<(e: Record<string, unknown>) => void>();
  let nextId = 1;
  let gate: { key: string; gate: TypeGate } | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });

  channel.onFrame((f) => {
    if (typeof f.id === 'number') {
      const p = pending.get(f.id);
      if (p === undefined) return;
      pending.delete(f.id);
      const reply = f as unknown as Reply;
      if (reply.ok) p.resolve(reply.value);
      else p.reject(remoteError(reply.error));
      return;
    }
    if (typeof f.event === 'string') for (const l of listeners) l(f);
  });
  channel.onClose((why) => {
    const e = nodedown(`the connection to ${where} ended: ${reason(why)}`);
    for (const p of pending.values()) p.reject(e);
    pending.clear();
    void gate?.gate.close();
    gate = undefined;
    resolveClosed();
  });

  function request(cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
    if (typeof cmd !== 'string') badarg('request: the command must be a string');
    if (channel.closed) return Promise.reject(nodedown(`the connection to ${where} is closed`));
    const id = nextId++;
    return new Promise((resolveReply, rejectReply) => {
      pending.set(id, { resolve: resolveReply, reject: rejectReply });
      if (!channel.send({ id, cmd, args })) {
        pending.delete(id);
        rejectReply(
          new HotcodeError('badarg', `request ${cmd}: the arguments cannot be sent as JSON`),
        );
      }
    });
  }

  function gateFor(root: string, srcDirs: string[]): TypeGate {
    const key = JSON.stringify([root, srcDirs]);
    if (gate?.key !== key) {
      void gate?.gate.close();
      gate = { key, gate: createTypeGate({ root, srcDirs }) };
    }
    return gate.gate;
  }

  async function deploy(
    modules: string | string[] = [],
    options: DeployOptions = {},
  ): Promise<DeployResult> {
    const names = typeof modules === 'string' ? [modules] : modules;
    if (!Array.isArray(names) || !names.every(isModuleName))
      badarg('deploy: expected a module name or a list of module names');
    if (options === null || typeof options !== 'object')
      badarg('deploy: options must be an object');
    const cfg = loadConfig(process.cwd());
    const src =
      options.src === undefined
        ? (cfg.src ?? [join(cfg.root, 'src')])
        : (Array.isArray(options.src) ? options.src : [options.src]).map((d) => resolve(d));
    const typecheck = options.typecheck ?? cfg.typecheck ?? true;
    const change = upgradeSpecs(options.upgrade);
    const described = await request('deploy.describe', {
      servers: (change ?? []).map((c) => c.server),
    });
    const { system, servers } = described as {
      system: SystemVersion<string>[];
      servers: Record<string, string | null>;
    };
    const exclude = new Set(Object.values(servers).filter((p): p is string => p !== null));
    const here = laidOutHere(system, src, new Set(names.length ? names : differing(system, src)));
    const planned = await planDeploy({
      srcDirs: src,
      ...(names.length ? { modules: names } : { sourceModules: sourceModules(src) }),
      system: here.system,
      gate: typecheck
        ? gateFor(options.root === undefined ? cfg.root : resolve(options.root), src)
        : undefined,
      ...(options.oldCode ? { oldCode: options.oldCode } : {}),
      ...(exclude.size ? { exclude } : {}),
    });
    if (!planned.ok) {
      if (planned.error === 'nofile')
        return {
          error: 'nofile',
          module: planned.module,
          message: `no source for ${planned.module} in ${src.join(', ')}`,
        };
      const diagnostics = planned.diagnostics.map((d) => here.theirs(d));
      return planned.oldUsers
        ? { error: 'compile', diagnostics, oldUsers: planned.oldUsers }
        : { error: 'compile', diagnostics };
    }
    const { plan } = planned;
    if (plan.objects.length === 0)
      return withDetails({ modules: [], killed: [] }, [], plan.warnings);
    const r = (await request('deploy.apply', {
      objects: plan.objects.map((o) => ({ module: o.module, text: o.text })),
      expect: plan.expect,
      kill: plan.kill,
      ...(options.check ? { check: true } : {}),
      ...(change ? { upgrade: { change } } : {}),
    })) as WireDeployResult;
    if ('error' in r) return r as DeployResult;
    const versions: DeployedVersion[] = plan.objects.map((o) => {
      const v: DeployedVersion = { module: o.module };
      if (o.from !== undefined) v.from = o.from;
      const to = r.versions.find((x) => x.module === o.module)?.to;
      if (to !== undefined) v.to = to;
      return v;
    });
    const out = withDetails({ modules: r.modules, killed: r.killed }, versions, plan.warnings);
    if (r.pausedMs !== undefined) hidden(out, 'pausedMs', r.pausedMs);
    if (r.oldInUse !== undefined) hidden(out, 'oldInUse', r.oldInUse);
    return out;
  }

  const node: RemoteNode = {
    info,
    closed,
    request: request as RemoteNode['request'],
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    rpc(module, fn, args = []) {
      if (typeof module !== 'string' || typeof fn !== 'string' || !Array.isArray(args))
        badarg('rpc(module, fn, args): module and fn are strings, args an array');
      return request('rpc', { module, fn, args });
    },
    async eval(expr) {
      if (typeof expr !== 'string') badarg('eval: expected an expression (a string)');
      const r = (await request('eval', { expr })) as Commands['eval']['result'];
      const text = [...r.output, ...(r.text === '' ? [] : [r.text])].join('\n');
      if (!r.ok) throw new HotcodeError('eval', text);
      return text;
    },
    deploy,
    status: () => request('status', {}) as Promise<NodeStatus>,
    async stop() {
      await request('stop', {});
      await closed;
    },
    async close() {
      channel.close('closed by the client');
      await closed;
    },
  };
  return node;
}

/** A successful deploy, with the version changes and warnings as non-enumerable details. */
function withDetails(
  r: { modules: string[]; killed: string[] },
  versions: DeployedVersion[],
  warnings: Diagnostic[],
): DeployResult {
  hidden(r, 'versions', versions);
  hidden(r, 'warnings', warnings);
  return r;
}

function hidden(o: object, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: false });
}

function upgradeSpecs(u: DeployOptions['upgrade']): UpgradeChangeSpec[] | undefined {
  if (u === undefined || u === false) return undefined;
  if (u === true) return [];
  if (u === null || typeof u !== 'object') badarg('deploy: upgrade must be true or { change }');
  const change = u.change ?? [];
  if (
    !Array.isArray(change) ||
    !change.every(
      (c) =>
        c !== null &&
        typeof c === 'object' &&
        typeof c.server === 'string' &&
        isModuleName(c.module),
    )
  )
    badarg('deploy: upgrade.change must be a list of { server, module }');
  return change.map((c) => ({
    server: c.server,
    module: c.module,
    ...(c.extra !== undefined ? { extra: c.extra } : {}),
  }));
}

/**
 * The node's loaded versions as if they were laid out in the source
 * directories here. Their recorded paths are the node's (another machine,
 * another directory); the type gate resolves a module's relative imports
 * from where its file is, so a loaded caller left at the node's path would
 * import the node's files, or nothing, instead of the change being checked.
 * Each recorded source is placed where its module's source is here (or in
 * the first source directory). Diagnostics about the node's versions — its
 * other modules, and old versions in use — are given back the node's paths;
 * those about the change keep this machine's.
 */
function laidOutHere(
  system: readonly SystemVersion<string>[],
  srcDirs: readonly string[],
  changed: ReadonlySet<string>,
): { system: SystemVersion<string>[]; theirs(d: Diagnostic): Diagnostic } {
  const back = new Map<string, string>();
  const dirOf = new Map<string, string>();
  const here = srcDirs.map((d) => ({ dir: d, modules: new Set(sourceModules([d])) }));
  const placed = system.map((v) => {
    if (v.source === undefined) return v;
    let dir = dirOf.get(v.module);
    if (dir === undefined) {
      dir = here.find((h) => h.modules.has(v.module))?.dir ?? srcDirs[0] ?? '.';
      dirOf.set(v.module, dir);
    }
    const file = join(dir, basename(v.source.file));
    back.set(file, v.source.file);
    return { ...v, source: { file, text: v.source.text } };
  });
  return {
    system: placed,
    theirs(d) {
      const node = back.get(d.file);
      if (node === undefined) return d;
      const module = moduleOfSourceFile(d.file);
      const ours = d.transition === undefined && module !== undefined && changed.has(module);
      return ours ? d : { ...d, file: node };
    },
  };
}

/** The modules a deploy with no modules named takes: those whose source here differs from the node's current version. */
function differing(system: readonly SystemVersion<string>[], srcDirs: readonly string[]): string[] {
  const current = new Map(
    system.filter((v) => v.version === 'current').map((v) => [v.module, v.md5]),
  );
  return sourceModules(srcDirs).filter((m) => {
    const file = findSource(srcDirs, m);
    return file === undefined || current.get(m) !== md5(readFileSync(file, 'utf8'));
  });
}

/** The modules that have a source file in one of `srcDirs`. */
function sourceModules(srcDirs: readonly string[]): string[] {
  const names = new Set<string>();
  for (const dir of srcDirs) {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {}
    for (const f of entries) {
      const m = moduleOfSourceFile(f);
      if (m !== undefined) names.add(m);
    }
  }
  return [...names].sort();
}

/** The error a failed request rejects with: the remote error's own code. */
export class RemoteError extends HotcodeError {
  /** For `exit`: a description of the exit reason. */
  readonly reason: string | undefined;
  constructor(code: string, message: string, reason?: string) {
    super(code, message);
    this.reason = reason;
  }
  override get name(): string {
    return 'RemoteError';
  }
}

function remoteError(e: unknown): RemoteError {
  const w = (e ?? {}) as { code?: unknown; message?: unknown; reason?: unknown };
  return new RemoteError(
    typeof w.code === 'string' ? w.code : 'exit',
    typeof w.message === 'string' ? w.message : 'the node answered with an error',
    typeof w.reason === 'string' ? w.reason : undefined,
  );
}
