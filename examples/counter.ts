// A counter process: the hotcode "hello world" of a live upgrade.
//
// `loop` calls itself through the module (self.loop), as Erlang's
// ?MODULE:loop(State): every upgrade takes effect at the next message, and the
// count — the process's state — survives it. Edit `step` below, run
// c('counter') in the shell, and send another { op: 'inc' }.
import { type Pid, receive, send, spawn } from 'hotcode';
import * as self from './counter';

export const vsn = 1;

export type Msg = { op: 'inc' } | { op: 'get'; from: Pid } | { op: 'stop' };

/** How much one `inc` adds. Change it and reload. */
export function step(): number {
  return 1;
}

export function start(initial = 0): Pid {
  return spawn(self.loop, initial);
}

export async function loop(count: number): Promise<number> {
  const msg = await receive<Msg>();
  switch (msg.op) {
    case 'inc':
      return self.loop(count + step());
    case 'get':
      send(msg.from, { count, vsn });
      return self.loop(count);
    case 'stop':
      return count;
  }
}
