/**
 * Frames of the control protocol (S9.3): a 4-byte big-endian length, then
 * that many bytes of UTF-8 JSON whose value is an object. At most 4 KiB
 * before authentication, 64 MiB after. A frame of length 0, longer than the
 * limit, that is not JSON or not an object is a {@link FrameError}: the
 * connection that sent it is closed, nothing else is affected.
 */

/** The largest frame before authentication. */
export const MAX_FRAME_BEFORE_AUTH = 4 * 1024;
/** The largest frame after authentication. */
export const MAX_FRAME = 64 * 1024 * 1024;

export class FrameError extends Error {
  readonly code: 'oversized' | 'malformed';
  constructor(code: 'oversized' | 'malformed', message: string) {
    super(message);
    this.code = code;
  }
  override get name(): string {
    return 'FrameError';
  }
}

/** One frame's bytes for `value` (an object). */
export function encodeFrame(value: object): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  if (body.length > MAX_FRAME)
    throw new FrameError(
      'oversized',
      `a frame of ${body.length} bytes is over the limit of ${MAX_FRAME}`,
    );
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/**
 * Cuts a byte stream into frames. `push(chunk)` returns the frames completed
 * by the chunk, or throws a {@link FrameError}; after an error the decoder
 * takes nothing more.
 */
export class FrameDecoder {
  /** The largest frame accepted now (raised after authentication). */
  limit: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** The length of the frame being read, once its prefix is in. */
  #need: number | undefined;
  #failed = false;

  constructor(limit = MAX_FRAME_BEFORE_AUTH) {
    this.limit = limit;
  }

  /** Bytes received and not yet part of a whole frame. */
  get buffered(): number {
    return this.#buffered;
  }

  push(chunk: Uint8Array): Record<string, unknown>[] {
    if (this.#failed) throw new FrameError('malformed', 'the connection has failed already');
    if (chunk.length > 0) {
      this.#chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.#buffered += chunk.length;
    }
    const out: Record<string, unknown>[] = [];
    try {
      for (;;) {
        if (this.#need === undefined) {
          if (this.#buffered < 4) break;
          const n = this.#take(4).readUInt32BE(0);
          if (n === 0) throw new FrameError('malformed', 'a frame of length 0');
          if (n > this.limit)
            throw new FrameError(
              'oversized',
              `a frame of ${n} bytes is over the limit of ${this.limit}`,
            );
          this.#need = n;
        }
        if (this.#buffered < this.#need) break;
        const body = this.#take(this.#need);
        this.#need = undefined;
        out.push(parse(body));
      }
    } catch (e) {
      this.#failed = true;
      this.#chunks = [];
      this.#buffered = 0;
      throw e;
    }
    return out;
  }

  /** Takes `n` bytes (n ≤ buffered) off the front. */
  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.#chunks[0]!;
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(k);
      }
    }
    this.#buffered -= n;
    return out;
  }
}

function parse(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new FrameError('malformed', 'a frame that is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new FrameError('malformed', 'a frame that is not a JSON object');
  return value as Record<string, unknown>;
}
