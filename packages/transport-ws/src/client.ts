/**
 * The browser-capable side of `@kontiki/transport-ws`: a Transport that calls Kontiki
 * endpoints over WebSocket and serves nothing. No Node API is used here: give it the
 * browser's `WebSocket` (the default when `globalThis.WebSocket` exists) or any
 * constructor with the same API.
 *
 * @example
 * ```ts
 * import { wsClientTransport } from '@kontiki/transport-ws/client';
 * const transport = wsClientTransport({
 *   peers: { n1: 'wss://raft-1.example.net/kontiki' },
 *   token: sessionToken,
 * });
 * await transport.call('readIndex', { groupId: 'kv', from: 'browser', to: 'n1', term: 0 });
 * ```
 *
 * @packageDocumentation
 */
import type { Transport } from '@kontiki/core';
import { resolveClientOptions, type WsClientOptions } from './client-options.js';
import { WsClientTransport } from './ws-client.js';

export type { PeerUrlResolver, WsClientOptions } from './client-options.js';
export type { WebSocketConstructor, WebSocketLike } from './web-socket.js';

/** A client-only WebSocket Transport (its `serve` throws). */
export function wsClientTransport(options: WsClientOptions = {}): Transport {
  return new WsClientTransport(resolveClientOptions(options));
}
