/**
 * A Kontiki Transport over gRPC (@grpc/grpc-js): one server port hosts any number of Raft
 * groups; one channel per peer, reused; calls to a peer travel on one bidirectional stream
 * and reach its handler in the order issued; every call has a deadline; channels reconnect
 * with back-off and send keep-alive pings; TLS and mutual TLS are options.
 *
 * @example
 * ```ts
 * import { RaftNode } from '@kontiki/core';
 * import { grpcTransport } from '@kontiki/transport-grpc';
 *
 * const transport = await grpcTransport({ listen: '127.0.0.1:7001' });
 * const node = new RaftNode({
 *   groupId: 'kv',
 *   peerId: transport.address ?? '127.0.0.1:7001',
 *   initialConfiguration: { voters: ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'] },
 *   transport,
 *   // ... storage, state machine
 * });
 * ```
 *
 * @packageDocumentation
 */
export { type GrpcTransport, grpcTransport } from './grpc-transport.js';
export type { GrpcTlsOptions, GrpcTransportOptions, PeerResolver, Pem } from './options.js';
export { PROTOCOL_VERSION_KEY, TOKEN_KEY } from './service.js';
export {
  ERROR_CODE_KEY,
  errorOfGrpcStatus,
  type GrpcErrorStatus,
  grpcStatusCodeOf,
  grpcStatusOf,
  LEADER_ID_KEY,
} from './status-mapping.js';
