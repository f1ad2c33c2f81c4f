import { BallotBox } from './ballot-box.js';
import { ConfigurationChangeCtx } from './configuration-change.js';
import type { RaftError } from './errors.js';
import { FSMCaller } from './fsm-caller.js';
import { LeaderWaiters } from './leader-waiters.js';
import { LeadershipTransfer } from './leadership-transfer.js';
import { FollowerLease, LeaderLease } from './lease.js';
import { LogManager } from './log-manager.js';
import { NodeMetrics } from './metrics.js';
import type { ResolvedOptions } from './options.js';
import { RaftMetaManager } from './raft-meta.js';
import { ReadOnlyService } from './read-only-service.js';
import { ReplicatorGroup } from './replicator-group.js';
import { RequestGate } from './request-gate.js';
import { SnapshotExecutor } from './snapshot-executor.js';
import type { StateMachine } from './state-machine.js';
import type { Configuration, LogEntry, NodeStatus, PeerId, Role } from './types.js';

/** What the components ask of the node itself: its state, and the changes only it makes. */
export interface NodeHooks<R> {
  role(): Role;
  leaderId(): PeerId | undefined;
  /** Whether this leader's first entry of its term is applied. */
  leaderStarted(): boolean;
  /** The leader to tell `waitForLeader` callers about, if any. */
  readyLeader(): PeerId | undefined;
  /** Own storage or state machine failed: the node stops. */
  enterError(error: RaftError): void;
  /** Entries became durable on this node's disk. */
  onDurable(): void;
  onApplied(data: readonly LogEntry[], results: readonly R[] | undefined, last: number): void;
  onConfigurationApplied(entry: LogEntry): void;
  /** A follower's replica moved. */
  onMatch(peer: PeerId): void;
  /** A follower answered an RPC of this term. */
  onAck(): void;
  /** A peer is in a later term. */
  onHigherTerm(term: number, from: PeerId): void;
  /** Enter or leave the `transferring` role. */
  setTransferring(on: boolean): void;
  appendConfiguration(conf: Configuration): number;
  syncReplicators(): void;
  /** The leader was removed by a committed configuration. */
  stepDownRemoved(): void;
}

/** The components of one node (braft's NodeImpl::init creates the same set). */
export interface NodeParts<R> {
  readonly meta: RaftMetaManager;
  readonly log: LogManager;
  readonly fsm: FSMCaller<R>;
  readonly snapshots: SnapshotExecutor;
  readonly ballotBox: BallotBox;
  readonly replicators: ReplicatorGroup;
  readonly followerLease: FollowerLease;
  readonly leaderLease: LeaderLease;
  readonly gate: RequestGate;
  readonly reads: ReadOnlyService;
  readonly transfer: LeadershipTransfer;
  readonly confChange: ConfigurationChangeCtx;
  readonly leaderWaiters: LeaderWaiters;
  readonly metrics: NodeMetrics;
}

/** The node's status: what its components know, and the node's own role and leader. */
export function statusOf<R>(
  p: NodeParts<R>,
  node: {
    groupId: string;
    peerId: PeerId;
    role: Role;
    leaderId: PeerId | undefined;
    pendingProposals: number;
  },
): NodeStatus {
  const leading = node.role === 'leader' || node.role === 'transferring';
  return {
    groupId: node.groupId,
    peerId: node.peerId,
    role: node.role,
    term: p.meta.term,
    votedFor: p.meta.votedFor,
    leaderId: node.leaderId,
    commitIndex: p.ballotBox.commitIndex,
    appliedIndex: p.fsm.appliedIndex,
    firstLogIndex: p.log.firstIndex,
    snapshotIndex: p.log.snapshotLastIndex,
    lastLogIndex: p.log.lastIndex,
    lastLogTerm: p.log.lastLogTerm,
    durableIndex: p.log.durableIndex,
    configuration: p.log.latestConfiguration(),
    pendingProposals: node.pendingProposals,
    peers: leading ? p.replicators.statuses() : [],
  };
}

/**
 * Creates a node's components and wires them to each other and to the node: every arrow
 * between two components is in this one function, and each component sees only its host
 * interface.
 */
export function createNodeParts<R>(o: ResolvedOptions<R>, node: NodeHooks<R>): NodeParts<R> {
  const options = o as ResolvedOptions<unknown>;
  const sm = o.stateMachine;
  // Without a sink, metrics keep no state: every such node shares one (no per-group objects).
  const metrics =
    o.metrics === undefined ? NodeMetrics.none : new NodeMetrics(o.metrics, o.groupId, o.clock);
  const meta = new RaftMetaManager(o.metaStorage, node.enterError, metrics);
  const log = new LogManager({
    storage: o.logStorage,
    initialConfiguration: {
      index: 0,
      term: 0,
      configuration: o.initialConfiguration ?? { voters: [] },
    },
    onDurable: node.onDurable,
    onStorageError: node.enterError,
    metrics,
  });
  const fsm = new FSMCaller<R>(
    log,
    sm,
    o.applyBatchSize,
    {
      onApplied: node.onApplied,
      onConfigurationApplied: node.onConfigurationApplied,
      onError: node.enterError,
    },
    metrics,
  );
  const snapshots = new SnapshotExecutor({
    storage: o.snapshotStorage,
    stateMachine: sm as StateMachine<unknown>,
    log,
    fsm: fsm as FSMCaller<unknown>,
    logger: o.logger,
    logMargin: o.snapshotLogMargin,
    clock: o.clock,
    random: o.random,
    intervalMs: o.snapshotIntervalMs,
    metrics,
  });
  const ballotBox: BallotBox = new BallotBox({
    latestConfiguration: () => log.latestConfiguration(),
    matchIndexOf: (p) => (p === o.peerId ? log.durableIndex : replicators.matchIndex(p)),
  });
  const replicators: ReplicatorGroup = new ReplicatorGroup(
    {
      options,
      log,
      commitIndex: () => ballotBox.commitIndex,
      onMatch: node.onMatch,
      onAck: node.onAck,
      onHigherTerm: node.onHigherTerm,
      openSnapshot: () => snapshots.openLatest(),
      metrics,
    },
    o.peerId,
  );
  const leaderLease = new LeaderLease(options, replicators);
  // What the leader-side components see of the node: one view, each takes its part.
  const view = {
    options,
    logger: o.logger,
    replicators,
    lease: leaderLease,
    configurations: log.configurations,
    role: node.role,
    term: () => meta.term,
    leaderId: node.leaderId,
    commitIndex: () => ballotBox.commitIndex,
    appliedIndex: () => fsm.appliedIndex,
    lastLogIndex: () => log.lastIndex,
    latestConfiguration: () => log.latestConfiguration(),
    leaderStarted: node.leaderStarted,
    setTransferring: node.setTransferring,
    onHigherTerm: node.onHigherTerm,
    appendConfiguration: node.appendConfiguration,
    syncReplicators: node.syncReplicators,
    stepDownRemoved: node.stepDownRemoved,
  };
  return {
    meta,
    log,
    fsm,
    snapshots,
    ballotBox,
    replicators,
    followerLease: new FollowerLease(options),
    leaderLease,
    gate: new RequestGate(o.peerId, log.configurations),
    reads: new ReadOnlyService(view),
    transfer: new LeadershipTransfer(view),
    confChange: new ConfigurationChangeCtx(view),
    leaderWaiters: new LeaderWaiters(o.clock, node.readyLeader),
    metrics,
  };
}
