import type { ReplicatorStatus } from './replicator.js';
/** A peer's address on the transport: one transport endpoint, which may host many groups. */
export type PeerId = string;

/** A Raft group's id. One transport endpoint and one store can host many groups (multi-raft). */
export type GroupId = string;

/** What a log entry carries. */
export const EntryType = {
  /** Application data, handed to the state machine. */
  Data: 1,
  /** A configuration; a new leader's first entry is one, and doubles as the no-op of its term. */
  Configuration: 2,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** One entry of the replicated log. `index` and `term` are safe integers (below 2^53). */
export interface LogEntry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/**
 * A cluster membership. `oldVoters` is set only during a joint-consensus change
 * (Raft paper section 6): decisions then need a majority of both sets.
 * Learners receive the log but never vote and never count toward a quorum.
 */
export interface Configuration {
  readonly voters: readonly PeerId[];
  readonly oldVoters?: readonly PeerId[];
  readonly learners?: readonly PeerId[];
}

/** What a snapshot covers: everything up to and including `lastIncludedIndex`. */
export interface SnapshotMeta {
  readonly lastIncludedIndex: number;
  readonly lastIncludedTerm: number;
  readonly configuration: Configuration;
}

/** The role a node plays, as in braft's State. */
export type Role = 'follower' | 'candidate' | 'leader' | 'transferring' | 'error' | 'shutdown';

/** A snapshot of a node's state, for status pages and tests. */
export interface NodeStatus {
  readonly groupId: string;
  readonly peerId: PeerId;
  readonly role: Role;
  readonly term: number;
  readonly votedFor: PeerId | null;
  readonly leaderId: PeerId | undefined;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly firstLogIndex: number;
  /** The index the latest snapshot covers (0 without one). */
  readonly snapshotIndex: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly durableIndex: number;
  readonly configuration: Configuration;
  readonly pendingProposals: number;
  /**
   * Whether the group is quiesced here (on a RaftHost): a leader that stopped heartbeating an
   * idle group, or a follower that stopped its election timer under such a leader.
   */
  readonly quiesced: boolean;
  /** Per follower, on a leader only. */
  readonly peers: readonly ReplicatorStatus[];
}
