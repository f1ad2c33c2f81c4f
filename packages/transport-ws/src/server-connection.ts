import {
  BadRequestError,
  BusyError,
  type RaftError,
  type RequestContext,
  toRaftError,
  UnauthenticatedError,
} from '@kontiki/core';
import {
  CONNECTION_CALL_ID,
  decodeFrame,
  encodeErrorFrame,
  type Frame,
  FrameBatcher,
  type GroupRouter,
  PROTOCOL_VERSION,
  splitBatch,
} from '@kontiki/protocol';
import { sameSecret } from '@kontiki/protocol/auth';
import type { RawData, WebSocket } from 'ws';
import { CloseCode } from './web-socket.js';

export interface ServerConnectionOptions {
  /** The shared secret a client's hello must carry; '' accepts any client. */
  readonly token: string;
  /** A client that sends no hello within this time is closed. */
  readonly helloTimeoutMs: number;
  /** Requests of one connection being handled at once; more are answered BUSY. */
  readonly maxPendingCalls: number;
  /** Answers the client has not read yet; beyond, it is too slow and is closed. */
  readonly maxBufferedBytes: number;
}

/**
 * One client connected to the server. The first frame must be a hello with the protocol
 * version and, when the server has one, the token; until then nothing is dispatched.
 * A bad hello, a text frame or bytes that are not an envelope close this connection only,
 * after an error frame (call id 0) that says why. A bad request gets a BAD_REQUEST answer.
 * When the connection came with a verified client certificate (`identities`), every
 * request's `from` must be one of its names, else the connection is closed UNAUTHENTICATED.
 */
export class ServerConnection {
  private ready = false;
  private closed = false;
  private inFlight = 0;
  private readonly helloTimer: ReturnType<typeof setTimeout>;
  /** Set on each pong; the server's ping sweep drops a connection that did not answer. */
  alive = true;
  /** Answers of one turn leave as one frame. */
  private readonly batcher: FrameBatcher;

  constructor(
    readonly socket: WebSocket,
    private readonly router: GroupRouter,
    private readonly options: ServerConnectionOptions,
    onClose: () => void,
    /** The peer ids the client's certificate may speak for; undefined: not checked. */
    private readonly identities?: ReadonlySet<string>,
  ) {
    this.helloTimer = setTimeout(
      () =>
        this.reject(
          new UnauthenticatedError('no hello received in time'),
          CloseCode.POLICY_VIOLATION,
        ),
      options.helloTimeoutMs,
    );
    this.batcher = new FrameBatcher({
      write: (message) => {
        if (!this.closed) this.socket.send(message);
      },
    });
    socket.on('message', (data: RawData, isBinary: boolean) => this.receive(data, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    // ws reports protocol errors (e.g. a frame above maxPayload) here, then closes.
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      clearTimeout(this.helloTimer);
      onClose();
    });
  }

  /** Ends the connection, telling the client why first. */
  reject(error: RaftError, code: number): void {
    if (this.closed) return;
    // What was queued goes first, then the reason for closing.
    this.batcher.flush();
    this.closed = true;
    clearTimeout(this.helloTimer);
    this.socket.send(encodeErrorFrame(CONNECTION_CALL_ID, error));
    this.socket.close(code, error.message.slice(0, 120));
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary || !Buffer.isBuffer(data)) {
      this.reject(
        new BadRequestError('text frames are not part of the protocol'),
        CloseCode.UNSUPPORTED_DATA,
      );
      return;
    }
    let envelopes: Uint8Array[];
    try {
      envelopes = splitBatch(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } catch (error) {
      this.reject(toRaftError(error, 'BAD_REQUEST'), CloseCode.UNSUPPORTED_DATA);
      return;
    }
    for (const envelope of envelopes) {
      // A bad envelope closes the connection: what followed it is not read.
      if (this.closed) return;
      this.receiveOne(envelope);
    }
  }

  private receiveOne(bytes: Uint8Array): void {
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      this.reject(toRaftError(error, 'BAD_REQUEST'), CloseCode.UNSUPPORTED_DATA);
      return;
    }
    if (!this.ready) {
      this.hello(frame);
      return;
    }
    switch (frame.kind) {
      case 'request':
        if (this.identities !== undefined && !this.identities.has(frame.request.from)) {
          this.reject(
            new UnauthenticatedError(
              `the client certificate names ${[...this.identities].join(', ')}, not ${frame.request.from}`,
            ),
            CloseCode.POLICY_VIOLATION,
          );
          return;
        }
        this.dispatch(frame);
        return;
      case 'invalid':
        this.batcher.push(encodeErrorFrame(frame.callId, frame.error));
        return;
      default:
        this.reject(
          new BadRequestError(`a client may not send a ${frame.kind} frame`),
          CloseCode.POLICY_VIOLATION,
        );
    }
  }

  private hello(frame: Frame): void {
    if (frame.kind !== 'hello') {
      this.reject(
        new UnauthenticatedError('the first frame must be a hello'),
        CloseCode.POLICY_VIOLATION,
      );
      return;
    }
    if (frame.protocolVersion !== PROTOCOL_VERSION) {
      this.reject(
        new BadRequestError(`protocol version ${frame.protocolVersion} is not ${PROTOCOL_VERSION}`),
        CloseCode.POLICY_VIOLATION,
      );
      return;
    }
    if (this.options.token !== '' && !sameSecret(this.options.token, frame.token)) {
      this.reject(new UnauthenticatedError('wrong token'), CloseCode.POLICY_VIOLATION);
      return;
    }
    clearTimeout(this.helloTimer);
    this.ready = true;
  }

  private dispatch(frame: Extract<Frame, { kind: 'request' }>): void {
    if (this.inFlight >= this.options.maxPendingCalls) {
      this.batcher.push(
        encodeErrorFrame(
          frame.callId,
          new BusyError(`${this.inFlight} requests are being handled; retry later`),
        ),
      );
      return;
    }
    this.inFlight++;
    // What the node may believe of the sender: a token or a client certificate proved it
    // holds the cluster's credentials; a certificate also proved which peer it is.
    const certified = this.identities !== undefined;
    const authenticated = this.options.token !== '' || certified;
    // Two literals rather than a spread: this runs for every request.
    const context: RequestContext = certified
      ? { authenticated, peerId: frame.request.from }
      : { authenticated };
    // answer() invokes the handler before it returns: arrival order is dispatch order.
    void this.router.answer(frame, context).then((answer) => {
      this.inFlight--;
      if (answer === undefined || this.closed) return;
      if (
        this.socket.bufferedAmount + this.batcher.queuedBytes + answer.byteLength >
        this.options.maxBufferedBytes
      ) {
        // The client does not read its answers: it cannot make this server buffer without bound.
        this.reject(new BusyError('too many unread answers'), CloseCode.POLICY_VIOLATION);
        return;
      }
      this.batcher.push(answer);
    });
  }
}
