import { InvalidOptionError, type PeerId } from '@kontiki/core';
import type { WebSocketConstructor } from './web-socket.js';

/** Maps a peer id to its WebSocket URL; undefined when the peer is unknown. */
export type PeerUrlResolver =
  | ReadonlyMap<PeerId, string>
  | Readonly<Record<PeerId, string>>
  | ((peerId: PeerId) => string | undefined);

/** Options of the calling side (also the client-only, browser-capable transport). */
export interface WsClientOptions {
  /**
   * The WebSocket constructor. Default: `globalThis.WebSocket` (browsers, Node 22+);
   * the Node entry (`wsTransport`) defaults to the `ws` package's.
   */
  readonly WebSocket?: WebSocketConstructor;
  /** Where each peer listens. Default: `ws://<peerId><path>`, a peer id being "host:port". */
  readonly peers?: PeerUrlResolver;
  /**
   * The URL path the endpoints serve on.
   * @defaultValue `'/kontiki'`
   */
  readonly path?: string;
  /** Shared secret sent in the hello of each connection; a server with a token demands it. */
  readonly token?: string;
  /**
   * Largest message sent or accepted, in bytes.
   * @defaultValue `64 * 1024 * 1024` (64 MiB)
   */
  readonly maxPayloadBytes?: number;
  /**
   * Deadline in ms of a call whose caller gives none.
   * @defaultValue `10_000`
   */
  readonly defaultTimeoutMs?: number;
  /**
   * A connection to a peer that carried no call for this long is closed (a peer removed
   * from every group served here is forgotten). In ms.
   * @defaultValue `300_000` (5 minutes)
   */
  readonly idleTimeoutMs?: number;
  /**
   * Calls to one peer waiting for their answer; one more fails with BUSY.
   * @defaultValue `10_000`
   */
  readonly maxPendingCalls?: number;
  /**
   * Bytes queued for one peer (socket bufferedAmount, or waiting for the connection); beyond,
   * calls fail with BUSY.
   * @defaultValue `64 * 1024 * 1024` (64 MiB)
   */
  readonly maxBufferedBytes?: number;
  /**
   * Ping interval in ms where the WebSocket can ping (`ws`); a connection that misses a pong
   * is dropped.
   * @defaultValue `10_000`
   */
  readonly pingIntervalMs?: number;
  /**
   * After a connection attempt fails: first wait and longest wait before the next, in ms.
   * @defaultValue `{ initialMs: 100, maxMs: 5_000 }`
   */
  readonly reconnectBackoff?: { readonly initialMs?: number; readonly maxMs?: number };
}

export interface ResolvedClientOptions {
  readonly WebSocket: WebSocketConstructor;
  readonly resolve: (peerId: PeerId) => string | undefined;
  readonly path: string;
  readonly token: string;
  readonly maxPayloadBytes: number;
  readonly defaultTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxPendingCalls: number;
  readonly maxBufferedBytes: number;
  readonly pingIntervalMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

export function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) {
    throw new InvalidOptionError(name, `must be a positive number, got ${String(value)}`);
  }
  return value;
}

function resolverOf(
  peers: PeerUrlResolver | undefined,
  path: string,
): (peerId: PeerId) => string | undefined {
  if (peers === undefined) return (peerId) => `ws://${peerId}${path}`;
  if (typeof peers === 'function') return peers;
  if (peers instanceof Map) return (peerId) => peers.get(peerId);
  const record = peers as Readonly<Record<PeerId, string>>;
  return (peerId) => (Object.hasOwn(record, peerId) ? record[peerId] : undefined);
}

export function resolveClientOptions(
  options: WsClientOptions,
  fallbackWebSocket?: WebSocketConstructor,
): ResolvedClientOptions {
  const WebSocket =
    options.WebSocket ??
    fallbackWebSocket ??
    (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (WebSocket === undefined) {
    throw new InvalidOptionError('WebSocket', 'no WebSocket constructor is available: pass one');
  }
  const path = options.path ?? '/kontiki';
  if (!path.startsWith('/')) throw new InvalidOptionError('path', 'must start with "/"');
  const backoffInitialMs = positive(
    'reconnectBackoff.initialMs',
    options.reconnectBackoff?.initialMs,
    100,
  );
  const backoffMaxMs = positive('reconnectBackoff.maxMs', options.reconnectBackoff?.maxMs, 5_000);
  if (backoffMaxMs < backoffInitialMs) {
    throw new InvalidOptionError('reconnectBackoff', 'maxMs must be at least initialMs');
  }
  return {
    WebSocket,
    resolve: resolverOf(options.peers, path),
    path,
    token: options.token ?? '',
    maxPayloadBytes: positive('maxPayloadBytes', options.maxPayloadBytes, 64 * 1024 * 1024),
    defaultTimeoutMs: positive('defaultTimeoutMs', options.defaultTimeoutMs, 10_000),
    idleTimeoutMs: positive('idleTimeoutMs', options.idleTimeoutMs, 300_000),
    maxPendingCalls: Math.floor(positive('maxPendingCalls', options.maxPendingCalls, 10_000)),
    maxBufferedBytes: positive('maxBufferedBytes', options.maxBufferedBytes, 64 * 1024 * 1024),
    pingIntervalMs: positive('pingIntervalMs', options.pingIntervalMs, 10_000),
    backoffInitialMs,
    backoffMaxMs,
  };
}
