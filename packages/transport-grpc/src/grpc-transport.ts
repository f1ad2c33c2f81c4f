import { type ChannelCredentials, credentials, ServerCredentials } from '@grpc/grpc-js';
import {
  BadRequestError,
  type CallOptions,
  type GroupId,
  isRpcMethod,
  type RpcHandler,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
  ShutdownError,
  type Transport,
  UnreachableError,
} from '@kontiki/core';
import { GroupRouter, laneOf, PeerCache } from '@kontiki/protocol';
import { refuseExposure, warnIfUnauthenticated } from '@kontiki/protocol/auth';
import {
  type GrpcTransportOptions,
  type Pem,
  type ResolvedGrpcOptions,
  resolveOptions,
} from './options.js';
import { PeerChannel } from './peer-channel.js';
import { RaftServer } from './raft-server.js';

/** A Transport over gRPC, and where it listens. */
export interface GrpcTransport extends Transport {
  /** "host:port" the endpoint serves on (the real port when `listen` asked for port 0); undefined for a client-only endpoint. */
  readonly address: string | undefined;
}

const pem = (value: Pem): Buffer =>
  typeof value === 'string' ? Buffer.from(value) : Buffer.from(value);

function channelCredentials(options: ResolvedGrpcOptions): ChannelCredentials {
  const tls = options.tls;
  if (tls === undefined) return credentials.createInsecure();
  return tls.mutual
    ? credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert))
    : credentials.createSsl(pem(tls.ca));
}

function serverCredentials(options: ResolvedGrpcOptions): ServerCredentials {
  const tls = options.tls;
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    pem(tls.ca),
    [{ private_key: pem(tls.key), cert_chain: pem(tls.cert) }],
    tls.mutual === true,
  );
}

class GrpcTransportImpl implements GrpcTransport {
  private readonly router = new GroupRouter();
  private readonly channels: PeerCache<PeerChannel>;
  private readonly credentials: ChannelCredentials;
  private server: RaftServer | undefined;
  private closing: Promise<void> | undefined;
  address: string | undefined;

  constructor(private readonly options: ResolvedGrpcOptions) {
    this.credentials = channelCredentials(options);
    this.channels = new PeerCache(options.idleTimeoutMs);
  }

  async listen(listen: string): Promise<void> {
    const o = this.options;
    const exposure = {
      transport: 'gRPC',
      address: listen,
      authenticated: o.token !== '' || o.tls?.mutual === true,
      allowInsecure: o.allowInsecure,
      logger: o.logger,
    };
    refuseExposure(exposure);
    this.server = await RaftServer.listen(listen, serverCredentials(o), this.router, o);
    this.address = `${listen.slice(0, listen.lastIndexOf(':'))}:${this.server.port}`;
    warnIfUnauthenticated({ ...exposure, address: this.address });
  }

  call<M extends RpcMethod>(
    method: M,
    request: RpcRequest<M>,
    options: CallOptions = {},
  ): Promise<RpcResponse<M>> {
    if (this.closing) return Promise.reject(new ShutdownError('the transport is closed'));
    if (!isRpcMethod(method)) {
      return Promise.reject(new BadRequestError(`unknown method ${String(method)}`));
    }
    const address = this.options.resolve(request.to);
    if (address === undefined) {
      return Promise.reject(
        new UnreachableError(request.to, `no address is known for peer ${request.to}`),
      );
    }
    // Up to three connections per peer (data, control, and the host's beat) (each its own channel: the subchannel pool is local), so that
    // heartbeats and votes are not read after megabytes of AppendEntries (see laneOf); each
    // keeps its calls in order.
    const lane = laneOf(method, request);
    const channel = this.channels.get(
      lane === 'data' ? address : `${address} ${lane}`,
      () => new PeerChannel(address, this.credentials, this.options),
    );
    return channel.call(method, request, options);
  }

  serve(groupId: GroupId, handler: RpcHandler): () => void {
    if (this.closing) throw new ShutdownError('the transport is closed');
    if (this.server === undefined) {
      throw new BadRequestError(
        'this endpoint does not listen (no `listen` option): it cannot serve',
      );
    }
    return this.router.serve(groupId, handler);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.router.clear();
    const closed = new ShutdownError('the transport was closed');
    this.channels.closeAll(closed);
    await this.server?.close(
      new UnreachableError(undefined, `the endpoint at ${this.address} closed`),
    );
  }
}

/**
 * Creates a Transport over gRPC and, with `listen`, starts serving; resolves once listening.
 *
 * @example
 * ```ts
 * const transport = await grpcTransport({ listen: '127.0.0.1:7001' });
 * // peers are "host:port" by default: request.to = '127.0.0.1:7002'
 * ```
 */
export async function grpcTransport(options: GrpcTransportOptions = {}): Promise<GrpcTransport> {
  const resolved = resolveOptions(options);
  const transport = new GrpcTransportImpl(resolved);
  if (resolved.listen !== undefined) await transport.listen(resolved.listen);
  return transport;
}
