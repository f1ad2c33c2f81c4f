import {
  BadRequestError,
  BusyError,
  type CallOptions,
  type PeerId,
  type RaftError,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
  toRaftError,
  UnauthenticatedError,
  UnreachableError,
} from '@kontiki/core';
import {
  CONNECTION_CALL_ID,
  decodeFrame,
  encodeHello,
  encodeRequestFrame,
  type Frame,
  FrameBatcher,
  PendingCalls,
  PROTOCOL_VERSION,
  splitBatch,
} from '@kontiki/protocol';
import { Backoff } from './backoff.js';
import type { ResolvedClientOptions } from './client-options.js';
import { CloseCode, canPing, OPEN, type WebSocketLike } from './web-socket.js';

/** A received message as bytes; undefined for a text frame (not part of the protocol). */
export function bytesOf(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

/**
 * The caller's side of one peer: one WebSocket, opened on first use and again (after a
 * back-off when attempts fail) after it drops. Requests are sent in the order of `call`
 * (the calls of one turn as one frame: FrameBatcher; frames on one socket keep their order),
 * so the peer dispatches them in that order. Free of Node APIs: it runs in browsers.
 */
export class PeerConnection {
  private readonly calls: PendingCalls;
  private readonly backoff: Backoff;
  private socket: WebSocketLike | undefined;
  private opened = false;
  /** Frames written before the socket opened, sent right after the hello. */
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  /** An error the server announced (call id 0) before closing: the reason for the close. */
  private connectionError: RaftError | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  /** Requests of this turn, once the socket is open. */
  private readonly batcher: FrameBatcher;

  constructor(
    private readonly peerId: PeerId,
    private readonly url: string,
    private readonly options: ResolvedClientOptions,
  ) {
    this.calls = new PendingCalls({
      maxPendingCalls: options.maxPendingCalls,
      defaultTimeoutMs: options.defaultTimeoutMs,
    });
    this.backoff = new Backoff(options.backoffInitialMs, options.backoffMaxMs);
    this.batcher = new FrameBatcher({
      write: (message) => {
        const socket = this.socket;
        // Gone meanwhile: its calls have failed already.
        if (socket !== undefined && this.opened) socket.send(message);
      },
      maxBatchBytes: Math.min(64 * 1024, options.maxPayloadBytes),
    });
  }

  call<M extends RpcMethod>(
    method: M,
    request: RpcRequest<M>,
    options: CallOptions,
  ): Promise<RpcResponse<M>> {
    const wait = this.socket === undefined ? this.backoff.waitMs() : 0;
    if (wait > 0) {
      return Promise.reject(
        new UnreachableError(
          this.peerId,
          `peer ${this.peerId} is unreachable; next attempt in ${wait} ms`,
        ),
      );
    }
    return this.calls.start(method, request.to, options, (callId, timeoutMs) => {
      const bytes = encodeRequestFrame(callId, method, request, timeoutMs);
      if (bytes.byteLength > this.options.maxPayloadBytes) {
        throw new BadRequestError(
          `a ${method} of ${bytes.byteLength} bytes exceeds maxPayloadBytes (${this.options.maxPayloadBytes})`,
        );
      }
      this.send(bytes);
    });
  }

  /** Calls waiting for an answer. */
  get pendingCalls(): number {
    return this.calls.size;
  }

  close(error: RaftError): void {
    if (this.closed) return;
    this.closed = true;
    this.calls.failAll(error);
    this.dropQueue();
    this.dropBatch();
    const socket = this.socket;
    this.socket = undefined;
    this.stopPing();
    socket?.close(CloseCode.NORMAL, 'endpoint closed');
  }

  private send(bytes: Uint8Array): void {
    const socket = this.connect();
    if (!this.opened) {
      if (this.queuedBytes + bytes.byteLength > this.options.maxBufferedBytes) throw this.busy();
      this.queue.push(bytes);
      this.queuedBytes += bytes.byteLength;
      return;
    }
    if (
      socket.bufferedAmount + this.batcher.queuedBytes + bytes.byteLength >
      this.options.maxBufferedBytes
    ) {
      throw this.busy();
    }
    this.batcher.push(bytes);
  }

  private busy(): BusyError {
    return new BusyError(`too many bytes are waiting to be sent to ${this.peerId}; retry later`);
  }

  private connect(): WebSocketLike {
    if (this.socket !== undefined) return this.socket;
    const socket = new this.options.WebSocket(this.url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    this.opened = false;
    this.connectionError = undefined;
    socket.addEventListener('open', () => {
      if (this.socket !== socket) return;
      this.opened = true;
      // The hello goes bare: a server of another version can still read it and say so.
      socket.send(encodeHello(PROTOCOL_VERSION, this.options.token));
      for (const bytes of this.queue) this.batcher.push(bytes);
      this.dropQueue();
      this.startPing(socket);
    });
    socket.addEventListener('message', (event) => {
      if (this.socket !== socket) return;
      this.receive(socket, event.data);
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.dropped(event.code, event.reason);
    });
    // An 'error' is always followed by a 'close', which does the work.
    socket.addEventListener('error', () => {});
    return socket;
  }

  private receive(socket: WebSocketLike, data: unknown): void {
    const bytes = bytesOf(data);
    let frames: Frame[];
    try {
      if (bytes === undefined) throw new BadRequestError('the peer sent a text frame');
      frames = splitBatch(bytes).map(decodeFrame);
    } catch (error) {
      // Not the protocol: the peer cannot be trusted with this connection any more.
      this.connectionError = toRaftError(error, 'BAD_REQUEST');
      socket.close(CloseCode.UNSUPPORTED_DATA, 'malformed frame');
      this.dropped(CloseCode.UNSUPPORTED_DATA, 'malformed frame');
      return;
    }
    for (const frame of frames) {
      if (frame.kind === 'error' && frame.callId === CONNECTION_CALL_ID) {
        this.connectionError = frame.error;
      }
      this.calls.settle(frame);
    }
  }

  /** The socket is gone: fail what was on it, and decide when the next attempt may be. */
  private dropped(code: number, reason: string): void {
    const wasOpen = this.opened;
    this.socket = undefined;
    this.opened = false;
    this.stopPing();
    const error = this.connectionError ?? this.errorOfClose(code, reason, wasOpen);
    if (!wasOpen || code === CloseCode.POLICY_VIOLATION) this.backoff.failed();
    else this.backoff.succeeded();
    this.dropQueue();
    this.dropBatch();
    this.calls.failAll(error);
  }

  private errorOfClose(code: number, reason: string, wasOpen: boolean): RaftError {
    const why = `${reason || 'no reason given'} (close code ${code})`;
    switch (code) {
      case CloseCode.POLICY_VIOLATION:
        return new UnauthenticatedError(`${this.peerId} refused the connection: ${why}`);
      case CloseCode.TOO_BIG:
      case CloseCode.UNSUPPORTED_DATA:
        return new BadRequestError(`${this.peerId} closed the connection: ${why}`);
      default:
        return new UnreachableError(
          this.peerId,
          wasOpen
            ? `the connection to ${this.peerId} closed: ${why}`
            : `cannot connect to ${this.peerId} at ${this.url}: ${why}`,
        );
    }
  }

  private dropQueue(): void {
    this.queue = [];
    this.queuedBytes = 0;
  }

  /** The socket is gone or going: nothing queued for it may reach the next one. */
  private dropBatch(): void {
    this.batcher.discard();
  }

  /** Where the WebSocket can ping (Node's `ws`), a server that stops answering is dropped. */
  private startPing(socket: WebSocketLike): void {
    if (!canPing(socket)) return;
    let awaitingPong = false;
    socket.on('pong', () => {
      awaitingPong = false;
    });
    this.pingTimer = setInterval(() => {
      if (socket.readyState !== OPEN) return;
      if (awaitingPong) {
        socket.terminate();
        return;
      }
      awaitingPong = true;
      socket.ping();
    }, this.options.pingIntervalMs);
  }

  private stopPing(): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }
}
