// A greeter server (genServer): live-edit it while it keeps its state.
//
//   hotcode> greeter.start()
//   hotcode> greeter.greet('Ada')        // 'Hello, Ada! (greeting #1)'
//
// Now change `greeting` below and save (with `npm start -- --watch`, or run
// c(greeter)). The server is not restarted: genServer calls its callbacks
// through the module, so the next call runs the new code — and the count,
// the server's state, carries on: 'Howdy, Ada! (greeting #2)'.
import { genServer, type Pid } from 'hotcode';

export interface State {
  count: number;
}

export type Request = { greet: string } | 'count';

/** The word the server greets with. Change it and save. */
export function greeting(): string {
  return 'Hello';
}

/** Starts the server, registered as 'greeter'. */
export function start(): Promise<Pid> {
  return genServer.start('greeter', undefined, { name: 'greeter' });
}

export function greet(name: string): Promise<string> {
  return genServer.call<string>('greeter', { greet: name });
}

export function stop(): Promise<void> {
  return genServer.stop('greeter');
}

// ---- genServer callbacks (S8.1) ----------------------------------------------------------

export function init(): State {
  return { count: 0 };
}

export function handleCall(request: Request, _from: unknown, state: State) {
  if (request === 'count') return { reply: state.count, state };
  const count = state.count + 1;
  return { reply: `${greeting()}, ${request.greet}! (greeting #${count})`, state: { count } };
}
