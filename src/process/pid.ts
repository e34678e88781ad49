/**
 * Pids and refs: opaque objects (SPEC S0.4), printed the Erlang way, so a
 * registered name (a string) can never be mistaken for one.
 */
import { inspect } from 'node:util';

export class Pid {
  /** The live process record; cleared when it exits (so a kept pid keeps nothing alive). */
  #proc: object | undefined = undefined;
  /** @internal */
  constructor(readonly id: number) {}
  /** @internal The process table's direct way from a pid to its record (no map lookup on send). */
  static bind(pid: Pid, proc: object | undefined): void {
    pid.#proc = proc;
  }
  /** @internal */
  static procOf(pid: Pid): object | undefined {
    return #proc in pid ? pid.#proc : undefined;
  }
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
