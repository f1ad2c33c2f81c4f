import type { BallotBox } from './ballot-box.js';
import { allPeers, hasQuorum, isVoter } from './configuration.js';
import type { ConfigurationChangeCtx } from './configuration-change.js';
import { type ElectionAdmission, electionAdmissionOf } from './election-admission.js';
import { ElectionTimer } from './election-timer.js';
import {
  AbortedError,
  BadRequestError,
  BusyError,
  InternalError,
  LeaderSteppedDownError,
  NotLeaderError,
  RaftError,
  ShutdownError,
  TermMismatchError,
  TransferInProgressError,
  toRaftError,
} from './errors.js';
import { type NodeEvents, TypedEmitter } from './events.js';
import type { FSMCaller } from './fsm-caller.js';
import type { LeaderWaiters, WaitOptions } from './leader-waiters.js';
import type { LeadershipTransfer } from './leadership-transfer.js';
import { CHECK_QUORUM_WINDOW_TIMEOUTS, type FollowerLease, type LeaderLease } from './lease.js';
import type { LogManager } from './log-manager.js';
import type { Logger } from './logger.js';
import type {
  AppendEntriesRequest,
  AppendEntriesResponse,
  DisruptedLeader,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  QuiesceOffer,
  ReadIndexRequest,
  ReadIndexResponse,
  RequestVoteRequest,
  RequestVoteResponse,
  TimeoutNowRequest,
  TimeoutNowResponse,
} from './messages.js';
import { createNodeParts, type NodeHooks, type NodeParts, statusOf } from './node-parts.js';
import { type NodeOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type ApplyOptions, type ApplyResult, ProposalQueue } from './proposals.js';
import { Quiescence, type QuiescenceNode } from './quiescence.js';
import { preferredLeaderOf } from './raft-host.js';
import type { RaftMetaManager } from './raft-meta.js';
import type { ReadOnlyService, ReadOptions } from './read-only-service.js';
import type { ReplicatorGroup } from './replicator-group.js';
import { MAX_TERM, type RequestGate } from './request-gate.js';
import type { InstallOutcome, SnapshotExecutor } from './snapshot-executor.js';
import type { StateMachine } from './state-machine.js';
import { RaftTimer } from './timer.js';
import { Transitions } from './transitions.js';
import type { RpcHandler } from './transport.js';
import {
  type Configuration,
  EntryType,
  type LogEntry,
  type NodeStatus,
  type PeerId,
  type Role,
  type SnapshotMeta,
} from './types.js';
import { VoteRound } from './vote-round.js';

/** A leader quiesces once its log has not grown for this many heartbeat intervals. */
const QUIESCE_AFTER_HEARTBEATS = 2;

/**
 * One member of one Raft group (braft's NodeImpl): lifecycle, roles, timers, election and
 * RPC dispatch. The rest is delegated to one component each: {@link RaftMetaManager} (term and
 * vote), {@link BallotBox} (commit index), {@link ReplicatorGroup}, {@link ReadOnlyService},
 * {@link LeadershipTransfer}, {@link ConfigurationChangeCtx}, {@link LogManager},
 * {@link FSMCaller} and {@link SnapshotExecutor}. Users hold a `RaftNode`, the public face
 * of this class.
 *
 * Election: the election timer (follower) fires a random time in [T, T + electionJitter·T)
 * after the last contact with a leader and starts a pre-vote; a won pre-vote leads to
 * elect-self (or to standing aside for a peer already standing), which persists the new
 * term and the self-vote before any RequestVote leaves; a won vote leads to becomeLeader,
 * which starts one Replicator per peer and appends a configuration entry of the new term
 * (Raft's no-op). The vote timer (candidate) gives up; the stepdown timer checks quorum.
 *
 * Everything runs on one event loop: the state changes between two awaits are atomic,
 * and every handler re-checks its term after it waited for storage.
 */
/** Election timeouts a fresh group's node waits for its preferred voter to stand first. */
const MAX_DEFERRALS_TO_PREFERRED = 8;

export class NodeImpl<R = unknown> extends TypedEmitter<NodeEvents> {
  readonly options: ResolvedOptions<unknown>;
  readonly log: LogManager;
  private readonly sm: StateMachine<R>;
  private readonly fsm: FSMCaller<R>;
  private readonly proposals: ProposalQueue<R>;
  private readonly logger: Logger;
  private readonly self: PeerId;
  private readonly meta: RaftMetaManager;
  private readonly ballotBox: BallotBox;
  private readonly replicators: ReplicatorGroup;
  private readonly reads: ReadOnlyService;
  private readonly transfer: LeadershipTransfer;
  private readonly confChange: ConfigurationChangeCtx;
  private readonly snapshots: SnapshotExecutor;
  private readonly leaderWaiters: LeaderWaiters;
  private readonly gate: RequestGate;
  private readonly followerLease: FollowerLease;
  private readonly leaderLease: LeaderLease;

  private roleValue: Role = 'follower';
  private leaderId: PeerId | undefined;
  private started = false;
  private shutdownPromise: Promise<void> | undefined;
  private releaseProcess: (() => void) | undefined;

  /** Bumped by every new election round and every step-down: stale responses are dropped. */
  private electionVersion = 0;
  /** The round of (pre-)votes under way, which asks again those that have not answered. */
  private round: VoteRound | undefined;
  /** The election slots of this node's endpoint, shared with the other groups on it. */
  private readonly admission: ElectionAdmission;
  /** Whether this leader's first entry of its term is applied (so its commit index is current). */
  private leaderStarted = false;

  private readonly transitions = new Transitions((error) =>
    this.logger.error('state machine callback threw', { error: String(error) }),
  );

  private readonly electionTimer: ElectionTimer;
  private readonly voteTimer: RaftTimer;
  private readonly stepdownTimer: RaftTimer;
  private unserve: (() => void) | undefined;
  private readonly parts: NodeParts<R>;
  /** Quiescence of this group, when it runs on a RaftHost. */
  private readonly quiescence: Quiescence | undefined;
  /** The peers registered with the host (the latest configuration's, this node excluded). */
  private hostPeers: readonly PeerId[] = [];
  /** Election timeouts this fresh group's node let pass for its preferred leader (RaftHost). */
  private deferredToPreferred = 0;
  /** Whether this node waits in its endpoint's queue for an election slot. */
  private waitingForSlot = false;
  /** The leader's last index when it was last seen to change, and when: idle since then. */
  private idleIndex = -1;
  private idleSince = 0;

  constructor(options: NodeOptions<R>) {
    super();
    const resolved = resolveOptions(options);
    this.options = resolved as ResolvedOptions<unknown>;
    this.sm = resolved.stateMachine;
    this.self = resolved.peerId;
    this.logger = resolved.logger;
    const parts = createNodeParts<R>(resolved, new NodeImpl.Hooks<R>(this));
    this.meta = parts.meta;
    this.log = parts.log;
    this.fsm = parts.fsm;
    this.snapshots = parts.snapshots;
    this.ballotBox = parts.ballotBox;
    this.replicators = parts.replicators;
    this.followerLease = parts.followerLease;
    this.leaderLease = parts.leaderLease;
    this.gate = parts.gate;
    this.reads = parts.reads;
    this.transfer = parts.transfer;
    this.confChange = parts.confChange;
    this.leaderWaiters = parts.leaderWaiters;
    this.proposals = new ProposalQueue<R>(parts.metrics);
    this.parts = parts;
    const clock = resolved.clock;
    this.electionTimer = new ElectionTimer(this.options, () => this.handleElectionTimeout());
    this.admission = electionAdmissionOf(resolved.transport);
    this.voteTimer = new RaftTimer(clock, () => this.handleVoteTimeout());
    this.stepdownTimer = new RaftTimer(clock, () => this.handleStepdownTimeout());
    const host = resolved.host;
    this.quiescence =
      host === undefined
        ? undefined
        : new Quiescence(resolved.groupId, host, new NodeImpl.QuiescenceHooks<R>(this));
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.started || this.shutdownPromise) throw new BadRequestError('node already started');
    await this.meta.load();
    const snapshotIndex = await this.snapshots.restore();
    if (snapshotIndex !== undefined) this.ballotBox.advanceTo(snapshotIndex);
    if (this.log.latestConfiguration().voters.length === 0) {
      this.logger.info('no configuration yet: waiting to be contacted by a leader');
    }
    // shutdown() may have been called while storage was loading: then stay stopped.
    if (this.shutdownPromise) return;
    this.unserve = this.options.transport.serve(this.options.groupId, this.rpcHandler());
    if (this.quiescence && this.options.host) {
      this.hostPeers = this.peersOfConfiguration();
      this.options.host.register(this.quiescence, this.hostPeers);
    }
    this.started = true;
    if (this.options.keepAlive) this.releaseProcess = this.options.clock.hold?.();
    // A new group's preferred voter stands first; a restarted one waits as usual (its leader's
    // endpoint will offer it quiescence within a beat).
    const fresh = this.log.lastIndex === 0 && this.meta.term === 0;
    if (fresh && this.options.host?.balance && this.preferredLeader() === this.self) {
      this.electionTimer.armPreferred();
    } else {
      this.electionTimer.arm();
    }
    this.snapshots.startTimer(() => this.snapshot());
    this.logger.info('started', { term: this.meta.term, lastIndex: this.log.lastIndex });
  }

  get role(): Role {
    return this.roleValue;
  }
  get term(): number {
    return this.meta.term;
  }
  get leader(): PeerId | undefined {
    return this.leaderId;
  }
  get id(): PeerId {
    return this.self;
  }
  get commitIndex(): number {
    return this.ballotBox.commitIndex;
  }
  get appliedIndex(): number {
    return this.fsm.appliedIndex;
  }

  /** Whether this group is quiesced here (leader: fully, not only offered; or follower). */
  get quiesced(): boolean {
    const q = this.quiescence;
    return q !== undefined && (q.leaderQuiesced || q.quiescedUnder !== undefined);
  }

  shutdown(): Promise<void> {
    if (this.shutdownPromise) return this.shutdownPromise;
    this.shutdownPromise = this.doShutdown();
    return this.shutdownPromise;
  }

  private async doShutdown(): Promise<void> {
    const error = new ShutdownError();
    this.transitions.run(() => {
      this.electionVersion++;
      if (this.isLeaderRole()) this.stopLeading(error);
      this.stopTimers();
      this.unserve?.();
      this.unserve = undefined;
      this.leaveHost();
      this.proposals.failAll(error);
      this.reads.shutdown(error);
      this.leaderWaiters.rejectAll(error);
      if (this.leaderId !== undefined && this.leaderId !== this.self) this.setLeader(undefined);
      this.setRole('shutdown');
    });
    this.releaseProcess?.();
    this.releaseProcess = undefined;
    await this.fsm.stop();
    await this.snapshots.abortReceiving();
    await this.log.whenIdle();
    if (this.meta.pending) await this.meta.pending.catch(() => {});
    this.log.close(error);
    if (this.started) this.transitions.defer(() => this.sm.onShutdown?.());
  }

  status(): NodeStatus {
    return statusOf(this.parts, {
      groupId: this.options.groupId,
      peerId: this.self,
      role: this.roleValue,
      leaderId: this.leaderId,
      pendingProposals: this.proposals.size,
      quiesced: this.quiesced,
    });
  }

  /** Resolves with the leader's id once a leader is known (this node: once it can serve). */
  waitForLeader(options: WaitOptions = {}): Promise<PeerId> {
    const stopped = this.shutdownPromise !== undefined || this.roleValue === 'error';
    return this.leaderWaiters.wait(options, stopped);
  }

  // ---------------------------------------------------------------- proposals and reads

  apply(data: Uint8Array, options: ApplyOptions = {}): Promise<ApplyResult<R>> {
    if (!(data instanceof Uint8Array)) {
      return this.proposals.refuse(new BadRequestError('data must be a Uint8Array'));
    }
    const refusal = this.proposalRefusal(options);
    if (refusal) return this.proposals.refuse(refusal);
    this.quiescence?.wakeLeader('a proposal');
    const term = this.meta.term;
    const index = this.log.lastIndex + 1;
    const entry: LogEntry = { index, term, type: EntryType.Data, data };
    this.log.appendLocal([entry]);
    this.scheduleReplicate();
    return this.proposals.track(index, term, options.signal);
  }

  readIndex(options: ReadOptions = {}): Promise<number> {
    try {
      this.checkRunning();
    } catch (error) {
      return Promise.reject(error);
    }
    this.quiescence?.wakeLeader('a read');
    return this.reads.read(options);
  }

  transferLeadership(target?: PeerId): Promise<void> {
    this.quiescence?.wakeLeader('a leadership transfer');
    return this.transfer.start(target);
  }

  changeConfiguration(target: Configuration, options: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.started || this.shutdownPromise) return Promise.reject(new ShutdownError());
    this.quiescence?.wakeLeader('a configuration change');
    return this.confChange.start(target, options);
  }

  async snapshot(): Promise<SnapshotMeta | undefined> {
    this.checkRunning();
    const meta = await this.snapshots.save();
    if (meta) this.notify('snapshotSaved', { meta });
    return meta;
  }

  private proposalRefusal(options: ApplyOptions): RaftError | undefined {
    if (!this.started || this.shutdownPromise) return new ShutdownError();
    if (this.roleValue === 'transferring') return new TransferInProgressError();
    if (this.roleValue !== 'leader') return new NotLeaderError(this.leaderId);
    if (options.expectedTerm !== undefined && options.expectedTerm !== this.meta.term) {
      return new TermMismatchError(options.expectedTerm, this.meta.term);
    }
    if (this.proposals.size >= this.options.maxPendingProposals) return new BusyError();
    if (options.signal?.aborted) return new AbortedError();
    return undefined;
  }

  private onApplied(
    data: readonly LogEntry[],
    results: readonly R[] | undefined,
    last: number,
  ): void {
    this.proposals.settleApplied(data, results);
    this.afterApply(last);
  }

  private onConfigurationApplied(entry: LogEntry): void {
    this.updateHostPeers();
    const conf = this.log.configurations.at(entry.index).configuration;
    this.transitions.defer(() => this.sm.onConfigurationCommitted?.(conf, entry.index));
    if (
      entry.index === this.ballotBox.leaderStartIndex &&
      this.isLeaderRole() &&
      entry.term === this.meta.term
    ) {
      this.leaderStarted = true;
      const term = this.meta.term;
      this.transitions.defer(() => this.sm.onLeaderStart?.(term));
      this.reads.onLeaderStarted();
      this.leaderWaiters.check();
    }
    this.afterApply(entry.index);
  }

  private afterApply(applied: number): void {
    this.reads.onApplied(applied);
    // Keep in memory what a follower may still need, within bounds.
    this.log.releaseMemory(
      this.isLeaderRole() ? this.replicators.memoryFloor(applied, this.log.memoryBytes) : applied,
    );
  }

  // ---------------------------------------------------------------- RPC handlers

  /** What the transport calls for requests to this group. */
  rpcHandler(): RpcHandler {
    // Every request passes the gate first: malformed or from a stranger, it touches nothing.
    return this.gate.guard(() => this.checkRunning(), new NodeImpl.Handlers(this));
  }

  async handleRequestVote(req: RequestVoteRequest): Promise<RequestVoteResponse> {
    this.checkRunning();
    // A member is looking for a leader: a quiesced leader heartbeats again.
    this.quiescence?.wakeLeader('a vote request');
    const lastTerm = this.log.lastLogTerm;
    const upToDate =
      req.lastLogTerm > lastTerm ||
      (req.lastLogTerm === lastTerm && req.lastLogIndex >= this.log.lastIndex);
    const inLease = this.inLease(req.disruptedLeader);
    // Refused for a live leader's lease: name it, so that a member lagging behind the
    // configuration that added it learns of it (RequestGate.vouch).
    const leaderId = inLease && this.leaderId !== undefined ? { leaderId: this.leaderId } : {};
    if (req.preVote) {
      // A pre-vote changes nothing here: it only asks whether we would vote.
      const granted = req.term > this.meta.term && upToDate && !inLease;
      if (granted) this.electionTimer.preVoteGranted(req.from);
      return { term: this.meta.term, granted, ...leaderId };
    }
    // Raft paper section 6: within the lease of a live leader, a vote request neither
    // raises our term nor gets our vote, so a rejoining server cannot depose that leader.
    if (req.term < this.meta.term || inLease) {
      return { term: this.meta.term, granted: false, ...leaderId };
    }
    if (req.term > this.meta.term)
      this.stepDown(req.term, 'vote request of a later term', undefined);
    const term = this.meta.term;
    let granted = false;
    const votedFor = this.meta.votedFor;
    if (upToDate && (votedFor === null || votedFor === req.from)) {
      granted = true;
      if (votedFor !== req.from) void this.meta.set(term, req.from);
      this.followerLease.onVoteGranted();
    }
    await this.meta.pending;
    return { term, granted };
  }

  async handleAppendEntries(req: AppendEntriesRequest): Promise<AppendEntriesResponse> {
    this.checkRunning();
    if (!this.followLeader(req, 'AppendEntries')) return this.rejectAppend();
    // Entries, or a commit index this follower lacks: the leader is awake, so is this follower.
    // (An empty heartbeat sent just before the leader saw the follower accept changes nothing.)
    if (
      this.quiescence?.quiescedUnder !== undefined &&
      (req.entries.length > 0 || req.leaderCommit > this.ballotBox.commitIndex)
    ) {
      this.quiescence.wakeFollower(this.options.clock.now());
    }
    const prevTerm = this.log.termAt(req.prevLogIndex);
    // An index inside our snapshot, at or below our commit index, holds what every leader
    // holds there (leader completeness): it matches without a term to compare.
    const inSnapshot =
      prevTerm === undefined &&
      req.prevLogIndex < this.log.firstIndex &&
      req.prevLogIndex <= this.ballotBox.commitIndex;
    if (prevTerm === undefined && !inSnapshot) return this.rejectAppend();
    if (prevTerm !== undefined && prevTerm !== req.prevLogTerm) {
      return this.rejectAppend(prevTerm, this.log.firstIndexOfTerm(prevTerm));
    }
    try {
      this.log.appendReplicated(req.prevLogIndex, req.entries, this.ballotBox.commitIndex);
    } catch (error) {
      // Only a leader that broke a safety rule (or a forged request) asks to overwrite a
      // committed entry: refuse it and keep what this node committed.
      this.logger.error('AppendEntries refused', { from: req.from, error: String(error) });
      throw new BadRequestError(`refused: ${RaftError.is(error) ? error.message : String(error)}`);
    }
    const matched = req.prevLogIndex + req.entries.length;
    const newCommit = Math.min(req.leaderCommit, matched);
    if (this.ballotBox.advanceTo(newCommit)) this.fsm.setCommitted(newCommit);
    if (this.meta.pending) await this.meta.pending;
    if (this.meta.term !== req.term) return this.rejectAppend();
    const durable = this.log.waitDurable(matched);
    if (durable) {
      try {
        await durable;
      } catch {
        // The entries were truncated by a later leader before they reached the disk.
        return this.rejectAppend();
      }
    }
    if (this.meta.term !== req.term) return this.rejectAppend();
    return { term: this.meta.term, success: true, lastLogIndex: this.log.lastIndex };
  }

  /**
   * The sender of an AppendEntries or InstallSnapshot claims to lead: false if it cannot
   * (an older term), else this node follows it, in its term, and renews its lease.
   */
  private followLeader(req: { term: number; from: PeerId }, rpc: string): boolean {
    if (req.term < this.meta.term) return false;
    if (this.isLeaderRole() && req.term === this.meta.term) {
      // Two leaders in one term cannot happen unless a safety rule was broken.
      this.logger.error(`${rpc} from another leader of my term`, {
        from: req.from,
        term: req.term,
      });
      return false;
    }
    if (req.term > this.meta.term || this.roleValue !== 'follower' || this.leaderId !== req.from) {
      this.stepDown(req.term, `${rpc} from the leader`, req.from);
    }
    this.followerLease.renew();
    return true;
  }

  async handleInstallSnapshot(req: InstallSnapshotRequest): Promise<InstallSnapshotResponse> {
    this.checkRunning();
    if (!this.followLeader(req, 'InstallSnapshot')) return { term: this.meta.term, success: false };
    this.quiescence?.wakeFollower(this.options.clock.now());
    if (this.meta.pending) await this.meta.pending;
    const term = this.meta.term;
    let outcome: InstallOutcome;
    try {
      outcome = await this.snapshots.receive(req, () => this.ballotBox.commitIndex);
    } catch (error) {
      // This node's own snapshot storage failed (what a peer sends cannot get here): going
      // on could apply entries to a state that is not the one they follow (braft: fatal).
      const e = toRaftError(error, 'STORAGE');
      this.enterError(e);
      throw e;
    }
    if (outcome.kind === 'unloadable') {
      this.logger.error('snapshot refused', { reason: outcome.reason, from: req.from });
      throw new BadRequestError(`snapshot refused: ${outcome.reason}`);
    }
    if (outcome.kind === 'rejected') {
      this.logger.warn('snapshot chunk refused', { reason: outcome.reason, from: req.from });
      return { term: this.meta.term, success: false };
    }
    if (outcome.kind === 'installed') {
      const meta = outcome.meta;
      const index = meta.lastIncludedIndex;
      this.ballotBox.advanceTo(index);
      this.fsm.setCommitted(this.ballotBox.commitIndex);
      this.transitions.defer(() => this.sm.onConfigurationCommitted?.(meta.configuration, index));
      // Reads waiting for the applied index, and the memory floor, move with the install.
      this.afterApply(index);
      this.notify('snapshotInstalled', { meta });
    }
    return { term, success: this.meta.term === term };
  }

  async handleTimeoutNow(req: TimeoutNowRequest): Promise<TimeoutNowResponse> {
    this.checkRunning();
    const term = this.meta.term;
    if (req.term !== term || this.roleValue !== 'follower' || this.leaderId !== req.from) {
      return { term, success: false };
    }
    // The leader hands over: elect ourselves at once, naming it as the disrupted leader so
    // that followers still in its lease vote for us anyway.
    const started = this.electSelf({ peerId: req.from, term });
    await this.meta.pending;
    return { term, success: started };
  }

  handleReadIndex(req: ReadIndexRequest): Promise<ReadIndexResponse> {
    this.checkRunning();
    this.quiescence?.wakeLeader('a follower read');
    return this.reads.serve(req);
  }

  private rejectAppend(
    conflictTerm?: number,
    conflictIndex?: number,
  ): Promise<AppendEntriesResponse> {
    const response: AppendEntriesResponse = {
      term: this.meta.term,
      success: false,
      lastLogIndex: this.log.lastIndex,
      ...(conflictTerm !== undefined ? { conflictTerm } : {}),
      ...(conflictIndex !== undefined ? { conflictIndex } : {}),
    };
    // Never reveal a term that is not yet durable.
    const pending = this.meta.pending;
    return pending ? pending.then(() => response) : Promise.resolve(response);
  }

  // ---------------------------------------------------------------- election

  private handleElectionTimeout(): void {
    this.transitions.run(() => this.onElectionTimeout());
  }

  private onElectionTimeout(): void {
    if (this.roleValue !== 'follower' || this.quiescence?.quiescedUnder !== undefined) return;
    const now = this.options.clock.now();
    const since = this.followerLease.lastActivity;
    if (now - since < this.options.electionTimeoutMs) {
      // Heard from the leader (or voted) lately: wait for the rest of a randomized period
      // from that moment, not a whole new period from now (braft issue #481).
      this.electionTimer.arm(since);
      return;
    }
    if (this.leaderId !== undefined) this.setLeader(undefined);
    this.electionTimer.arm(now);
    if (this.deferToPreferred()) return;
    this.preVote();
  }

  /**
   * A group that has never held an election (term 0, empty log) on a balancing host leaves
   * its first elections to its preferred voter while that voter's endpoint beats: when
   * thousands of groups start together, a node that is not preferred standing for them would
   * win some, and each such win costs a leadership transfer later. Bounded: after
   * {@link MAX_DEFERRALS_TO_PREFERRED} timeouts it stands anyway. Timers only: no vote or
   * message changes.
   */
  private deferToPreferred(): boolean {
    const host = this.options.host;
    if (
      !host?.balance ||
      this.meta.term !== 0 ||
      this.log.lastIndex !== 0 ||
      this.deferredToPreferred >= MAX_DEFERRALS_TO_PREFERRED
    ) {
      return false;
    }
    const preferred = this.preferredLeader();
    if (preferred === undefined || preferred === this.self || !host.isAlive(preferred))
      return false;
    this.deferredToPreferred++;
    return true;
  }

  /** Whether a live leader's lease forbids voting for someone else now. */
  private inLease(disrupted: DisruptedLeader | undefined): boolean {
    if (
      disrupted !== undefined &&
      disrupted.peerId === this.leaderId &&
      disrupted.term === this.meta.term
    ) {
      return false;
    }
    if (this.isLeaderRole()) return true;
    if (this.roleValue !== 'follower' || this.leaderId === undefined) return false;
    // Quiesced: the leader is taken for alive while its endpoint beats (a stricter refusal
    // than the lease alone; it ends an election timeout after the endpoint's last beat).
    const under = this.quiescence?.quiescedUnder;
    if (under !== undefined && this.options.host?.isAlive(under)) return true;
    return this.followerLease.valid;
  }

  /** Asks the voters whether they would vote for us in term + 1, changing nothing yet. */
  private preVote(): void {
    const conf = this.log.latestConfiguration();
    const term = this.meta.term;
    // The round before this one is over: its slot is free for this one.
    this.round?.stop();
    if (!this.admission.tryEnter()) {
      // As many elections run on this endpoint as it can carry: wait for a slot (in line with
      // the endpoint's other groups), then time out again. No timer meanwhile: the slot comes.
      this.electionTimer.stop();
      if (!this.waitingForSlot) {
        this.waitingForSlot = true;
        this.admission.wait(() => {
          this.waitingForSlot = false;
          this.handleElectionTimeout();
        });
      }
      return;
    }
    if (!isVoter(conf, this.self)) {
      // A learner does not stand, but it asks who leads (a pre-vote changes nothing).
      if (conf.voters.length === 0) this.admission.leave();
      else {
        const round = this.newRound(conf, term + 1);
        round.holdSlot(this.admission, this.electionTimer.dueAt);
        round.solicit(this.log, true, undefined, this.electionTimer.dueAt, (_peer, response) =>
          this.learnLeader(response),
        );
      }
      return;
    }
    const round = this.newRound(conf, term + 1);
    round.holdSlot(this.admission, this.electionTimer.dueAt);
    if (round.won) {
      this.electSelf();
      return;
    }
    this.logger.debug('pre-vote', { term: term + 1 });
    // The round lives until the election timer fires again.
    round.solicit(this.log, true, undefined, this.electionTimer.dueAt, (peer, response) =>
      this.handlePreVoteResponse(peer, term, round, response),
    );
  }

  private handlePreVoteResponse(
    peer: PeerId,
    term: number,
    round: VoteRound,
    response: RequestVoteResponse,
  ): void {
    this.learnLeader(response);
    const stale = round.version !== this.electionVersion || term !== this.meta.term;
    if (stale || this.roleValue !== 'follower') return;
    if (response.term > this.meta.term) {
      this.stepDown(response.term, 'pre-vote answered with a later term', undefined);
      return;
    }
    if (!response.granted || !round.grant(peer)) return;
    if (this.electionTimer.standAside(this.self, term)) {
      // A peer with a smaller id is standing: no later grant of this round may elect us.
      round.stop();
      this.electionVersion++;
    } else this.electSelf();
  }

  /** A voter answered naming the leader whose lease it keeps: admit that leader's requests. */
  private learnLeader(response: RequestVoteResponse): void {
    if (response.leaderId === undefined || response.term < this.meta.term) return;
    this.gate.vouch(response.leaderId, response.term);
    if (response.term > this.meta.term && this.isRunning() && !this.isLeaderRole()) {
      this.stepDown(response.term, 'a member named a leader of a later term', undefined);
    }
  }

  /** Stands for election: term + 1, vote for self, persist both, then ask the peers. */
  private electSelf(disruptedLeader?: DisruptedLeader): boolean {
    const conf = this.log.latestConfiguration();
    if (!isVoter(conf, this.self) || !this.isRunning()) return false;
    this.transitions.run(() => this.campaign(conf, disruptedLeader));
    return true;
  }

  private campaign(conf: Configuration, disruptedLeader: DisruptedLeader | undefined): void {
    this.quiescence?.followerStopped();
    if (this.leaderId !== undefined) this.setLeader(undefined);
    this.electionTimer.stop();
    // The term and the self-vote must be durable before any RequestVote leaves.
    const durable = this.meta.set(this.meta.term + 1, this.self);
    this.notify('termChange', { term: this.meta.term });
    this.setRole('candidate');
    const round = this.newRound(conf, this.meta.term);
    const t = this.options.electionTimeoutMs;
    this.voteTimer.start(t + this.options.maxClockDriftMs + this.options.random() * t);
    // Admitted beyond the limit: it continues a won pre-vote, or a transfer asked for it.
    this.admission.enter();
    round.holdSlot(this.admission, this.voteTimer.dueAt);
    this.logger.debug('elect self', { term: round.term });
    durable.then(
      () => {
        const stale = round.version !== this.electionVersion || round.term !== this.meta.term;
        if (stale || this.roleValue !== 'candidate') return;
        if (round.won) this.becomeLeader();
        else this.requestPeersToVote(round, disruptedLeader);
      },
      () => {},
    );
  }

  private requestPeersToVote(round: VoteRound, disruptedLeader: DisruptedLeader | undefined): void {
    // The round lives until the vote timer ends it.
    round.solicit(this.log, false, disruptedLeader, this.voteTimer.dueAt, (peer, response) =>
      this.handleRequestVoteResponse(peer, round, response),
    );
  }

  /** A new round of (pre-)votes; the one before it, if any, asks nobody again. */
  private newRound(conf: Configuration, term: number): VoteRound {
    this.round?.stop();
    const round = new VoteRound(this.options, conf, term, ++this.electionVersion);
    this.round = round;
    return round;
  }

  private handleRequestVoteResponse(
    peer: PeerId,
    round: VoteRound,
    response: RequestVoteResponse,
  ): void {
    if (round.version !== this.electionVersion) return;
    if (response.term > this.meta.term) {
      this.stepDown(response.term, 'vote answered with a later term', undefined);
      return;
    }
    if (this.roleValue !== 'candidate' || response.term !== round.term) return;
    if (response.granted && round.grant(peer)) this.becomeLeader();
  }

  private handleVoteTimeout(): void {
    if (this.roleValue !== 'candidate') return;
    // braft: a timed-out candidate steps down and starts over with a pre-vote.
    this.stepDown(this.meta.term, 'vote timed out', undefined);
    this.preVote();
  }

  private becomeLeader(): void {
    this.transitions.run(() => this.takeLeadership());
  }

  private takeLeadership(): void {
    this.voteTimer.stop();
    this.electionTimer.stop();
    this.round?.stop();
    const term = this.meta.term;
    const conf = this.log.latestConfiguration();
    this.setRole('leader');
    this.setLeader(this.self);
    // The first entry of the term: the configuration in force, serving as the no-op that
    // lets entries of earlier terms commit (Raft paper section 8).
    const index = this.log.appendConfiguration(term, conf);
    this.ballotBox.resetPendingIndex(index);
    this.leaderStarted = false;
    this.confChange.onBecomeLeader();
    this.syncReplicators();
    // The first check looks back to the election only: the followers get the whole window.
    this.stepdownTimer.start(CHECK_QUORUM_WINDOW_TIMEOUTS * this.options.electionTimeoutMs);
    this.idleIndex = -1;
    this.logger.info('became leader', { term, index });
    this.updateCommit();
  }

  /**
   * Becomes a follower of `term` (raising the term if it is later), following `leader` when
   * known. A leader stops its replicators and fails its pending proposals.
   */
  private stepDown(term: number, reason: string, leader: PeerId | undefined): void {
    // A late response must not bring a stopped node back to life.
    if (!this.isRunning()) return;
    if (term > MAX_TERM) {
      // Past any real election count: a broken or hostile peer. Ignored, so that nobody
      // can push this node to a term after which no election is possible.
      this.logger.warn('a term beyond the limit was ignored', { term, reason });
      return;
    }
    this.transitions.run(() => {
      const wasLeader = this.isLeaderRole();
      this.electionVersion++;
      if (wasLeader) {
        this.logger.info('stepping down', { reason, term: this.meta.term });
        this.stopLeading(new LeaderSteppedDownError(`the leader stepped down: ${reason}`));
      }
      this.voteTimer.stop();
      // A new term or a new leader: whatever this follower was quiesced under is over.
      this.quiescence?.followerStopped();
      if (term > this.meta.term) {
        void this.meta.set(term, null);
        this.notify('termChange', { term });
      }
      if (this.roleValue !== 'follower') this.setRole('follower');
      if (leader !== this.leaderId) this.setLeader(leader);
      this.parts.metrics.leader(this.leaderId, this.meta.term); // same leader, later term
      if (!this.electionTimer.armed) this.electionTimer.arm();
    });
  }

  private stopLeading(error: RaftError): void {
    this.quiescence?.leaderStopped();
    this.stepdownTimer.stop();
    this.confChange.abort(error);
    this.replicators.stopAll();
    this.ballotBox.clearPendingIndex();
    this.proposals.failAll(error);
    this.reads.failLeaderReads(error);
    const wasStarted = this.leaderStarted;
    this.leaderStarted = false;
    if (wasStarted) this.transitions.defer(() => this.sm.onLeaderStop?.(error));
  }

  private handleStepdownTimeout(): void {
    if (!this.isLeaderRole()) return;
    // Check-quorum: a leader that has not heard from a quorum within an election timeout
    // steps down, so a partitioned leader does not linger and clients go elsewhere.
    if (!this.leaderLease.quorumAlive(this.log.latestConfiguration())) {
      this.stepDown(
        this.meta.term,
        'check-quorum: no quorum acknowledged within the election timeout',
        undefined,
      );
      return;
    }
    this.stepdownTimer.start(this.options.electionTimeoutMs);
  }

  /**
   * On a replicator's idle heartbeat: a leader whose log has not grown for two heartbeat
   * intervals, with everything replicated, may quiesce (on a RaftHost).
   */
  private checkQuiesce(): void {
    const q = this.quiescence;
    if (q === undefined || q.active) return;
    const last = this.log.lastIndex;
    const now = this.options.clock.now();
    if (last !== this.idleIndex) {
      this.idleIndex = last;
      this.idleSince = now;
      return;
    }
    if (now - this.idleSince >= QUIESCE_AFTER_HEARTBEATS * this.options.heartbeatIntervalMs) {
      q.maybeQuiesce();
    }
  }

  // ---------------------------------------------------------------- replication

  private onMatch(peer: PeerId): void {
    this.updateCommit();
    this.confChange.onMatch(peer);
    this.transfer.onMatch(peer);
  }

  private onAck(): void {
    this.reads.onAck();
    this.confChange.onAck();
  }

  private onHigherTerm(term: number, from: PeerId): void {
    if (this.isRunning() && term > this.meta.term) {
      this.stepDown(term, `${from} is in a later term`, undefined);
    }
  }

  /** New entries: replicate them once this turn's proposals are all appended. */
  private scheduleReplicate(): void {
    // After the kick: a single-voter group commits as soon as its own write is durable.
    this.replicators.kickSoon(
      () => this.isLeaderRole(),
      () => this.updateCommit(),
    );
  }

  private updateCommit(): void {
    if (!this.isLeaderRole()) return;
    const committed = this.ballotBox.recount();
    if (committed === undefined) return;
    this.fsm.setCommitted(committed);
    this.confChange.onCommit();
  }

  /** Appends a configuration entry of the current term; returns its index. */
  private appendConfiguration(conf: Configuration): number {
    const index = this.log.appendConfiguration(this.meta.term, conf);
    this.syncReplicators();
    this.scheduleReplicate();
    return index;
  }

  /** One replicator per peer of the latest configuration (and per peer catching up). */
  private syncReplicators(): void {
    if (!this.isLeaderRole()) return;
    const wanted = [...allPeers(this.log.latestConfiguration()), ...this.confChange.extraPeers()];
    this.replicators.sync(wanted, this.meta.term);
  }

  // ---------------------------------------------------------------- quiescence (RaftHost)

  /** The quiescence offer this leader would make now, if it may quiesce. */
  private quiesceOffer(): QuiesceOffer | undefined {
    const log = this.log;
    const last = log.lastIndex;
    const conf = log.latestConfiguration();
    if (
      this.roleValue !== 'leader' ||
      !this.leaderStarted ||
      this.proposals.size > 0 ||
      this.reads.busy ||
      this.confChange.busy ||
      this.transfer.inProgress ||
      (conf.oldVoters?.length ?? 0) > 0 ||
      this.ballotBox.commitIndex !== last ||
      log.durableIndex !== last ||
      this.fsm.appliedIndex !== last
    ) {
      return undefined;
    }
    return {
      groupId: this.options.groupId,
      term: this.meta.term,
      lastIndex: last,
      lastTerm: log.lastLogTerm,
      commitIndex: last,
    };
  }

  private resumeLeader(): void {
    if (!this.isLeaderRole() || !this.isRunning()) return;
    this.replicators.resumeHeartbeats();
    // Check-quorum looks back a whole window from now: the followers answer the
    // heartbeats just sent.
    this.stepdownTimer.start(CHECK_QUORUM_WINDOW_TIMEOUTS * this.options.electionTimeoutMs);
    this.idleIndex = -1;
  }

  private followerAccepts(offer: QuiesceOffer, from: PeerId): boolean {
    const log = this.log;
    if (
      !this.isRunning() ||
      this.isLeaderRole() ||
      offer.term < this.meta.term ||
      log.lastIndex !== offer.lastIndex ||
      log.lastLogTerm !== offer.lastTerm ||
      log.durableIndex !== offer.lastIndex ||
      !allPeers(log.latestConfiguration()).includes(from)
    ) {
      return false;
    }
    // The offer speaks for the leader of offer.term, as its empty AppendEntries would (its
    // endpoint sends it): a follower that does not know that leader yet (it restarted)
    // follows it, as on a heartbeat.
    if (offer.term > this.meta.term || this.roleValue !== 'follower' || this.leaderId !== from) {
      this.stepDown(offer.term, 'quiesce offer from the leader', from);
    }
    if (this.meta.pending !== undefined || this.meta.term !== offer.term) return false;
    // The logs match at the leader's last index (same index and term), so this log is
    // the leader's, and the leader says all of it is committed.
    if (this.ballotBox.advanceTo(offer.commitIndex)) {
      this.fsm.setCommitted(offer.commitIndex);
    }
    this.followerLease.renew();
    return true;
  }

  private resumeFollower(contactAt: number): void {
    this.followerLease.renewAt(contactAt);
    if (this.isRunning() && this.roleValue === 'follower') this.electionTimer.arm(contactAt);
  }

  /** The peer to hand this quiesced group's leadership to (RaftHost balancing), if any. */
  private handOverTo(): PeerId | undefined {
    if (
      !this.options.host?.balance ||
      this.quiescence?.leaderQuiesced !== true ||
      this.roleValue !== 'leader' ||
      !this.leaderStarted ||
      this.transfer.inProgress ||
      this.confChange.busy ||
      this.proposals.size > 0
    ) {
      return undefined;
    }
    const preferred = this.preferredLeader();
    if (preferred === undefined || preferred === this.self) return undefined;
    return this.replicators.caughtUp(preferred) ? preferred : undefined;
  }

  /** The voter that should lead this group when it can (RaftHost balancing). */
  private preferredLeader(): PeerId | undefined {
    const conf = this.log.latestConfiguration();
    if ((conf.oldVoters?.length ?? 0) > 0) return undefined;
    return preferredLeaderOf(this.options.groupId, conf.voters);
  }

  /** The peers of the latest configuration, this node excluded. */
  private peersOfConfiguration(): PeerId[] {
    return allPeers(this.log.latestConfiguration()).filter((p) => p !== this.self);
  }

  /** The configuration changed: the host beats to the peers it names. */
  private updateHostPeers(): void {
    const host = this.options.host;
    if (!host || !this.started) return;
    const after = this.peersOfConfiguration();
    const before = this.hostPeers;
    if (after.length === before.length && after.every((p, i) => p === before[i])) return;
    host.setPeers(before, after);
    this.hostPeers = after;
  }

  private leaveHost(): void {
    const host = this.options.host;
    if (!host || !this.quiescence) return;
    this.quiescence.leaderStopped();
    this.quiescence.followerStopped();
    host.unregister(this.options.groupId, this.hostPeers);
    this.hostPeers = [];
  }

  // ---------------------------------------------------------------- roles and transitions

  private setRole(role: Role): void {
    const previous = this.roleValue;
    if (previous === role) return;
    // Nothing leaves `shutdown`, and `error` leads only to `shutdown`.
    if (previous === 'shutdown' || (previous === 'error' && role !== 'shutdown')) return;
    this.roleValue = role;
    this.parts.metrics.role(role);
    this.notify('roleChange', { role, previous, term: this.meta.term });
  }

  private setLeader(leader: PeerId | undefined): void {
    const previous = this.leaderId;
    if (previous === leader) return;
    const term = this.meta.term;
    if (previous !== undefined && previous !== this.self) {
      this.transitions.defer(() => this.sm.onStopFollowing?.({ leaderId: previous, term }));
    }
    this.leaderId = leader;
    this.parts.metrics.leader(leader, term);
    if (leader !== undefined && leader !== this.self) {
      this.transitions.defer(() => this.sm.onStartFollowing?.({ leaderId: leader, term }));
      // A transfer is done once somebody else leads, not merely when this node stepped down.
      const done = this.transfer.complete();
      if (done) this.transitions.defer(done);
      this.transitions.defer(() => this.leaderWaiters.check());
    }
    this.notify('leaderChange', { leaderId: leader, term });
  }

  /** The leader to report to waiters: another node, or this one once it can serve. */
  private readyLeader(): PeerId | undefined {
    const leader = this.leaderId;
    if (leader === undefined) return undefined;
    if (leader === this.self && !(this.leaderStarted && this.isLeaderRole())) return undefined;
    return leader;
  }

  private isLeaderRole(): boolean {
    return this.roleValue === 'leader' || this.roleValue === 'transferring';
  }

  private isRunning(): boolean {
    return this.started && this.shutdownPromise === undefined && this.roleValue !== 'error';
  }

  private checkRunning(): void {
    if (!this.started || this.shutdownPromise || this.roleValue === 'shutdown')
      throw new ShutdownError();
    if (this.roleValue === 'error') throw new InternalError('the node stopped on an error');
  }

  private notify<K extends keyof NodeEvents>(name: K, event: NodeEvents[K]): void {
    this.transitions.defer(() => this.emit(name, event));
  }

  protected override onListenerError(error: unknown): void {
    this.logger.error('event listener threw', { error: String(error) });
  }

  private stopTimers(): void {
    this.round?.stop();
    this.electionTimer.stop();
    this.voteTimer.stop();
    this.stepdownTimer.stop();
    this.snapshots.stopTimer();
    this.transfer.cancel(new ShutdownError());
  }

  private enterError(error: RaftError): void {
    if (this.roleValue === 'error' || this.roleValue === 'shutdown') return;
    this.transitions.run(() => this.stopOnError(error));
  }

  private stopOnError(error: RaftError): void {
    this.logger.error('node stopped on error', { code: error.code, message: error.message });
    this.electionVersion++;
    if (this.isLeaderRole()) this.stopLeading(error);
    this.stopTimers();
    this.leaveHost();
    this.setRole('error');
    this.leaderWaiters.rejectAll(error);
    this.transitions.defer(() => this.sm.onError?.(error));
    this.notify('error', { error });
  }

  // ---------------------------------------------------------------- the node's faces

  // What the components, the RaftHost and the transport ask of a node: an object each whose
  // methods forward to it, rather than a closure per question (~2 KiB per node, and a
  // multi-raft process holds thousands). Declared in the class so they may call its private
  // methods.

  /** What the components ask of the node (node-parts.ts). */
  private static readonly Hooks = class Hooks<R> implements NodeHooks<R> {
    constructor(private readonly n: NodeImpl<R>) {}
    role(): Role {
      return this.n.roleValue;
    }
    leaderId(): PeerId | undefined {
      return this.n.leaderId;
    }
    leaderStarted(): boolean {
      return this.n.leaderStarted;
    }
    // The components keep these five as callbacks of their own (not called on this object),
    // so they are bound functions.
    readonly readyLeader = (): PeerId | undefined => this.n.readyLeader();
    readonly enterError = (error: RaftError): void => this.n.enterError(error);
    readonly onDurable = (): void => {
      if (this.n.isLeaderRole()) this.n.updateCommit();
    };
    readonly onApplied = (
      data: readonly LogEntry[],
      results: readonly R[] | undefined,
      last: number,
    ): void => this.n.onApplied(data, results, last);
    readonly onConfigurationApplied = (entry: LogEntry): void =>
      this.n.onConfigurationApplied(entry);
    onMatch(peer: PeerId): void {
      this.n.onMatch(peer);
    }
    onAck(): void {
      this.n.onAck();
    }
    onIdleHeartbeat(): void {
      this.n.checkQuiesce();
    }
    onHigherTerm(term: number, from: PeerId): void {
      this.n.onHigherTerm(term, from);
    }
    setTransferring(on: boolean): void {
      const n = this.n;
      n.transitions.run(() => {
        if (on) n.setRole('transferring');
        else if (n.roleValue === 'transferring') n.setRole('leader');
      });
    }
    appendConfiguration(conf: Configuration): number {
      return this.n.appendConfiguration(conf);
    }
    syncReplicators(): void {
      this.n.syncReplicators();
    }
    stepDownRemoved(): void {
      this.n.stepDown(this.n.meta.term, 'removed from the configuration', undefined);
    }
  };

  /** What the RaftHost's quiescence asks of the node (quiescence.ts). */
  private static readonly QuiescenceHooks = class QuiescenceHooks<R> implements QuiescenceNode {
    constructor(private readonly n: NodeImpl<R>) {}
    quiesceOffer(): QuiesceOffer | undefined {
      return this.n.quiesceOffer();
    }
    followers(): readonly PeerId[] {
      return this.n.replicators.peers();
    }
    caughtUp(peer: PeerId): boolean {
      return this.n.replicators.caughtUp(peer);
    }
    quorum(peers: ReadonlySet<PeerId>): boolean {
      const self = this.n.self;
      return hasQuorum(this.n.log.latestConfiguration(), (p) => p === self || peers.has(p));
    }
    pausePeer(peer: PeerId): void {
      this.n.replicators.get(peer)?.pause();
    }
    pauseLeader(): void {
      this.n.stepdownTimer.stop();
    }
    resumeLeader(): void {
      this.n.resumeLeader();
    }
    followerAccepts(offer: QuiesceOffer, from: PeerId): boolean {
      return this.n.followerAccepts(offer, from);
    }
    pauseFollower(): void {
      this.n.electionTimer.stop();
    }
    resumeFollower(contactAt: number): void {
      this.n.resumeFollower(contactAt);
    }
    debug(message: string, fields?: Record<string, unknown>): void {
      this.n.logger.debug(message, fields);
    }
    handOverTo(): PeerId | undefined {
      return this.n.handOverTo();
    }
    transferTo(peer: PeerId): Promise<void> {
      return this.n.transferLeadership(peer);
    }
  };

  /** The five RPCs of a group, for the transport (behind the request gate). */
  private static readonly Handlers = class Handlers<R> {
    constructor(private readonly n: NodeImpl<R>) {}
    requestVote(req: RequestVoteRequest): Promise<RequestVoteResponse> {
      return this.n.handleRequestVote(req);
    }
    appendEntries(req: AppendEntriesRequest): Promise<AppendEntriesResponse> {
      return this.n.handleAppendEntries(req);
    }
    installSnapshot(req: InstallSnapshotRequest): Promise<InstallSnapshotResponse> {
      return this.n.handleInstallSnapshot(req);
    }
    timeoutNow(req: TimeoutNowRequest): Promise<TimeoutNowResponse> {
      return this.n.handleTimeoutNow(req);
    }
    readIndex(req: ReadIndexRequest): Promise<ReadIndexResponse> {
      return this.n.handleReadIndex(req);
    }
  };
}
