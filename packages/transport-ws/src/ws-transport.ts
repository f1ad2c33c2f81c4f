import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import {
  BadRequestError,
  type CallOptions,
  type GroupId,
  InvalidOptionError,
  type Logger,
  type RpcHandler,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
  ShutdownError,
  type Transport,
} from '@kontiki/core';
import { GroupRouter } from '@kontiki/protocol';
import { refuseExposure, warnIfUnauthenticated } from '@kontiki/protocol/auth';
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
  /**
   * Accept serving beyond loopback without authentication (no `token`, and no HTTPS server
   * that demands client certificates). Without it such a `listen` fails with INVALID_OPTION:
   * anyone who reaches the port could rewrite this node's log. Default false.
   */
  readonly allowInsecure?: boolean;
  /**
   * With an HTTPS `server` that verifies client certificates (`requestCert` and
   * `rejectUnauthorized`): every request's `from` must be one of the certificate's names (a
   * URI or DNS subject alternative name, or the CN), else the connection is closed
   * UNAUTHENTICATED. Default true.
   */
  readonly verifyPeerId?: boolean;
  /** Where the endpoint's warnings go (an endpoint without authentication warns). Default: `process.emitWarning`. */
  readonly logger?: Logger;
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

/** "host:port" a user's server already listens on, if it does. */
function listeningAddress(server: HttpServer | HttpsServer | undefined): string | undefined {
  const info = server?.address();
  if (info === null || info === undefined || typeof info === 'string') return undefined;
  return `${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`;
}

/** Whether a user's HTTPS server verifies client certificates (mutual TLS). */
function demandsClientCertificates(server: HttpServer | HttpsServer | undefined): boolean {
  const tls = server as { requestCert?: unknown; rejectUnauthorized?: unknown } | undefined;
  return tls?.requestCert === true && tls.rejectUnauthorized !== false;
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
    const exposure = {
      transport: 'WebSocket',
      address: options.listen ?? listeningAddress(options.server) ?? '',
      authenticated: client.token !== '' || demandsClientCertificates(options.server),
      allowInsecure: options.allowInsecure === true,
      logger: options.logger,
    };
    if (exposure.address !== '') refuseExposure(exposure);
    const server = await RaftWsServer.start(where, transport.groups, {
      path: client.path,
      maxPayloadBytes: client.maxPayloadBytes,
      pingIntervalMs: client.pingIntervalMs,
      token: client.token,
      helloTimeoutMs: positive('helloTimeoutMs', options.helloTimeoutMs, 5_000),
      maxPendingCalls: client.maxPendingCalls,
      maxBufferedBytes: client.maxBufferedBytes,
      verifyPeerId: options.verifyPeerId !== false,
    });
    transport.attach(server);
    // A server of the user's may not listen yet: judge its address once it does.
    const judge = () => warnIfUnauthenticated({ ...exposure, address: server.address() ?? '?' });
    if (server.address() !== undefined) judge();
    else options.server?.once('listening', judge);
  }
  return transport;
}
