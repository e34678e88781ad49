// The listener of the HTTP demo: a process that owns the http.Server. Request
// callbacks run as this process (S0.2) and hand each request to the handler
// server with genServer.call. When the process exits — shut down by its
// supervisor, or killed by a purge — its signal() aborts and the server is
// closed, so a restarted listener can listen on the same port again.
import http from 'node:http';
import type { Socket } from 'node:net';
import { genServer, type Pid, receive, self, send, signal, spawnLink } from 'hotcode';
import type * as handler from './httpHandler';

export const vsn = 'l1';

type Ready = { listening: number; pid: Pid } | { type: 'EXIT'; from: Pid; reason: unknown };

/** Child start function: resolves with the pid once the server listens (on 127.0.0.1 only). */
export async function startLink(port: number): Promise<Pid> {
  const pid = spawnLink(listen, port, self());
  const m = (await receive(
    (m) =>
      (m as { pid?: Pid }).pid === pid ||
      ((m as { type?: string }).type === 'EXIT' && (m as { from?: Pid }).from === pid),
    5000,
  )) as Ready | undefined;
  if (m === undefined) throw new Error(`httpListener: no answer from the listener on port ${port}`);
  if ('reason' in m) throw m.reason;
  return pid;
}

const ids = new WeakMap<Socket, number>();
let nextConn = 1;

async function listen(port: number, parent: Pid): Promise<void> {
  const server = http.createServer({ keepAlive: true }, (req, res) => {
    const conn = ids.get(req.socket) ?? 0;
    genServer
      .call<typeof handler>('httpHandler', {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        conn,
      })
      .then(
        (r) => {
          res.writeHead(r.status, { 'content-type': 'text/plain' });
          res.end(r.body);
        },
        (e: { code?: string }) => {
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end(`unavailable: ${e.code ?? e}\n`);
        },
      );
  });
  server.on('connection', (socket: Socket) => {
    const id = nextConn++;
    ids.set(socket, id);
    socket.on('close', () => genServer.cast<typeof handler>('httpHandler', { closed: id }));
  });
  // The owner closes what it owns when it exits, for any reason (S4.4).
  signal().addEventListener('abort', () => {
    server.close();
    server.closeAllConnections();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  send(parent, {
    listening: typeof address === 'object' && address ? address.port : port,
    pid: self(),
  });
  for (;;) {
    const m = (await receive()) as { port?: Pid };
    if (m.port) send(m.port, { port: (server.address() as { port: number }).port });
  }
}
