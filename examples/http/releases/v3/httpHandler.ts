// The request handler, version 3 — a broken release: its codeChange throws,
// so the upgrade to it is rolled back and the service keeps answering on v2.
// (Otherwise as version 2.)
import type { CallResult, CastResult, From, GenServerModule } from 'hotcode';
import * as self from './httpHandler';

export const vsn = 'v3';

export interface Request {
  method: string;
  url: string;
  conn: number;
}
export interface Response {
  status: number;
  body: string;
}
interface Connection {
  requests: number;
  firstSeen: number;
}
/** v2 state. */
export interface State {
  total: number;
  connections: Map<number, Connection>;
}
/** v1's state, as codeChange receives it. */
interface StateV1 {
  requests: number;
  perConnection: Record<number, number>;
}
export type Cast = { closed: number };

export function init(): State {
  return { total: 0, connections: new Map() };
}

export function handleCall(req: Request, _from: From, s: State): CallResult<Response, State> {
  let c = s.connections.get(req.conn);
  if (c === undefined) {
    c = { requests: 0, firstSeen: Date.now() };
    s.connections.set(req.conn, c);
  }
  c.requests++;
  s.total++;
  return {
    reply: {
      status: 200,
      body: `v3 ${req.method} ${req.url}: request ${c.requests} on connection ${req.conn} (${s.total} served)\n`,
    },
    state: s,
  };
}

export function handleCast(msg: Cast, s: State): CastResult<State> {
  s.connections.delete(msg.closed);
  return { state: s };
}

/** Broken on purpose: refuses v2's state. */
export function codeChange(
  oldVsn: string | undefined,
  old: StateV1 | State,
  _extra: unknown,
): State {
  if (oldVsn === 'v2')
    throw new Error(`v3 cannot migrate a v2 state (${(old as State).total} requests served)`);
  if (oldVsn !== 'v1') return old as State;
  const v1 = old as StateV1;
  const now = Date.now();
  const connections = new Map<number, Connection>();
  for (const [conn, requests] of Object.entries(v1.perConnection))
    connections.set(Number(conn), { requests, firstSeen: now });
  return { total: v1.requests, connections };
}

self satisfies GenServerModule<State, Request, Cast, Response, undefined>;
