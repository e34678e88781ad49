/**
 * The observer's web server (S10): one page, its static files, a stream of
 * snapshots by server-sent events, and one endpoint for actions — with
 * `node:http`, in the observer's process (the node serves no HTTP).
 *
 * Security (S10.3):
 * - It binds 127.0.0.1 unless told `host` with `allowRemote`.
 * - The printed URL carries a one-time token; the page exchanges it for a
 *   session cookie (HttpOnly, SameSite=Strict, named after the port so two
 *   observers on one host do not overwrite each other's) and is redirected
 *   to a URL without it. A used or wrong token gets 403.
 * - Every request's `Host` must name this server (no DNS rebinding) and an
 *   `Origin`, when sent, must be this server's; a fetch that the browser
 *   marks cross-site is refused.
 * - Every state-changing request (POST) needs the session, an `Origin` of
 *   this server, a JSON body, and the session's CSRF token in
 *   `X-CSRF-Token`; else 403 and nothing reaches the node.
 * - Purge, kill, and loading a module whose old version is in use (it
 *   purges, killing those processes) are refused unless `allowDestructive`;
 *   the page does not show them then.
 * - Every response forbids framing and sniffing, caches nothing and sends
 *   no referrer; the page's Content-Security-Policy allows only its own
 *   scripts and styles.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type {
  Action,
  HistoryEntry,
  ModuleRow,
  Sample,
  Snapshot,
  TreeNode,
} from '../observe/types.js';
import { INSPECT_MAX, type Inspection, SAMPLES_KEPT } from '../observe/types.js';
import type { ObserverSource, SourceSubscription } from './source.js';

export interface ObserverOptions {
  /** Where the page is served: 127.0.0.1 unless `allowRemote`. */
  host?: string;
  /** 4848 by default; 0 picks a free port. */
  port?: number;
  /** Serve on an address other than loopback (plain HTTP: use it on a trusted network or a tunnel). */
  allowRemote?: boolean;
  /** Offer purge and kill (S10.3). */
  allowDestructive?: boolean;
  /** How long the node is still watched after the last page closed (default 30 s: a reload reconnects). */
  lingerMs?: number;
}

export interface ObserverServer {
  /** The URL to open, with its one-time token. */
  readonly url: string;
  readonly port: number;
  /** A fresh one-time URL (the first was used, or another browser wants one). */
  newLink(): string;
  close(): Promise<void>;
}

export class ObserverError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ObserverError';
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const MAX_BODY = 16 * 1024;
const LINGER_MS = 30_000;
/** A client whose stream has this much unsent is skipped until it drains (then sent everything). */
const SLOW_CLIENT_BYTES = 8 * 1024 * 1024;

const pageDir = new URL('./page/', import.meta.url);
const require = createRequire(import.meta.url);

interface StaticFile {
  type: string;
  body: Buffer;
}

function loadStatic(): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const read = (path: string | URL) => readFileSync(path);
  files.set('/app.js', {
    type: 'text/javascript; charset=utf-8',
    body: read(new URL('app.js', pageDir)),
  });
  files.set('/style.css', {
    type: 'text/css; charset=utf-8',
    body: read(new URL('style.css', pageDir)),
  });
  files.set('/uplot.js', {
    type: 'text/javascript; charset=utf-8',
    body: read(require.resolve('uplot/dist/uPlot.iife.min.js')),
  });
  files.set('/uplot.css', {
    type: 'text/css; charset=utf-8',
    body: read(require.resolve('uplot/dist/uPlot.min.css')),
  });
  return files;
}

function token(): string {
  return randomBytes(24).toString('base64url');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

const SECURITY_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

interface Session {
  csrf: string;
}

interface Client {
  res: ServerResponse;
  /** It missed updates (it was slow): send it everything next. */
  stale: boolean;
}

/** The node as the pages see it: the last snapshot, with ten minutes of samples. */
interface State {
  node: Snapshot['node'];
  samples: Sample[];
  modules: ModuleRow[];
  processes: Snapshot['processes'];
  trees: TreeNode[];
  history: HistoryEntry[];
}

/**
 * Serves the observer's page for `source` (S10.1). Resolves once listening;
 * rejects with code `observer_insecure` for a remote host without
 * `allowRemote`, `observer_port` when the port is taken.
 */
export async function serveObserver(
  source: ObserverSource,
  options: ObserverOptions = {},
): Promise<ObserverServer> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host) && !options.allowRemote)
    throw new ObserverError(
      'observer_insecure',
      `the observer serves only 127.0.0.1 unless told --allow-remote (asked for ${host}); its page controls the node`,
    );
  if (host === '0.0.0.0' || host === '::')
    throw new ObserverError(
      'observer_insecure',
      `give the address the browser will use (--host ${host} would accept any Host header)`,
    );
  const allowDestructive = options.allowDestructive === true;
  const files = loadStatic();
  const template = readFileSync(new URL('index.html', pageDir), 'utf8');
  const tokens = new Set<string>();
  const sessions = new Map<string, Session>();
  const clients = new Set<Client>();
  let state: State | undefined;
  let subscription: SourceSubscription | undefined;
  /** The rows open on each page (by the page's view id), whose details the node sends. */
  const views = new Map<string, Inspection[]>();
  let linger: NodeJS.Timeout | undefined;
  let nodeError: string | undefined;
  let port = options.port ?? 4848;
  let cookieName = '';
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();

  function setPort(p: number): void {
    port = p;
    cookieName = `hotcode_observer_${p}`;
    const names =
      host === '127.0.0.1' || host === 'localhost' ? ['127.0.0.1', 'localhost'] : [host];
    if (host === '::1') names.push('localhost');
    allowedHosts = new Set(names.map((h) => hostPort(h, p)));
    allowedOrigins = new Set([...allowedHosts].map((h) => `http://${h}`));
  }

  // ---- the node's snapshots, to every page ------------------------------------------------

  /** Takes in a snapshot; true when the samples began afresh (a new subscription, a restarted node). */
  function merge(s: Snapshot): boolean {
    const samples = state ? state.samples : [];
    const last = samples.at(-1)?.seq ?? 0;
    // A new subscription sends all the node's samples; a restarted node numbers them from 1.
    const restart = s.samples.length > 0 && s.samples[0]!.seq <= last;
    const fresh = restart ? [] : samples;
    for (const x of s.samples) if (x.seq > (fresh.at(-1)?.seq ?? 0)) fresh.push(x);
    if (fresh.length > SAMPLES_KEPT) fresh.splice(0, fresh.length - SAMPLES_KEPT);
    state = {
      node: s.node,
      samples: fresh,
      modules: s.modules,
      processes: s.processes,
      trees: s.trees,
      history: s.history ?? state?.history ?? [],
    };
    return restart;
  }

  function send(c: Client, event: string, data: unknown): void {
    if (c.res.writableLength > SLOW_CLIENT_BYTES) {
      c.stale = true;
      return;
    }
    c.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  function sendFull(c: Client): void {
    if (state === undefined) return;
    c.stale = false;
    send(c, 'snapshot', { full: true, ...state });
  }

  function onSnapshot(s: Snapshot): void {
    nodeError = undefined;
    const restart = merge(s);
    const update = { full: false, ...s, samples: s.samples };
    for (const c of clients) {
      if (restart || (c.stale && c.res.writableLength === 0)) sendFull(c);
      else send(c, 'snapshot', update);
    }
  }

  function onError(e: Error): void {
    nodeError = e.message;
    for (const c of clients) send(c, 'nodedown', { message: e.message });
  }

  /** Every page's open rows, as one list (a pid once; its mailbox if any page asked). */
  function inspections(): Inspection[] {
    const all = new Map<string, Inspection>();
    for (const list of views.values())
      for (const x of list) {
        const had = all.get(x.pid);
        all.set(x.pid, { pid: x.pid, mailbox: had?.mailbox === true || x.mailbox === true });
      }
    return [...all.values()].slice(0, INSPECT_MAX);
  }

  function watchNode(): void {
    clearTimeout(linger);
    linger = undefined;
    if (subscription === undefined) {
      const list = inspections();
      subscription = source.subscribe(onSnapshot, onError, list.length ? { inspect: list } : {});
    }
  }

  function unwatchLater(): void {
    if (clients.size > 0 || subscription === undefined) return;
    clearTimeout(linger);
    linger = setTimeout(() => {
      if (clients.size === 0) {
        subscription?.close();
        subscription = undefined;
      }
    }, options.lingerMs ?? LINGER_MS);
    linger.unref();
  }

  void source.closed.then(() => onError(new Error(`the connection to node ${source.name} ended`)));
  // The node starts sampling itself now, so that the charts have history when a page opens.
  source.snapshot({ since: Number.MAX_SAFE_INTEGER, processLimit: 1 }).catch(() => {});

  // ---- requests ---------------------------------------------------------------------------

  function reply(
    res: ServerResponse,
    status: number,
    body: string | Buffer,
    type = 'text/plain; charset=utf-8',
    extra: Record<string, string> = {},
  ): undefined {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, ...extra });
    res.end(body);
    return undefined;
  }

  function json(res: ServerResponse, status: number, value: unknown): undefined {
    return reply(res, status, JSON.stringify(value), 'application/json; charset=utf-8');
  }

  function refuse(res: ServerResponse, status: number, message: string): undefined {
    return json(res, status, {
      ok: false,
      error: status === 401 ? 'no_session' : 'forbidden',
      message,
    });
  }

  function sessionOf(req: IncomingMessage): Session | undefined {
    const cookies = req.headers.cookie ?? '';
    for (const part of cookies.split(';')) {
      const i = part.indexOf('=');
      if (i < 0 || part.slice(0, i).trim() !== cookieName) continue;
      const s = sessions.get(part.slice(i + 1).trim());
      if (s) return s;
    }
    return undefined;
  }

  /** Host and Origin name this server; a cross-site fetch is refused (S10.3). */
  function wellAddressed(req: IncomingMessage): string | undefined {
    const h = req.headers.host;
    if (h === undefined || !allowedHosts.has(h.toLowerCase()))
      return `the Host header must be ${[...allowedHosts].join(' or ')}`;
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin.toLowerCase()))
      return 'requests from other origins are refused';
    const site = req.headers['sec-fetch-site'];
    const navigate = req.headers['sec-fetch-mode'] === 'navigate' && req.method === 'GET';
    if (site !== undefined && site !== 'same-origin' && site !== 'none' && !navigate)
      return 'cross-site requests are refused';
    return undefined;
  }

  function page(session: Session): string {
    const config = JSON.stringify({ allowDestructive, node: source.name });
    const attr = (x: string) =>
      x.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    return template
      .replaceAll('__CSRF__', attr(session.csrf))
      .replaceAll('__CONFIG__', attr(config))
      .replaceAll('__TITLE__', attr(source.name));
  }

  async function readBody(req: IncomingMessage): Promise<string | undefined> {
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) return undefined;
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  function destructive(a: Action): boolean {
    if (a.type === 'purge' || a.type === 'kill') return true;
    if (a.type === 'load') {
      const m = state?.modules.find((x) => x.module === a.module);
      // Loading purges the old version: it kills its users (unknown module: the node decides).
      return m === undefined || (m.old?.userCount ?? 0) > 0;
    }
    return false;
  }

  function validAction(x: unknown): x is Action {
    if (x === null || typeof x !== 'object') return false;
    const a = x as Record<string, unknown>;
    const str = (k: string) => typeof a[k] === 'string' && (a[k] as string).length <= 200;
    const optInt = (k: string) => a[k] === undefined || Number.isInteger(a[k]);
    switch (a.type) {
      case 'softPurge':
        return str('module');
      case 'purge':
      case 'load':
        return str('module') && optInt('expect');
      case 'kill':
        return str('pid');
      case 'inspect':
        return str('pid') && (a.mailbox === undefined || typeof a.mailbox === 'boolean');
      default:
        return false;
    }
  }

  /**
   * The checks of every POST (S10.3): the session, an Origin (checked by
   * wellAddressed), the session's CSRF token, a JSON body. The parsed body,
   * or undefined when it answered with the refusal.
   */
  async function postBody(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const session = sessionOf(req);
    if (session === undefined) return refuse(res, 403, 'no session: open the observer link again');
    if (req.headers.origin === undefined)
      return refuse(res, 403, 'a state-changing request must say its Origin');
    const csrf = req.headers['x-csrf-token'];
    if (typeof csrf !== 'string' || !sameSecret(csrf, session.csrf))
      return refuse(res, 403, 'missing or wrong CSRF token');
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? ''))
      return refuse(res, 403, 'a request is sent as application/json');
    const body = await readBody(req);
    if (body === undefined) return json(res, 413, { ok: false, error: 'too_large', message: '' });
    try {
      return JSON.parse(body) ?? null;
    } catch {
      return json(res, 400, { ok: false, error: 'badarg', message: 'the body is not JSON' });
    }
  }

  /** A page's open rows: `{ view, inspect: [{ pid, mailbox? }] }`. */
  async function inspectRequest(req: IncomingMessage, res: ServerResponse): Promise<undefined> {
    const x = (await postBody(req, res)) as { view?: unknown; inspect?: unknown } | undefined;
    if (x === undefined) return undefined;
    const list = x?.inspect;
    if (
      typeof x?.view !== 'string' ||
      x.view.length > 64 ||
      !Array.isArray(list) ||
      list.length > INSPECT_MAX ||
      !list.every((i) => typeof i?.pid === 'string' && i.pid.length <= 40)
    )
      return json(res, 400, {
        ok: false,
        error: 'badarg',
        message: 'expected { view, inspect: [{ pid, mailbox? }] }',
      });
    views.set(
      x.view,
      list.map((i) => ({ pid: i.pid as string, mailbox: i.mailbox === true })),
    );
    subscription?.inspect(inspections());
    return json(res, 200, { ok: true });
  }

  async function action(req: IncomingMessage, res: ServerResponse): Promise<undefined> {
    const a = await postBody(req, res);
    if (a === undefined) return undefined;
    if (!validAction(a))
      return json(res, 400, { ok: false, error: 'badarg', message: 'not an action' });
    if (destructive(a) && !allowDestructive)
      return refuse(
        res,
        403,
        'purge and kill need the observer started with --allow-destructive (S10.3)',
      );
    try {
      return json(res, 200, await source.act(a));
    } catch (e) {
      const err = e as { code?: unknown; message?: unknown };
      return json(res, 502, {
        ok: false,
        error: typeof err.code === 'string' ? err.code : 'nodedown',
        message: String(err.message ?? e),
      });
    }
  }

  function events(req: IncomingMessage, res: ServerResponse): undefined {
    if (sessionOf(req) === undefined) return refuse(res, 401, 'no session');
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
    });
    res.write('retry: 2000\n\n');
    const c: Client = { res, stale: false };
    clients.add(c);
    const view = new URL(req.url ?? '/', 'http://observer').searchParams.get('view');
    const beat = setInterval(() => res.write(': beat\n\n'), 15_000);
    res.on('drain', () => {
      if (c.stale) sendFull(c);
    });
    req.on('close', () => {
      clearInterval(beat);
      clients.delete(c);
      if (view !== null && views.delete(view)) subscription?.inspect(inspections());
      unwatchLater();
    });
    sendFull(c);
    if (nodeError !== undefined) send(c, 'nodedown', { message: nodeError });
    watchNode();
    return undefined;
  }

  function handle(req: IncomingMessage, res: ServerResponse): undefined {
    const bad = wellAddressed(req);
    if (bad !== undefined) return refuse(res, 403, bad);
    const url = new URL(req.url ?? '/', 'http://observer');
    if (req.method === 'POST' && url.pathname === '/api/inspect') {
      inspectRequest(req, res).catch((e) =>
        json(res, 500, { ok: false, error: 'internal', message: String(e) }),
      );
      return undefined;
    }
    if (req.method === 'POST' && url.pathname === '/api/action') {
      action(req, res).catch((e) =>
        json(res, 500, { ok: false, error: 'internal', message: String(e) }),
      );
      return undefined;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return refuse(res, 405, 'method not allowed');
    if (url.pathname === '/') {
      const t = url.searchParams.get('token');
      if (t !== null) {
        let found: string | undefined;
        for (const x of tokens) if (sameSecret(x, t)) found = x;
        if (found === undefined)
          return reply(
            res,
            403,
            'This observer link has been used already, or is not this observer’s. Each printed link opens one session: ask the observer for a new one (press Enter in its terminal).\n',
          );
        tokens.delete(found);
        const sid = token();
        sessions.set(sid, { csrf: token() });
        return reply(res, 303, '', 'text/plain; charset=utf-8', {
          Location: '/',
          'Set-Cookie': `${cookieName}=${sid}; HttpOnly; SameSite=Strict; Path=/`,
        });
      }
      const session = sessionOf(req);
      if (session === undefined)
        return reply(
          res,
          401,
          'No session: open the link with the token that the observer printed (press Enter in its terminal for a new one).\n',
        );
      return reply(res, 200, page(session), 'text/html; charset=utf-8');
    }
    if (url.pathname === '/favicon.ico') return reply(res, 204, '');
    if (sessionOf(req) === undefined) return refuse(res, 401, 'no session');
    if (url.pathname === '/events') return events(req, res);
    const f = files.get(url.pathname);
    if (f === undefined) return reply(res, 404, 'not found\n');
    return reply(res, 200, f.body, f.type);
  }

  const server = http.createServer(handle);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      rejectListen(
        e.code === 'EADDRINUSE'
          ? new ObserverError(
              'observer_port',
              `port ${port} on ${host} is taken: give another with --port`,
            )
          : e,
      ),
    );
    server.listen(port, host, () => resolveListen());
  });
  const address = server.address();
  setPort(typeof address === 'object' && address !== null ? address.port : port);

  function newLink(): string {
    const t = token();
    tokens.add(t);
    return `http://${hostPort(host, port)}/?token=${t}`;
  }

  return {
    url: newLink(),
    port,
    newLink,
    async close() {
      clearTimeout(linger);
      subscription?.close();
      subscription = undefined;
      for (const c of clients) c.res.end();
      clients.clear();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    },
  };
}
