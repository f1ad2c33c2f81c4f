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
export type { Clock, RandomSource, TimerHandle } from './clock.js';
export { systemClock, systemRandom } from './clock.js';
export { allPeers, isJoint, isVoter, validateConfiguration } from './configuration.js';
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
  NotMemberError,
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
export type { NodeEvents } from './events.js';
export type { WaitOptions } from './leader-waiters.js';
export type { Logger, LogLevel } from './logger.js';
export { consoleLogger, defaultLogger, silentLogger } from './logger.js';
export type {
  AppendEntriesRequest,
  AppendEntriesResponse,
  DisruptedLeader,
  GroupRpcMethod,
  HostHeartbeatRequest,
  HostHeartbeatResponse,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  QuiescedGroup,
  QuiesceOffer,
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
export { HOST_GROUP_ID, isRpcMethod, RPC_METHODS } from './messages.js';
export type {
  CounterMetric,
  GaugeMetric,
  HistogramDescriptor,
  HistogramMetric,
  MetricDescriptor,
  MetricLabels,
  RaftMetrics,
} from './metrics.js';
export { RaftNode, startNode } from './node.js';
export type { NodeOptions } from './options.js';
export type { ApplyOptions, ApplyResult } from './proposals.js';
export {
  type HostedGroup,
  MAX_CONCURRENT_TRANSFERS,
  preferredLeaderOf,
  RaftHost,
  type RaftHostOptions,
  type RaftHostStats,
} from './raft-host.js';
export type { ReadOptions } from './read-only-service.js';
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
export { TimerScheduler } from './timer-scheduler.js';
export type { CallOptions, RequestContext, RpcHandler, Transport } from './transport.js';
export {
  type Configuration,
  EntryType,
  type GroupId,
  type LogEntry,
  type NodeStatus,
  type PeerId,
  type Role,
  type SnapshotMeta,
} from './types.js';
