/**
 * A Kontiki Transport over WebSocket (ws): one port hosts any number of Raft groups; one
 * connection per peer, reused; calls to a peer reach its handler in the order issued;
 * binary frames carry the protocol's envelopes; a hello with the protocol version and an
 * optional shared token opens each connection; pings detect dead connections; reconnects
 * back off; bounded buffers fail calls with BUSY instead of growing.
 *
 * The calling side runs in browsers too: see `@kontiki/transport-ws/client`.
 *
 * @example
 * ```ts
 * import { wsTransport } from '@kontiki/transport-ws';
 * const transport = await wsTransport({ listen: '127.0.0.1:7001', token: 's3cret' });
 * // peers are "host:port" by default: request.to = '127.0.0.1:7002' -> ws://127.0.0.1:7002/kontiki
 * ```
 *
 * @packageDocumentation
 */

export { wsClientTransport } from './client.js';
export type { PeerUrlResolver, WsClientOptions } from './client-options.js';
export { CloseCode, type WebSocketConstructor, type WebSocketLike } from './web-socket.js';
export { type WsTransport, type WsTransportOptions, wsTransport } from './ws-transport.js';
