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
import { laneOf, PeerCache } from '@kontiki/protocol';
import type { ResolvedClientOptions } from './client-options.js';
import { PeerConnection } from './peer-connection.js';

/** The calling side of a WebSocket endpoint: one connection per peer URL, reused. */
export class WsClient {
  private readonly connections: PeerCache<PeerConnection>;
  private closed = false;

  constructor(private readonly options: ResolvedClientOptions) {
    this.connections = new PeerCache(options.idleTimeoutMs);
  }

  call<M extends RpcMethod>(
    method: M,
    request: RpcRequest<M>,
    options: CallOptions = {},
  ): Promise<RpcResponse<M>> {
    if (this.closed) return Promise.reject(new ShutdownError('the transport is closed'));
    if (!isRpcMethod(method)) {
      return Promise.reject(new BadRequestError(`unknown method ${String(method)}`));
    }
    const url = this.options.resolve(request.to);
    if (url === undefined) {
      return Promise.reject(
        new UnreachableError(request.to, `no URL is known for peer ${request.to}`),
      );
    }
    // Up to three connections per peer (data, control, and the host's beat): heartbeats and votes are not read after megabytes of
    // AppendEntries (see laneOf); each keeps its calls in order.
    const lane = laneOf(method, request);
    const connection = this.connections.get(
      lane === 'data' ? url : `${url} ${lane}`,
      () => new PeerConnection(request.to, url, this.options),
    );
    return connection.call(method, request, options);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const error = new ShutdownError('the transport was closed');
    this.connections.closeAll(error);
  }
}

/** A Transport that only calls out (a browser cannot listen): `serve` throws. */
export class WsClientTransport implements Transport {
  private readonly client: WsClient;

  constructor(options: ResolvedClientOptions) {
    this.client = new WsClient(options);
  }

  call<M extends RpcMethod>(
    method: M,
    request: RpcRequest<M>,
    options?: CallOptions,
  ): Promise<RpcResponse<M>> {
    return this.client.call(method, request, options);
  }

  serve(_groupId: GroupId, _handler: RpcHandler): () => void {
    throw new BadRequestError('a client-only WebSocket transport cannot serve a group');
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
