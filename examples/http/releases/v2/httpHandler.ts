// The request handler, version 2: another response, and another shape of the
// state — per connection an object { requests, firstSeen } — migrated from
// v1's state by codeChange during the release upgrade.
import type { CallResult, CastResult, From, GenServerModule } from 'hotcode';
import * as self from './httpHandler';

export const vsn = 'v2';

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
      body: `v2 ${req.method} ${req.url}: request ${c.requests} on connection ${req.conn} (${s.total} served)\n`,
    },
    state: s,
  };
}

export function handleCast(msg: Cast, s: State): CastResult<State> {
  s.connections.delete(msg.closed);
  return { state: s };
}

/** v1 → v2: a new state object (the old one must stay intact for a rollback). */
export function codeChange(
  oldVsn: string | undefined,
  old: StateV1 | State,
  _extra: unknown,
): State {
  if (oldVsn !== 'v1') return old as State;
  const v1 = old as StateV1;
  const now = Date.now();
  const connections = new Map<number, Connection>();
  for (const [conn, requests] of Object.entries(v1.perConnection))
    connections.set(Number(conn), { requests, firstSeen: now });
  return { total: v1.requests, connections };
}

self satisfies GenServerModule<State, Request, Cast, Response, undefined>;
