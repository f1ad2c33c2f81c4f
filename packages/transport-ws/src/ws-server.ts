import { createServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { UnreachableError } from '@kontiki/core';
import type { GroupRouter } from '@kontiki/protocol';
import { certificateIdentities } from '@kontiki/protocol/auth';
import { WebSocketServer } from 'ws';
import { ServerConnection, type ServerConnectionOptions } from './server-connection.js';
import { CloseCode } from './web-socket.js';

/** How long a closing server waits for clients to answer its close frame. */
const CLOSE_GRACE_MS = 1000;

export interface RaftWsServerOptions extends ServerConnectionOptions {
  readonly path: string;
  readonly maxPayloadBytes: number;
  readonly pingIntervalMs: number;
  /** Check requests' `from` against a verified client certificate, when there is one. */
  readonly verifyPeerId: boolean;
}

/**
 * The names of the client's certificate when the connection is TLS with a certificate the
 * server verified (an HTTPS server with `requestCert`); undefined otherwise.
 */
function verifiedNames(request: IncomingMessage): ReadonlySet<string> | undefined {
  const socket = request.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) return undefined;
  return new Set(certificateIdentities(cert));
}

/**
 * The serving side: a WebSocket server (on its own HTTP server, or on one the user gives,
 * e.g. an HTTPS server for TLS) for every group of the endpoint. Pings every client on an
 * interval and drops those that missed the previous pong.
 */
export class RaftWsServer {
  private readonly connections = new Set<ServerConnection>();
  private readonly pingTimer: ReturnType<typeof setInterval>;

  private constructor(
    private readonly http: HttpServer | HttpsServer,
    private readonly ownsHttp: boolean,
    private readonly wss: WebSocketServer,
    router: GroupRouter,
    options: RaftWsServerOptions,
  ) {
    wss.on('connection', (socket, request: IncomingMessage) => {
      const names = options.verifyPeerId ? verifiedNames(request) : undefined;
      const connection: ServerConnection = new ServerConnection(
        socket,
        router,
        options,
        () => this.connections.delete(connection),
        names,
      );
      this.connections.add(connection);
    });
    this.pingTimer = setInterval(() => {
      for (const connection of this.connections) {
        if (!connection.alive) {
          connection.socket.terminate();
          continue;
        }
        connection.alive = false;
        connection.socket.ping();
      }
    }, options.pingIntervalMs);
  }

  /** Listens on "host:port" (port 0: a free one), or attaches to `server` (already listening or not). */
  static async start(
    where: { listen: string } | { server: HttpServer | HttpsServer },
    router: GroupRouter,
    options: RaftWsServerOptions,
  ): Promise<RaftWsServer> {
    const ownsHttp = 'listen' in where;
    const http =
      'listen' in where
        ? createServer((_request, response) => {
            response.writeHead(426, { 'content-type': 'text/plain' });
            response.end('this is a Kontiki WebSocket endpoint\n');
          })
        : where.server;
    const wss = new WebSocketServer({
      server: http,
      path: options.path,
      maxPayload: options.maxPayloadBytes,
      perMessageDeflate: false,
    });
    if ('listen' in where) {
      const at = where.listen.lastIndexOf(':');
      const host = where.listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
      const port = Number(where.listen.slice(at + 1));
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve();
        });
      });
    }
    return new RaftWsServer(http, ownsHttp, wss, router, options);
  }

  /** "host:port" where it listens (undefined when the HTTP server is not listening yet). */
  address(): string | undefined {
    const info = this.http.address() as AddressInfo | string | null;
    if (info === null || typeof info === 'string') return undefined;
    const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
    return `${host}:${info.port}`;
  }

  async close(): Promise<void> {
    clearInterval(this.pingTimer);
    const error = new UnreachableError(undefined, 'the endpoint is closing');
    for (const connection of this.connections) connection.reject(error, CloseCode.GOING_AWAY);
    // wss.close calls back once every client is gone; one that does not complete the
    // close handshake within the grace period is cut.
    await new Promise<void>((resolve) => {
      const cut = setTimeout(() => {
        for (const client of this.wss.clients) client.terminate();
      }, CLOSE_GRACE_MS);
      this.wss.close(() => {
        clearTimeout(cut);
        resolve();
      });
    });
    if (this.ownsHttp) {
      await new Promise<void>((resolve) => {
        this.http.close(() => resolve());
        this.http.closeAllConnections();
      });
    }
  }
}
