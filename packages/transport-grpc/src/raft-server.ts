import {
  Server,
  type ServerCredentials,
  type ServerDuplexStream,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import {
  BadRequestError,
  BusyError,
  type RaftError,
  type RequestContext,
  ShutdownError,
  toRaftError,
  UnauthenticatedError,
} from '@kontiki/core';
import {
  decodeFrame,
  encodeErrorFrame,
  type Frame,
  FrameBatcher,
  type GroupRouter,
  PROTOCOL_VERSION,
  splitBatch,
} from '@kontiki/protocol';
import { certificateIdentities, sameSecret } from '@kontiki/protocol/auth';
import type { ResolvedGrpcOptions } from './options.js';
import { PROTOCOL_VERSION_KEY, rawRaftService, TOKEN_KEY } from './service.js';
import { grpcStatusOf } from './status-mapping.js';

type ServerStream = ServerDuplexStream<Uint8Array, Uint8Array>;

/** How long a closing server waits for its streams to flush their final status. */
const SHUTDOWN_GRACE_MS = 1000;

/**
 * The serving side: one gRPC server (one port) for every group of the endpoint. Each
 * incoming stream is one calling peer; its requests are dispatched in arrival order.
 *
 * Who may send: a stream is admitted only with the endpoint's token (when it has one) and,
 * under mutual TLS, each request's `from` must be a name of the caller's certificate; else
 * the stream ends with UNAUTHENTICATED. The token is checked when the stream opens, before
 * a single message on it is read, so nothing from an unauthenticated caller is decoded.
 *
 * Bad input harms only its own stream: an unknown method or a bad body is answered with a
 * BAD_REQUEST error for that call; bytes that are not an envelope, a message of the wrong
 * kind or a wrong protocol version end that stream with INVALID_ARGUMENT (and the exact
 * Kontiki code in metadata). Nothing of it reaches a handler.
 */
export class RaftServer {
  private readonly server: Server;
  private readonly streams = new Set<ServerStream>();
  /** Requests of each stream whose handler has not answered yet. */
  private readonly inFlight = new WeakMap<ServerStream, number>();
  /** Under mutual TLS: the peer ids each stream's certificate may speak for. */
  private readonly identities = new WeakMap<ServerStream, ReadonlySet<string>>();
  /** Each stream's answers of one turn leave as one message. */
  private readonly batchers = new WeakMap<ServerStream, FrameBatcher>();

  private constructor(
    server: Server,
    private readonly router: GroupRouter,
    private readonly options: ResolvedGrpcOptions,
    readonly port: number,
  ) {
    this.server = server;
  }

  static listen(
    listen: string,
    credentials: ServerCredentials,
    router: GroupRouter,
    options: ResolvedGrpcOptions,
  ): Promise<RaftServer> {
    const server = new Server(options.channelOptions);
    let instance: RaftServer | undefined;
    server.addService(rawRaftService, {
      exchange: (stream: ServerStream) => instance?.accept(stream),
    });
    return new Promise((resolve, reject) => {
      server.bindAsync(listen, credentials, (error, port) => {
        if (error) {
          server.forceShutdown();
          reject(error);
          return;
        }
        instance = new RaftServer(server, router, options, port);
        resolve(instance);
      });
    });
  }

  /** Ends every stream with `error` (so callers learn why), then stops the server. */
  async close(error: RaftError = new ShutdownError('the endpoint is closing')): Promise<void> {
    for (const stream of [...this.streams]) this.fail(stream, error);
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  private accept(stream: ServerStream): void {
    this.streams.add(stream);
    const forget = () => this.streams.delete(stream);
    stream.on('end', () => {
      forget();
      // The caller finished its side: finish ours (answers still pending are dropped).
      if (stream.writable) stream.end();
    });
    stream.on('error', forget);
    stream.on('cancelled', forget);
    stream.on('close', forget);

    const refusal = this.authenticate(stream);
    if (refusal !== undefined) {
      this.fail(stream, refusal);
      return;
    }
    const version = stream.metadata.get(PROTOCOL_VERSION_KEY)[0];
    if (version !== String(PROTOCOL_VERSION)) {
      this.fail(
        stream,
        new BadRequestError(
          `protocol version ${String(version ?? 'none')} is not ${PROTOCOL_VERSION}`,
        ),
      );
      return;
    }
    this.batchers.set(
      stream,
      new FrameBatcher({
        write: (message) => {
          if (this.streams.has(stream)) stream.write(message);
        },
        maxBatchBytes: Math.min(64 * 1024, this.options.maxMessageBytes),
      }),
    );
    stream.on('data', (bytes: Uint8Array) => this.receive(stream, bytes));
  }

  private send(stream: ServerStream, frame: Uint8Array): void {
    this.batchers.get(stream)?.push(frame);
  }

  /** Why the stream may not send (undefined: it may); records the names its certificate gives. */
  private authenticate(stream: ServerStream): RaftError | undefined {
    const { token, verifyPeerId } = this.options;
    if (token !== '') {
      const given = stream.metadata.get(TOKEN_KEY)[0];
      if (typeof given !== 'string' || !sameSecret(token, given)) {
        return new UnauthenticatedError(
          given === undefined ? 'this endpoint requires a token' : 'wrong token',
        );
      }
    }
    if (verifyPeerId) {
      const cert = stream.getAuthContext().sslPeerCertificate;
      const names = cert === undefined ? [] : certificateIdentities(cert);
      if (names.length === 0) {
        return new UnauthenticatedError('the client certificate names no peer');
      }
      this.identities.set(stream, new Set(names));
    }
    return undefined;
  }

  private receive(stream: ServerStream, bytes: Uint8Array): void {
    if (!this.streams.has(stream)) return;
    let envelopes: Uint8Array[];
    try {
      envelopes = splitBatch(bytes);
    } catch (error) {
      this.fail(stream, toRaftError(error, 'BAD_REQUEST'));
      return;
    }
    for (const envelope of envelopes) {
      // A bad envelope ends the stream: what followed it on the stream is not read.
      if (!this.streams.has(stream)) return;
      this.receiveOne(stream, envelope);
    }
  }

  private receiveOne(stream: ServerStream, bytes: Uint8Array): void {
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      this.fail(stream, toRaftError(error, 'BAD_REQUEST'));
      return;
    }
    switch (frame.kind) {
      case 'request': {
        const names = this.identities.get(stream);
        if (names !== undefined && !names.has(frame.request.from)) {
          // A member's certificate speaking for another member: the stream cannot be trusted.
          this.fail(
            stream,
            new UnauthenticatedError(
              `the client certificate names ${[...names].join(', ')}, not ${frame.request.from}`,
            ),
          );
          return;
        }
        this.dispatch(stream, frame);
        return;
      }
      case 'invalid':
        this.send(stream, encodeErrorFrame(frame.callId, frame.error));
        return;
      default:
        this.fail(stream, new BadRequestError(`a client may not send a ${frame.kind} frame`));
    }
  }

  private dispatch(stream: ServerStream, frame: Extract<Frame, { kind: 'request' }>): void {
    const inFlight = this.inFlight.get(stream) ?? 0;
    if (inFlight >= this.options.maxPendingCalls) {
      // One caller cannot make the handlers queue without bound.
      this.send(
        stream,
        encodeErrorFrame(
          frame.callId,
          new BusyError(`${inFlight} requests are being handled; retry later`),
        ),
      );
      return;
    }
    this.inFlight.set(stream, inFlight + 1);
    // What the node may believe of the sender: a token or a client certificate proved it
    // holds the cluster's credentials; a certificate also proved which peer it is.
    const certified = this.identities.has(stream);
    const authenticated = this.options.token !== '' || this.options.tls?.mutual === true;
    // Two literals rather than a spread: this runs for every request.
    const context: RequestContext = certified
      ? { authenticated, peerId: frame.request.from }
      : { authenticated };
    // answer() invokes the handler before it returns: arrival order is dispatch order.
    void this.router.answer(frame, context).then((answer) => {
      this.inFlight.set(stream, (this.inFlight.get(stream) ?? 1) - 1);
      if (answer !== undefined && this.streams.has(stream)) this.send(stream, answer);
    });
  }

  private fail(stream: ServerStream, error: RaftError): void {
    if (!this.streams.delete(stream)) return;
    this.batchers.get(stream)?.discard();
    const { code, details, metadata } = grpcStatusOf(error);
    const serviceError: Partial<ServiceError> = { code, details, metadata, message: details };
    stream.emit('error', serviceError);
  }
}

export { status };
