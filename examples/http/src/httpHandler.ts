// The request handler of the HTTP demo, version 1: a genServer that answers
// every request and keeps per-connection state. The listener hands it each
// request with genServer.call; a release upgrade replaces it under load.
import type { CallResult, CastResult, From, GenServerModule } from 'hotcode';
import * as self from './httpHandler';

export const vsn = 'v1';

export interface Request {
  method: string;
  url: string;
  /** The connection (keep-alive socket) the request came on. */
  conn: number;
}
export interface Response {
  status: number;
  body: string;
}
/** v1 state: a total and a request count per open connection. */
export interface State {
  requests: number;
  perConnection: Record<number, number>;
}
export type Cast = { closed: number };

export function init(): State {
  return { requests: 0, perConnection: {} };
}

export function handleCall(req: Request, _from: From, s: State): CallResult<Response, State> {
  const n = (s.perConnection[req.conn] ?? 0) + 1;
  s.perConnection[req.conn] = n;
  s.requests++;
  return {
    reply: {
      status: 200,
      body: `v1 ${req.method} ${req.url}: request ${n} on connection ${req.conn}\n`,
    },
    state: s,
  };
}

export function handleCast(msg: Cast, s: State): CastResult<State> {
  delete s.perConnection[msg.closed];
  return { state: s };
}

// The whole module checked against the behaviour by the type gate.
self satisfies GenServerModule<State, Request, Cast, Response, undefined>;
