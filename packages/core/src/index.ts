/**
 * Kontiki's core: a Raft node in the shape of braft's (election, vote, stepdown and snapshot
 * timers; pre-vote; one replicator per follower), and the interfaces its plugins implement:
 * {@link Transport}, {@link LogStorage}, {@link MetaStorage}, {@link SnapshotStorage} and
 * {@link StateMachine}. Core has no runtime dependencies.
 *
 * @example
 * ```ts
 * import { RaftNode } from '@kontiki/core';
 * import { MemoryLogStorage, MemoryMetaStorage } from '@kontiki/storage-memory';
 * import { MemoryNetwork } from '@kontiki/transport-memory';
 *
 * const network = new MemoryNetwork();
 * const node = new RaftNode({
 *   groupId: 'kv',
 *   peerId: 'n1',
 *   initialConfiguration: { voters: ['n1'] },
 *   transport: network.endpoint('n1'),
 *   logStorage: new MemoryLogStorage(),
 *   metaStorage: new MemoryMetaStorage(),
 *   stateMachine: { onApply: (entries) => entries.map((e) => e.index) },
 * });
 * await node.start();
 * ```
 *
 * @packageDocumentation
 */
export { Ballot } from './ballot.js';
export type { Clock, RandomSource, TimerHandle } from './clock.js';
export { systemClock, systemRandom } from './clock.js';
export {
  allPeers,
  type ConfigurationEntry,
  ConfigurationManager,
  decodeConfiguration,
  encodeConfiguration,
  hasQuorum,
  isJoint,
  isVoter,
  majority,
  quorumMatchIndex,
  sameConfiguration,
  validateConfiguration,
} from './configuration.js';
export {
  AbortedError,
  BadRequestError,
  BusyError,
  CorruptLogError,
  ErrorCode,
  errorFromCode,
  InternalError,
  InvalidOptionError,
  isErrorCode,
  LeaderSteppedDownError,
  NotLeaderError,
  RaftError,
  ShutdownError,
  StorageError,
  TermMismatchError,
  TimeoutError,
  TransferInProgressError,
  toRaftError,
  UnauthenticatedError,
  UnknownGroupError,
  UnreachableError,
} from './errors.js';
export { type NodeEvents, TypedEmitter } from './events.js';
export type { Logger, LogLevel } from './logger.js';
export { consoleLogger, defaultLogger, silentLogger } from './logger.js';
export type {
  AppendEntriesRequest,
  AppendEntriesResponse,
  DisruptedLeader,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  RaftRpcMap,
  ReadIndexRequest,
  ReadIndexResponse,
  RequestVoteRequest,
  RequestVoteResponse,
  RpcEnvelope,
  RpcMethod,
  RpcRequest,
  RpcResponse,
  TimeoutNowRequest,
  TimeoutNowResponse,
} from './messages.js';
export { isRpcMethod, RPC_METHODS } from './messages.js';
export type { NodeOptions, ResolvedOptions } from './options.js';
export { resolveOptions } from './options.js';
export type { ApplyResult } from './proposals.js';
export {
  type ApplyOptions,
  type NodeStatus,
  RaftNode,
  type ReadOptions,
  startNode,
} from './raft-node.js';
export type { ReplicatorState, ReplicatorStatus } from './replicator.js';
export type { CommittedEntry, LeaderChangeContext, StateMachine } from './state-machine.js';
export type {
  LogStorage,
  MetaStorage,
  RaftMeta,
  SnapshotReader,
  SnapshotStorage,
  SnapshotWriter,
} from './storage.js';
export type { CallOptions, RpcHandler, Transport } from './transport.js';
export {
  type Configuration,
  EntryType,
  type GroupId,
  type LogEntry,
  type PeerId,
  type Role,
  type SnapshotMeta,
} from './types.js';
