import { encodeBatch } from '../frame.js';

/** When the queued frames go out: at the end of the turn (Node), or after this task (browsers). */
const later: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => void setImmediate(fn) : queueMicrotask;

export interface FrameBatcherOptions {
  /**
   * Writes one message of the connection: a bare envelope, or a batch of several.
   * `frameBytes` is the size of the envelopes in it (for buffer accounting).
   */
  readonly write: (message: Uint8Array, frameBytes: number) => void;
  /**
   * A batch is sent as soon as it reaches this size, and a frame this big goes alone
   * (default 64 KiB): small frames are worth packing, big ones are not worth copying.
   */
  readonly maxBatchBytes?: number;
}

/**
 * Frames written to one connection during one event-loop turn leave together, as one
 * message, at the end of the turn (setImmediate: after the I/O callbacks of this loop
 * iteration, which is where the requests of many clients and the answers of many handlers
 * are produced). Each message costs the stack below (gRPC/HTTP2 framing, a WebSocket frame,
 * stream bookkeeping, a socket write) far more than the bytes in it; a follower that answers
 * a hundred AppendEntries at once now sends one message, not a hundred. Order is kept: frames
 * leave in the order pushed.
 */
export class FrameBatcher {
  private queue: Uint8Array[] = [];
  private bytes = 0;
  private scheduled = false;
  private readonly maxBatchBytes: number;

  constructor(private readonly options: FrameBatcherOptions) {
    this.maxBatchBytes = options.maxBatchBytes ?? 64 * 1024;
  }

  /** Bytes of the frames waiting for the end of the turn. */
  get queuedBytes(): number {
    return this.bytes;
  }

  push(frame: Uint8Array): void {
    if (frame.byteLength >= this.maxBatchBytes) {
      // Big: sent now, alone, after whatever was queued before it.
      this.flush();
      this.options.write(frame, frame.byteLength);
      return;
    }
    if (this.bytes + frame.byteLength > this.maxBatchBytes) this.flush();
    this.queue.push(frame);
    this.bytes += frame.byteLength;
    if (!this.scheduled) {
      this.scheduled = true;
      later(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /** Sends what is queued now. */
  flush(): void {
    const queue = this.queue;
    if (queue.length === 0) return;
    const bytes = this.bytes;
    this.queue = [];
    this.bytes = 0;
    this.options.write(queue.length === 1 ? (queue[0] as Uint8Array) : encodeBatch(queue), bytes);
  }

  /** Drops what is queued (its connection is gone). */
  discard(): void {
    this.queue = [];
    this.bytes = 0;
  }
}
