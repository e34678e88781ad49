/**
 * Pids and refs: opaque objects (SPEC S0.4), printed the Erlang way, so a
 * registered name (a string) can never be mistaken for one.
 */
import { inspect } from 'node:util';

export class Pid {
  /** @internal */
  constructor(readonly id: number) {}
  toString(): string {
    return `<0.${this.id}.0>`;
  }
  toJSON(): string {
    return this.toString();
  }
  [inspect.custom](): string {
    return this.toString();
  }
}

export class Ref {
  /** @internal */
  constructor(readonly id: number) {}
  toString(): string {
    return `#Ref<0.0.0.${this.id}>`;
  }
  toJSON(): string {
    return this.toString();
  }
  [inspect.custom](): string {
    return this.toString();
  }
}

let nextRef = 1;
export function makeRef(): Ref {
  return new Ref(nextRef++);
}
