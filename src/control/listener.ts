/**
 * The node side of remote control (S9.1–S9.3): a named node listens on the
 * Unix socket `<dir>/<name>.sock` (and on TCP, TLS 1.3 only, when
 * configured), authenticates every connection with the secret before
 * anything else, and hands authenticated requests to the command table
 * (commands.ts).
 *
 * - The socket's directory is private (0700, checked, paths.ts), the socket
 *   0600. A socket file nobody listens on is replaced; one a live node
 *   listens on fails with `name_taken`; anything else there (a symbolic
 *   link, a file) is left alone and refused (`control_insecure`).
 * - Robustness: at most 64 connections at once (more are closed at once);
 *   frames of at most 4 KiB until authenticated, 64 MiB after; 5 s to
 *   authenticate; a malformed or oversized frame, random bytes, or a wrong
 *   proof close that connection and nothing else. After a failed
 *   authentication, for a minute every further attempt from that peer (over
 *   the Unix socket, every client is one peer) is answered no sooner than
 *   100 ms after it began.
 * - Every authenticated command, and every refused connection, is logged
 *   with its time and peer: to `control.log`, else `<dir>/<name>.log`.
 *
 * This file sits above the public API (it runs commands through it); `start`
 * reaches it with a dynamic import, so a node without a name never loads it.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { HotcodeError } from '../errors.js';
import type { ControlOptions } from '../types.js';
import { describe, hotcodeVersion } from '../vocabulary.js';
import {
  bytesOf,
  newNonce,
  PROTOCOL_VERSION,
  PSK_IDENTITY,
  proofMatches,
  proofOf,
  TLS_CIPHERS,
  tlsPsk,
} from './auth.js';
import { Channel } from './channel.js';
import { type CommandContext, dispatch } from './commands.js';
import { MAX_FRAME } from './frame.js';
import {
  checkNodeName,
  ensurePrivateDir,
  lstatOrUndefined,
  MAX_SOCKET_PATH,
  runtimeDir,
  socketPath,
} from './paths.js';
import type { NodeInfo } from './protocol.js';
import { readSecret } from './secret.js';

/** At most this many connections at once, authenticated or not (S9.3). */
export const MAX_CONNECTIONS = 64;
/** A connection must authenticate within this time (S9.3). */
export const AUTH_TIMEOUT_MS = 5000;
/** After a failed authentication, further attempts are answered no sooner than this (S9.2)… */
export const FAILURE_DELAY_MS = 100;
/** …for this long. */
export const FAILURE_WINDOW_MS = 60_000;

export interface ListenOptions {
  name: string;
  control?: ControlOptions | undefined;
  secretFile?: string | undefined;
}

export interface Listener {
  readonly name: string;
  /** The Unix socket's path. */
  readonly socket: string;
  /** The TCP port, when listening on TCP. */
  readonly port: number | undefined;
  /** Closes the listeners and every connection; removes the socket file. */
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Starts listening (S9.1); rejects with `control_insecure`, `name_taken` or `badarg`. */
export async function listen(opts: ListenOptions): Promise<Listener> {
  const name = checkNodeName(opts.name, 'start');
  const control = opts.control ?? {};
  if (
    control.logMaxBytes !== undefined &&
    !(Number.isInteger(control.logMaxBytes) && control.logMaxBytes >= 1024)
  )
    throw new HotcodeError('badarg', 'start: control.logMaxBytes must be an integer ≥ 1024');
  if (control.port !== undefined) {
    if (!Number.isInteger(control.port) || control.port < 0 || control.port > 65535)
      throw new HotcodeError('badarg', 'start: control.port must be a port number (0–65535)');
    const host = control.host ?? '127.0.0.1';
    if (!LOOPBACK.test(host) && control.allowRemote !== true)
      throw new HotcodeError(
        'control_insecure',
        `start: control.host ${host} is not a loopback address: anyone who can reach it can try the secret; set control.allowRemote: true if you mean it`,
      );
    if ((control as { tls?: unknown }).tls === false)
      throw new HotcodeError(
        'control_insecure',
        'start: control over TCP is TLS 1.3 only; leave control.tls out (the secret is the key) or give { key, cert, ca }',
      );
  }
  const secret = readSecret(opts.secretFile);
  const dir = runtimeDir();
  ensurePrivateDir(dir);
  const path = socketPath(name, dir);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH)
    throw new HotcodeError(
      'badarg',
      `start: the control socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter name or HOTCODE_RUNTIME_DIR`,
    );
  await clearStaleSocket(path, name);

  const log: Log = control.log
    ? timestamped(control.log)
    : fileLog(join(dir, `${name}.log`), control.logMaxBytes ?? LOG_MAX_BYTES);
  const info: NodeInfo = { name, pid: process.pid, hotcode: hotcodeVersion() };
  const channels = new Set<Channel>();
  const failures = new Map<string, number>();
  let connectionCount = 0;

  const onConnection = (socket: net.Socket, peer: string, peerKey: string) => {
    if (channels.size >= MAX_CONNECTIONS) {
      socket.destroy();
      return;
    }
    connectionCount++;
    const channel = new Channel(socket);
    channels.add(channel);
    const began = Date.now();
    const nodeNonce = newNonce();
    let state: 'hello' | 'checking' | 'ready' = 'hello';
    const context: CommandContext = {
      channel,
      peer,
      info,
      log: (line) => log(line),
      cleanups: [],
    };
    const authTimer = setTimeout(() => {
      log(`${peer} closed: no authentication within ${AUTH_TIMEOUT_MS / 1000} s`);
      channel.close('no authentication in time', true);
    }, AUTH_TIMEOUT_MS);
    channel.onClose(() => {
      clearTimeout(authTimer);
      channels.delete(channel);
      for (const c of context.cleanups.splice(0)) c();
    });
    channel.onFrame((f) => {
      if (state === 'ready') {
        void dispatch(context, f);
        return;
      }
      if (state === 'checking') {
        channel.close('a frame before the handshake ended', true);
        return;
      }
      state = 'checking';
      const clientNonce = bytesOf(f.nonce);
      const ok =
        clientNonce !== undefined &&
        proofMatches(proofOf(secret, 'client', nodeNonce, clientNonce), bytesOf(f.proof));
      const last = failures.get(peerKey);
      const slow = last !== undefined && Date.now() - last < FAILURE_WINDOW_MS;
      const wait = slow ? Math.max(0, began + FAILURE_DELAY_MS - Date.now()) : 0;
      const answer = () => {
        if (channel.closed) return;
        if (!ok) {
          failures.set(peerKey, Date.now());
          log(`${peer} refused: authentication failed`);
          // Nothing about the node: the refusal, then the end.
          channel.send({ denied: true });
          channel.close('authentication failed');
          return;
        }
        clearTimeout(authTimer);
        state = 'ready';
        channel.decoder.limit = MAX_FRAME;
        const who = typeof f.client === 'string' ? ` (${f.client.slice(0, 200)})` : '';
        context.peer = `${peer}${who}`;
        channel.send({
          welcome: proofOf(secret, 'node', nodeNonce, clientNonce!).toString('base64'),
          node: info,
        });
        log(`${context.peer} authenticated`);
      };
      if (wait > 0) setTimeout(answer, wait);
      else answer();
    });
    channel.send({
      hotcode: 'control',
      version: PROTOCOL_VERSION,
      nonce: nodeNonce.toString('base64'),
    });
  };

  const unix = net.createServer((socket) => {
    onConnection(socket, `unix#${connectionCount + 1}`, 'unix');
  });
  unix.maxConnections = MAX_CONNECTIONS;
  await listenUnix(unix, path);

  let tcp: net.Server | undefined;
  if (control.port !== undefined) {
    try {
      tcp = await listenTcp(control, secret, (socket) => {
        const peer = `tcp:${socket.remoteAddress}:${socket.remotePort}`;
        onConnection(socket, peer, `tcp:${socket.remoteAddress}`);
      });
    } catch (e) {
      await closeServer(unix);
      removeSocket(path);
      throw e;
    }
  }
  const port = tcp ? (tcp.address() as net.AddressInfo).port : undefined;
  log(
    `listening on ${path}${port !== undefined ? ` and tcp ${control.host ?? '127.0.0.1'}:${port} (TLS 1.3)` : ''}`,
  );

  let closing: Promise<void> | undefined;
  return {
    name,
    socket: path,
    port,
    close() {
      closing ??= (async () => {
        for (const ch of channels) ch.close('the node is stopping');
        await Promise.all([closeServer(unix), tcp ? closeServer(tcp) : undefined]);
        removeSocket(path);
        log('stopped listening');
        log.close?.();
      })();
      return closing;
    },
  };
}

/** A socket file there: replaced if nobody listens on it; `name_taken` if a node does. */
async function clearStaleSocket(path: string, name: string): Promise<void> {
  const st = lstatOrUndefined(path);
  if (st === undefined) return;
  if (!st.isSocket())
    throw new HotcodeError(
      'control_insecure',
      `start: ${path} is there and is not a socket (${st.isSymbolicLink() ? 'a symbolic link' : 'a file'}); hotcode leaves it alone: remove it yourself`,
    );
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (e: NodeJS.ErrnoException) =>
      resolve(e.code !== 'ECONNREFUSED' && e.code !== 'ENOENT'),
    );
  });
  if (live)
    throw new HotcodeError(
      'name_taken',
      `start: a node named ${name} is running already (it listens on ${path}); stop it (hotcode stop ${name}) or choose another name`,
    );
  removeSocket(path);
}

function removeSocket(path: string): void {
  const st = lstatOrUndefined(path);
  if (st?.isSocket()) {
    try {
      unlinkSync(path);
    } catch {}
  }
}

function listenUnix(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // The socket file is made 0600 from the start (bind happens within listen()); in a
    // worker, where the umask cannot be set, the private directory covers the moment
    // until the chmod.
    let umask: number | undefined;
    try {
      umask = process.umask(0o177);
    } catch {}
    try {
      server.listen(path, () => {
        server.off('error', reject);
        try {
          chmodSync(path, 0o600);
        } catch {}
        resolve();
      });
    } finally {
      if (umask !== undefined) process.umask(umask);
    }
  });
}

function listenTcp(
  control: ControlOptions,
  secret: Buffer,
  onSecure: (socket: tls.TLSSocket) => void,
): Promise<net.Server> {
  const base = {
    minVersion: 'TLSv1.3' as const,
    maxVersion: 'TLSv1.3' as const,
    handshakeTimeout: AUTH_TIMEOUT_MS,
  };
  const pem = (x: string) => (x.includes('-----BEGIN') ? x : readFileSync(x, 'utf8'));
  const psk = tlsPsk(secret);
  const server = control.tls
    ? tls.createServer({
        ...base,
        key: pem(control.tls.key),
        cert: pem(control.tls.cert),
        ca: pem(control.tls.ca),
        requestCert: true,
        rejectUnauthorized: true,
      })
    : tls.createServer({
        ...base,
        ciphers: TLS_CIPHERS,
        pskCallback: (_socket, identity) => (identity === PSK_IDENTITY ? psk : null),
      });
  server.maxConnections = MAX_CONNECTIONS;
  server.on('secureConnection', onSecure);
  // A client that fails the TLS handshake (wrong key, plain TCP, random bytes) is dropped by tls.
  server.on('tlsClientError', () => {});
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(control.port, control.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

type Log = ((line: string) => void) & { close?(): void };

/** The control log's default size limit (ControlOptions.logMaxBytes). */
const LOG_MAX_BYTES = 10 * 1024 * 1024;

/**
 * Appends lines to a file of mode 0600 (never through a symbolic link). Each
 * line is written at once (a few µs), so the log is complete and in order
 * even if the process dies right after. Past `maxBytes` the file is renamed
 * `<file>.1` (one generation kept) and a new one is started.
 */
function fileLog(file: string, maxBytes: number): Log {
  let fd: number | undefined;
  let size = 0;
  const open = () => {
    try {
      fd = openSync(
        file,
        constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
        0o600,
      );
      size = fstatSync(fd).size;
    } catch {
      fd = undefined; // no log rather than no node
    }
  };
  const close = () => {
    if (fd === undefined) return;
    try {
      closeSync(fd);
    } catch {}
    fd = undefined;
  };
  open();
  const log: Log = (line) => {
    if (fd === undefined) return;
    const text = `${new Date().toISOString()} ${line}\n`;
    try {
      if (size > 0 && size + Buffer.byteLength(text) > maxBytes) {
        close();
        renameSync(file, `${file}.1`);
        open();
        if (fd === undefined) return;
      }
      size += writeSync(fd, text);
    } catch {}
  };
  log.close = close;
  return log;
}

/** For a log given as a function: its lines get the time too. */
export function timestamped(fn: (line: string) => void): (line: string) => void {
  return (line) => {
    try {
      fn(`${new Date().toISOString()} ${line}`);
    } catch (e) {
      process.stderr.write(`hotcode: the control log failed: ${describe(e)}\n`);
    }
  };
}
