import {
  type ChannelCredentials,
  Client,
  type ClientDuplexStream,
  type CallOptions as GrpcCallOptions,
  Metadata,
  type ServiceError,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
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
  UnreachableError,
} from '@kontiki/core';
import {
  decodeFrame,
  encodeRequestFrame,
  FrameBatcher,
  PendingCalls,
  PROTOCOL_VERSION,
  splitBatch,
} from '@kontiki/protocol';
import type { ResolvedGrpcOptions } from './options.js';
import { exchangeMethod, PROTOCOL_VERSION_KEY, TOKEN_KEY } from './service.js';
import { errorOfGrpcStatus } from './status-mapping.js';

type Stream = ClientDuplexStream<Uint8Array, Uint8Array>;

/**
 * The caller's side of one peer: one gRPC channel (reused for every call; grpc-js
 * reconnects it with back-off and keeps it alive with pings) and on it one bidirectional
 * stream, opened on first use and again after it breaks.
 *
 * Ordering: every call is queued for the stream synchronously inside `call`, the queue leaves
 * in order (calls of one turn as one message: FrameBatcher), and HTTP/2 delivers a stream's
 * messages in order, so the peer reads requests in the order issued; its server dispatches
 * them in that order.
 */
export class PeerChannel {
  private readonly client: Client;
  private readonly calls: PendingCalls;
  private stream: Stream | undefined;
  private readonly batcher: FrameBatcher;
  /** Bytes queued or written and not yet handed to the socket. */
  private bufferedBytes = 0;
  private closed = false;

  constructor(
    private readonly address: string,
    credentials: ChannelCredentials,
    private readonly options: ResolvedGrpcOptions,
  ) {
    this.client = new Client(address, credentials, options.channelOptions);
    this.calls = new PendingCalls({
      maxPendingCalls: options.maxPendingCalls,
      defaultTimeoutMs: options.defaultTimeoutMs,
    });
    this.batcher = new FrameBatcher({
      write: (message, frameBytes) => {
        const stream = this.stream;
        // The stream broke meanwhile: its calls have failed already.
        if (stream === undefined) return;
        stream.write(message, () => {
          if (this.stream === stream) this.bufferedBytes -= frameBytes;
        });
      },
      // A batch is one gRPC message: it must stay within the peer's limit.
      maxBatchBytes: Math.min(64 * 1024, options.maxMessageBytes),
    });
  }

  call<M extends RpcMethod>(
    method: M,
    request: RpcRequest<M>,
    options: CallOptions,
  ): Promise<RpcResponse<M>> {
    return this.calls.start(method, request.to, options, (callId, timeoutMs) => {
      const bytes = encodeRequestFrame(callId, method, request, timeoutMs);
      if (bytes.byteLength > this.options.maxMessageBytes) {
        throw new BadRequestError(
          `a ${method} of ${bytes.byteLength} bytes exceeds maxMessageBytes (${this.options.maxMessageBytes})`,
        );
      }
      if (this.bufferedBytes + bytes.byteLength > this.options.maxBufferedBytes) {
        throw new BusyError(
          `${this.bufferedBytes} bytes to ${request.to} are still waiting for the network; retry later`,
        );
      }
      this.openStream(request.to);
      this.bufferedBytes += bytes.byteLength;
      this.batcher.push(bytes);
    });
  }

  /** Calls waiting for an answer. */
  get pendingCalls(): number {
    return this.calls.size;
  }

  /** Fails every pending call with `error` and releases the channel. */
  close(error: RaftError): void {
    if (this.closed) return;
    this.closed = true;
    this.calls.failAll(error);
    this.batcher.discard();
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
    this.client.close();
  }

  private openStream(peerId: PeerId): Stream {
    if (this.stream !== undefined) return this.stream;
    const metadata = new Metadata();
    metadata.set(PROTOCOL_VERSION_KEY, String(PROTOCOL_VERSION));
    if (this.options.token !== '') metadata.set(TOKEN_KEY, this.options.token);
    // No deadline on the stream itself: it lives as long as the connection. Each call has
    // its own deadline (PendingCalls), carried in its envelope for the server.
    const callOptions: GrpcCallOptions = {};
    const stream = this.client.makeBidiStreamRequest<Uint8Array, Uint8Array>(
      exchangeMethod.path,
      exchangeMethod.requestSerialize,
      exchangeMethod.responseDeserialize,
      metadata,
      callOptions,
    );
    this.stream = stream;
    const broken = (error: RaftError) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.bufferedBytes = 0;
      this.batcher.discard();
      this.calls.failAll(error);
    };
    stream.on('data', (bytes: Uint8Array) => {
      let frames: ReturnType<typeof decodeFrame>[];
      try {
        frames = splitBatch(bytes).map(decodeFrame);
      } catch (error) {
        // The peer sent something that is not an envelope: it cannot be trusted further.
        broken(toRaftError(error, 'BAD_REQUEST'));
        stream.cancel();
        return;
      }
      for (const frame of frames) this.calls.settle(frame);
    });
    stream.on('error', (error: ServiceError) => {
      broken(errorOfGrpcStatus(error, peerId));
    });
    stream.on('status', (s: StatusObject) => {
      // The stream ended: what was pending on it is lost. (On an error status grpc-js also
      // emits 'error'; whichever comes first decides, with the same mapping.)
      broken(
        s.code === status.OK
          ? new UnreachableError(peerId, `the stream to ${peerId} (${this.address}) ended`)
          : errorOfGrpcStatus(s, peerId),
      );
    });
    return stream;
  }
}
