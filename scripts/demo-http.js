// What the live demos (and the cluster and control tests) share: a free port on 127.0.0.1
// keep-alive agent that never rejects (a failed request is counted, not thrown).
import http from 'node:http';
import net from 'node:net';

/** A TCP port nobody listens on right now, on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** GET http://127.0.0.1:port/path → { status, body } or { error }. */
export function get(agent, port, path) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', (error) => resolve({ error }));
    });
    req.on('error', (error) => resolve({ error }));
  });
}

/** A number argument clamped to [lo, hi], or `d` when it is not a number. */
export const clamp = (x, lo, hi, d) =>
  Number.isFinite(Number(x)) ? Math.min(hi, Math.max(lo, Number(x))) : d;
