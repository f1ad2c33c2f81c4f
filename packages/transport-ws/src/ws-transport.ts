import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import {
  BadRequestError,
  type CallOptions,
  type GroupId,
  InvalidOptionError,
  type RpcHandler,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
  ShutdownError,
  type Transport,
} from '@kontiki/core';
import { GroupRouter } from '@kontiki/protocol';
import NodeWebSocket from 'ws';
import { positive, resolveClientOptions, type WsClientOptions } from './client-options.js';
import type { WebSocketConstructor } from './web-socket.js';
import { WsClient } from './ws-client.js';
import { RaftWsServer } from './ws-server.js';

export interface WsTransportOptions extends WsClientOptions {
  /** "host:port" to serve on (port 0 picks a free one; see `address`). */
  readonly listen?: string;
  /** Serve on this HTTP(S) server instead (an HTTPS server gives TLS); it stays the caller's to close. */
  readonly server?: HttpServer | HttpsServer;
  /** A client that sends no hello within this time is closed. Default 5,000 ms. */
  readonly helloTimeoutMs?: number;
}

/** A Transport over WebSocket, and where it listens. */
export interface WsTransport extends Transport {
  /** "host:port" the endpoint serves on; undefined when it only calls out. */
  readonly address: string | undefined;
}

/**
 * `ws`'s WebSocket with this endpoint's maxPayload, so that an oversized answer closes the
 * connection instead of being buffered.
 */
function nodeWebSocket(maxPayload: number): WebSocketConstructor {
  class BoundedWebSocket extends NodeWebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { maxPayload, perMessageDeflate: false });
    }
  }
  // ws's WebSocket implements the browser API the client uses (WebSocketLike).
  return BoundedWebSocket as unknown as WebSocketConstructor;
}

class WsTransportImpl implements WsTransport {
  private readonly router = new GroupRouter();
  private server: RaftWsServer | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly client: WsClient) {}

  get address(): string | undefined {
    return this.server?.address();
  }

  attach(server: RaftWsServer): void {
    this.server = server;
  }

  get groups(): GroupRouter {
    return this.router;
  }

  call<M extends RpcMethod>(
    method: M,
    request: RpcRequest<M>,
    options?: CallOptions,
  ): Promise<RpcResponse<M>> {
    return this.client.call(method, request, options);
  }

  serve(groupId: GroupId, handler: RpcHandler): () => void {
    if (this.closing) throw new ShutdownError('the transport is closed');
    if (this.server === undefined) {
      throw new BadRequestError(
        'this endpoint does not listen (no `listen` or `server`): it cannot serve',
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
    this.client.close();
    await this.server?.close();
  }
}

/**
 * Creates a Transport over WebSocket and, with `listen` or `server`, starts serving;
 * resolves once listening.
 *
 * @example
 * ```ts
 * const transport = await wsTransport({ listen: '127.0.0.1:7001', token: process.env.RAFT_TOKEN });
 * ```
 */
export async function wsTransport(options: WsTransportOptions = {}): Promise<WsTransport> {
  const maxPayloadBytes = positive('maxPayloadBytes', options.maxPayloadBytes, 64 * 1024 * 1024);
  const client = resolveClientOptions(options, nodeWebSocket(maxPayloadBytes));
  if (options.listen !== undefined && options.server !== undefined) {
    throw new InvalidOptionError('listen', 'give either `listen` or `server`, not both');
  }
  if (options.listen !== undefined && !/^.+:\d+$/.test(options.listen)) {
    throw new InvalidOptionError(
      'listen',
      `expected "host:port", got ${JSON.stringify(options.listen)}`,
    );
  }
  const transport = new WsTransportImpl(new WsClient(client));
  const where =
    options.listen !== undefined
      ? { listen: options.listen }
      : options.server !== undefined
        ? { server: options.server }
        : undefined;
  if (where !== undefined) {
    transport.attach(
      await RaftWsServer.start(where, transport.groups, {
        path: client.path,
        maxPayloadBytes: client.maxPayloadBytes,
        pingIntervalMs: client.pingIntervalMs,
        token: client.token,
        helloTimeoutMs: positive('helloTimeoutMs', options.helloTimeoutMs, 5_000),
        maxPendingCalls: client.maxPendingCalls,
        maxBufferedBytes: client.maxBufferedBytes,
      }),
    );
  }
  return transport;
}
