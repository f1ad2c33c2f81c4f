import type { GroupId, LogEntry, PeerId, SnapshotMeta } from './types.js';

/** Every request names its group, its sender and its receiver, and carries the sender's term. */
export interface RpcEnvelope {
  readonly groupId: GroupId;
  readonly from: PeerId;
  readonly to: PeerId;
  readonly term: number;
}

/** Identifies a leader that is being replaced on purpose (leadership transfer). */
export interface DisruptedLeader {
  readonly peerId: PeerId;
  readonly term: number;
}

/**
 * RequestVote, also used for the pre-vote round. For a pre-vote, `term` is the term the
 * candidate would stand in (its own + 1) and nobody changes state on receiving it.
 */
export interface RequestVoteRequest extends RpcEnvelope {
  readonly preVote: boolean;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** Set when the election was asked for by the current leader (TimeoutNow). */
  readonly disruptedLeader?: DisruptedLeader;
}

export interface RequestVoteResponse {
  readonly term: number;
  readonly granted: boolean;
  /**
   * The leader the responder follows in `term`, when it refuses because that leader's lease
   * holds. A member that lags behind the configuration that added that leader learns of it
   * this way (it trusts the responder, a member it knows).
   */
  readonly leaderId?: PeerId;
}

export interface AppendEntriesRequest extends RpcEnvelope {
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly LogEntry[];
  readonly leaderCommit: number;
}

export interface AppendEntriesResponse {
  readonly term: number;
  readonly success: boolean;
  /** The follower's last log index when it answered: lets the leader skip back fast. */
  readonly lastLogIndex: number;
  /** On a term mismatch at prevLogIndex: the follower's term there ... */
  readonly conflictTerm?: number;
  /** ... and the first index the follower holds of that term. */
  readonly conflictIndex?: number;
}

/** One chunk of a snapshot; `offset` is the chunk's position in the snapshot's bytes. */
export interface InstallSnapshotRequest extends RpcEnvelope {
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
}

export interface InstallSnapshotResponse {
  readonly term: number;
  readonly success: boolean;
}

/** Sent by a leader that hands over leadership: the receiver starts an election at once. */
export type TimeoutNowRequest = RpcEnvelope;

export interface TimeoutNowResponse {
  readonly term: number;
  readonly success: boolean;
}

/** A follower asks its leader for a read index on behalf of a linearizable read. */
export type ReadIndexRequest = RpcEnvelope;

export interface ReadIndexResponse {
  readonly term: number;
  readonly success: boolean;
  readonly readIndex: number;
}

/** What a leader's endpoint proposes for one group it leads: stop heartbeating it. */
export interface QuiesceOffer {
  readonly groupId: GroupId;
  /** The leader's term. */
  readonly term: number;
  /** The leader's last log index and its term: the follower's log must end exactly there. */
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** The leader's commit index (equal to lastIndex: a group quiesces only fully committed). */
  readonly commitIndex: number;
}

/** A group quiesced between two endpoints, in the leader's term. */
export interface QuiescedGroup {
  readonly groupId: GroupId;
  readonly term: number;
}

/**
 * The node-level heartbeat (one per pair of endpoints and interval, whatever the number of
 * groups they share): proves the sender's endpoint alive, and carries quiescence.
 * `groupId` is {@link HOST_GROUP_ID} and `term` 0: it belongs to no group.
 */
export interface HostHeartbeatRequest extends RpcEnvelope {
  /** Groups the sender leads that it asks the receiver to quiesce. */
  readonly offers: readonly QuiesceOffer[];
  /** Groups the sender led quiesced with the receiver and has woken since its last beat. */
  readonly woken: readonly QuiescedGroup[];
  /**
   * How many groups the sender leads quiesced with the receiver (offers of this beat not
   * counted), and a digest of them: the receiver compares with what it quiesced.
   */
  readonly quiescedCount: number;
  readonly quiescedDigest: number;
  /** Every group of that count, sent when the receiver found the digests different. */
  readonly full?: readonly QuiescedGroup[];
}

export interface HostHeartbeatResponse {
  /** Always 0: the beat belongs to no group. */
  readonly term: number;
  /** Offers accepted (the receiver's group stopped its election timer). */
  readonly accepted: readonly GroupId[];
  /** The receiver's digest of what it quiesced under the sender differs: send the list. */
  readonly mismatch: boolean;
  /** Groups of the sender's list that the receiver has not quiesced: the sender wakes them. */
  readonly wake: readonly GroupId[];
}

/** The group id of node-level messages; no Raft group may use it (it is empty). */
export const HOST_GROUP_ID = '';

/** The RPCs of a Raft group, as in braft's RaftService. */
export interface RaftRpcMap {
  requestVote: { request: RequestVoteRequest; response: RequestVoteResponse };
  appendEntries: { request: AppendEntriesRequest; response: AppendEntriesResponse };
  installSnapshot: { request: InstallSnapshotRequest; response: InstallSnapshotResponse };
  timeoutNow: { request: TimeoutNowRequest; response: TimeoutNowResponse };
  readIndex: { request: ReadIndexRequest; response: ReadIndexResponse };
  /** Node-level, to {@link HOST_GROUP_ID}: served by a RaftHost, refused by a group. */
  hostHeartbeat: { request: HostHeartbeatRequest; response: HostHeartbeatResponse };
}

export type RpcMethod = keyof RaftRpcMap;
/** The RPCs every Raft group serves (all but the node-level heartbeat). */
export type GroupRpcMethod = Exclude<RpcMethod, 'hostHeartbeat'>;
export type RpcRequest<M extends RpcMethod> = RaftRpcMap[M]['request'];
export type RpcResponse<M extends RpcMethod> = RaftRpcMap[M]['response'];

/** Every RPC method, in a stable order (used by transports for dispatch tables). */
export const RPC_METHODS: readonly RpcMethod[] = [
  'requestVote',
  'appendEntries',
  'installSnapshot',
  'timeoutNow',
  'readIndex',
  'hostHeartbeat',
];

export function isRpcMethod(value: unknown): value is RpcMethod {
  return typeof value === 'string' && (RPC_METHODS as readonly string[]).includes(value);
}
