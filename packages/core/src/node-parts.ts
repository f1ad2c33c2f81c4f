import { BallotBox, type BallotBoxHost } from './ballot-box.js';
import type { ConfigurationManager } from './configuration.js';
import { ConfigurationChangeCtx, type ConfigurationChangeHost } from './configuration-change.js';
import type { RaftError } from './errors.js';
import { FSMCaller } from './fsm-caller.js';
import { LeaderWaiters } from './leader-waiters.js';
import { LeadershipTransfer, type TransferHost } from './leadership-transfer.js';
import { FollowerLease, LeaderLease } from './lease.js';
import { LogManager } from './log-manager.js';
import type { Logger } from './logger.js';
import { NodeMetrics } from './metrics.js';
import type { ResolvedOptions } from './options.js';
import { RaftMetaManager } from './raft-meta.js';
import { type ReadOnlyHost, ReadOnlyService } from './read-only-service.js';
import type { ReplicatorHost } from './replicator.js';
import { ReplicatorGroup } from './replicator-group.js';
import { RequestGate } from './request-gate.js';
import { SnapshotExecutor } from './snapshot-executor.js';
import type { StateMachine } from './state-machine.js';
import type { SnapshotReader } from './storage.js';
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
  /** A replicator had only a heartbeat to send for a whole interval. */
  onIdleHeartbeat(): void;
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
    quiesced: boolean;
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
    quiesced: node.quiesced,
    peers: leading ? p.replicators.statuses() : [],
  };
}

/**
 * What the components see of the node and of each other (the hosts of the ballot box, the
 * replicators, reads, transfer and membership changes): one object whose methods read the
 * components, rather than a closure per question, since a multi-raft process holds thousands
 * of nodes. It creates the components that need it to exist first.
 */
class NodeView<R>
  implements BallotBoxHost, ReplicatorHost, ReadOnlyHost, TransferHost, ConfigurationChangeHost
{
  readonly configurations: ConfigurationManager;
  readonly ballotBox: BallotBox;
  readonly replicators: ReplicatorGroup;
  readonly lease: LeaderLease;

  constructor(
    readonly options: ResolvedOptions<unknown>,
    readonly logger: Logger,
    readonly log: LogManager,
    readonly metrics: NodeMetrics,
    private readonly meta: RaftMetaManager,
    private readonly fsm: FSMCaller<R>,
    private readonly snapshots: SnapshotExecutor,
    private readonly node: NodeHooks<R>,
  ) {
    this.configurations = log.configurations;
    this.ballotBox = new BallotBox(this);
    this.replicators = new ReplicatorGroup(this, options.peerId);
    this.lease = new LeaderLease(options, this.replicators);
  }

  latestConfiguration(): Configuration {
    return this.log.latestConfiguration();
  }
  matchIndexOf(peer: PeerId): number {
    return peer === this.options.peerId ? this.log.durableIndex : this.replicators.matchIndex(peer);
  }
  commitIndex(): number {
    return this.ballotBox.commitIndex;
  }
  appliedIndex(): number {
    return this.fsm.appliedIndex;
  }
  lastLogIndex(): number {
    return this.log.lastIndex;
  }
  term(): number {
    return this.meta.term;
  }
  openSnapshot(): Promise<SnapshotReader | null> {
    return this.snapshots.openLatest();
  }
  role(): Role {
    return this.node.role();
  }
  leaderId(): PeerId | undefined {
    return this.node.leaderId();
  }
  leaderStarted(): boolean {
    return this.node.leaderStarted();
  }
  onMatch(peer: PeerId): void {
    this.node.onMatch(peer);
  }
  onAck(): void {
    this.node.onAck();
  }
  onHigherTerm(term: number, from: PeerId): void {
    this.node.onHigherTerm(term, from);
  }
  onIdleHeartbeat(): void {
    this.node.onIdleHeartbeat();
  }
  setTransferring(on: boolean): void {
    this.node.setTransferring(on);
  }
  appendConfiguration(conf: Configuration): number {
    return this.node.appendConfiguration(conf);
  }
  syncReplicators(): void {
    this.node.syncReplicators();
  }
  stepDownRemoved(): void {
    this.node.stepDownRemoved();
  }
}

/**
 * Creates a node's components and wires them to each other and to the node: every arrow
 * between two components is in this one function (and in {@link NodeView}), and each
 * component sees only its host interface.
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
  const view = new NodeView<R>(options, o.logger, log, metrics, meta, fsm, snapshots, node);
  return {
    meta,
    log,
    fsm,
    snapshots,
    ballotBox: view.ballotBox,
    replicators: view.replicators,
    followerLease: new FollowerLease(options),
    leaderLease: view.lease,
    gate: new RequestGate(o.peerId, log.configurations),
    reads: new ReadOnlyService(view),
    transfer: new LeadershipTransfer(view),
    confChange: new ConfigurationChangeCtx(view),
    leaderWaiters: new LeaderWaiters(o.clock, node.readyLeader),
    metrics,
  };
}
