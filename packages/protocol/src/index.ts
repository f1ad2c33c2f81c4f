/**
 * Kontiki's wire protocol: `raft.proto` (every Raft RPC, the envelope that carries them over
 * a stream, the error shape), its generated TypeScript, and the conversions to and from
 * `@kontiki/core`'s message types, which check what comes off the wire (uint64 above
 * 2^53 - 1, missing headers, unknown methods and malformed bytes fail with BadRequestError).
 *
 * It also holds the part both network transports share: {@link PendingCalls} (the caller's
 * side of a connection) and {@link GroupRouter} (the server's side). Nothing here needs
 * Node: a browser can use it. The gRPC service definition is at `@kontiki/protocol/grpc`.
 *
 * @example
 * ```ts
 * import { decodeRequest, encodeRequest } from '@kontiki/protocol';
 * const bytes = encodeRequest('timeoutNow', { groupId: 'g', from: 'a', to: 'b', term: 3 });
 * const request = decodeRequest('timeoutNow', bytes); // { groupId: 'g', ..., term: 3 }
 * ```
 *
 * @packageDocumentation
 */

export {
  configurationFromProto,
  configurationToProto,
  entryFromProto,
  entryToProto,
} from './convert.js';
export {
  CONNECTION_CALL_ID,
  decodeFrame,
  encodeBatch,
  encodeErrorFrame,
  encodeHello,
  encodeRequestFrame,
  encodeResponseFrame,
  type Frame,
  splitBatch,
} from './frame.js';
export * as wire from './gen/kontiki/raft/v1/raft.js';
export {
  checkGroupId,
  checkPeerId,
  checkTermOrIndex,
  WIRE_LIMITS,
} from './limits.js';
export {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  METHOD_SPECS,
  type MessageCodec,
  type MethodSpec,
  methodFromWire,
} from './methods.js';
export { FrameBatcher, type FrameBatcherOptions } from './rpc/frame-batcher.js';
export { GroupRouter } from './rpc/group-router.js';
export { type Lane, laneOf } from './rpc/lanes.js';
export { type CachedPeer, PeerCache } from './rpc/peer-cache.js';
export { PendingCalls, type PendingCallsOptions } from './rpc/pending-calls.js';
export { toSafeNumber, toUint64 } from './uint64.js';
export { PROTOCOL_VERSION } from './version.js';
export { errorFromProto, errorToProto } from './wire-error.js';
