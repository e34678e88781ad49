/**
 * One control connection's framing, for either side: frames in (each given
 * to `onFrame`, in order), frames out, and one `onClose` when the
 * connection ends for any reason — the peer closed it, a frame was
 * malformed or oversized, the socket failed, or `close()` was called.
 */
import type { Socket } from 'node:net';
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BEFORE_AUTH } from './frame.js';

export class Channel {
  readonly socket: Socket;
  readonly decoder: FrameDecoder;
  #onFrame: (frame: Record<string, unknown>) => void = () => {};
  #onClose: ((why: string) => void)[] = [];
  #closed = false;
  /** Why the connection ended (set once). */
  closedBecause: string | undefined;

  constructor(socket: Socket, limit = MAX_FRAME_BEFORE_AUTH) {
    this.socket = socket;
    this.decoder = new FrameDecoder(limit);
    socket.on('data', (chunk: Buffer) => {
      if (this.#closed) return;
      let frames: Record<string, unknown>[];
      try {
        frames = this.decoder.push(chunk);
      } catch (e) {
        this.close(e instanceof FrameError ? `${e.code} frame: ${e.message}` : String(e), true);
        return;
      }
      for (const f of frames) {
        if (this.#closed) return;
        this.#onFrame(f);
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) => this.close(e.code ?? e.message, true));
    socket.on('end', () => this.close('the peer closed the connection'));
    socket.on('close', () => this.close('the connection closed'));
  }

  get closed(): boolean {
    return this.#closed;
  }

  onFrame(fn: (frame: Record<string, unknown>) => void): void {
    this.#onFrame = fn;
  }

  onClose(fn: (why: string) => void): void {
    if (this.#closed) fn(this.closedBecause ?? 'closed');
    else this.#onClose.push(fn);
  }

  /** Sends one frame; false if the connection is closed (or the value cannot be sent). */
  send(value: object): boolean {
    if (this.#closed) return false;
    let frame: Buffer;
    try {
      frame = encodeFrame(value);
    } catch {
      return false;
    }
    this.socket.write(frame);
    return true;
  }

  /**
   * Ends the connection: what was sent is flushed first, unless `destroy`
   * (a misbehaving peer gets nothing more).
   */
  close(why = 'closed', destroy = false): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closedBecause = why;
    if (destroy) this.socket.destroy();
    else {
      this.socket.end();
      // A peer that never reads must not keep the socket open.
      setTimeout(() => this.socket.destroy(), 2000).unref();
    }
    for (const fn of this.#onClose.splice(0)) fn(why);
  }
}
