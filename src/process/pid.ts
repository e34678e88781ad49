/**
 * Pids and refs: opaque objects (S0.4), printed the Erlang way, so a
 * registered name (a string) can never be mistaken for one.
 */
import { inspect } from 'node:util';

/**
 * The process table's direct way from a pid to its live record (no map
 * lookup on send). Set by the static block below; not part of the class's
 * surface, so only `process/` can bind a pid.
 */
let bind: (pid: Pid, proc: object | undefined) => void;
let recordOf: (pid: Pid) => object | undefined;

export class Pid {
  /** The live process record; cleared when it exits (so a kept pid keeps nothing alive). */
  #proc: object | undefined = undefined;
  /** @internal Pids are made by the process table. */
  constructor(readonly id: number) {}
  static {
    bind = (pid, proc) => {
      pid.#proc = proc;
    };
    recordOf = (pid) => (#proc in pid ? pid.#proc : undefined);
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

/** Binds a pid to its process record (or unbinds it at exit). For the process table only. */
export function bindPid(pid: Pid, proc: object | undefined): void {
  bind(pid, proc);
}

/** The live record a pid is bound to (undefined for a dead or foreign pid). For the process table only. */
export function recordOfPid(pid: Pid): object | undefined {
  return recordOf(pid);
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
