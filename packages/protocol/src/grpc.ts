/**
 * The gRPC service of Kontiki's protocol (`kontiki.raft.v1.RaftService`), generated for
 * @grpc/grpc-js. Kept apart from the main entry so that importing `@kontiki/protocol`
 * never loads gRPC (the WebSocket transport runs in browsers).
 *
 * @packageDocumentation
 */
export {
  RaftServiceClient,
  type RaftServiceServer,
  RaftServiceService,
} from './gen/kontiki/raft/v1/raft_service.js';
