/**
 * Thrown errors of hotcode: each has a `name`, a stable `code` and a message
 * that names the call and says what to do. Everyday
 * failures of code loading are values, not exceptions (practice 3); these are
 * for misuse and for calls that cannot proceed.
 */

export type ErrorCode =
  | 'badarg'
  | 'undef'
  | 'not_started'
  | 'already_started'
  | 'noproc'
  | 'no_process'
  | 'killed'
  | 'typegate_crashed'
  | 'tsconfig'
  | (string & {});

export class HotcodeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
  override get name(): string {
    return 'HotcodeError';
  }
}

/**
 * A qualified call to a module with no object file, or to a function the
 * current version does not export (S3.5; Erlang's `undef`).
 */
export class UndefError extends HotcodeError {
  readonly module: string;
  readonly function: string;
  constructor(module: string, fn: string, message: string) {
    super('undef', message);
    this.module = module;
    this.function = fn;
  }
  override get name(): string {
    return 'UndefError';
  }
}

/** A wrong argument: the shape `TypeError` would have, with code `badarg`. */
export class BadArgError extends TypeError {
  readonly code = 'badarg' as const;
  override get name(): string {
    return 'BadArgError';
  }
}

export function badarg(message: string): never {
  throw new BadArgError(message);
}
