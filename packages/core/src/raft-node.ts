import { Ballot } from './ballot.js';
import {
  allPeers,
  encodeConfiguration,
  hasQuorum,
  isJoint,
  isVoter,
  quorumMatchIndex,
  sameConfiguration,
  validateConfiguration,
} from './configuration.js';
import { type ConfigurationChange, votersChanged } from './configuration-change.js';
import {
  AbortedError,
  BadRequestError,
  BusyError,
  InternalError,
  LeaderSteppedDownError,
  NotLeaderError,
  type RaftError,
  ShutdownError,
  TermMismatchError,
  TimeoutError,
  TransferInProgressError,
  toRaftError,
} from './errors.js';
import { type NodeEvents, TypedEmitter } from './events.js';
import { FSMCaller } from './fsm-caller.js';
import { LogManager } from './log-manager.js';
import type { Logger } from './logger.js';
import type {
  AppendEntriesRequest,
  AppendEntriesResponse,
  DisruptedLeader,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  ReadIndexRequest,
  ReadIndexResponse,
  RequestVoteRequest,
  RequestVoteResponse,
  TimeoutNowRequest,
  TimeoutNowResponse,
} from './messages.js';
import { type NodeOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type ApplyResult, ProposalQueue } from './proposals.js';
import { Replicator, type ReplicatorHost, type ReplicatorStatus } from './replicator.js';
import { type InstallOutcome, SnapshotExecutor } from './snapshot-executor.js';
import type { StateMachine } from './state-machine.js';
import { RaftTimer } from './timer.js';
import type { RpcHandler } from './transport.js';
import {
  type Configuration,
  EntryType,
  type LogEntry,
  type PeerId,
  type Role,
  type SnapshotMeta,
} from './types.js';

/** How much of the log a leader keeps in memory for followers that lag behind. */
const LOG_CACHE_ENTRIES = 65_536;
const LOG_CACHE_BYTES = 64 * 1024 * 1024;

export interface ApplyOptions {
  /** Fail with TERM_MISMATCH unless the leader is still in this term. */
  readonly expectedTerm?: number;
  /** Stop waiting; the entry may still be applied if it was already appended. */
  readonly signal?: AbortSignal;
}

export interface ReadOptions {
  readonly signal?: AbortSignal;
  /**
   * `safe` (default): the leader confirms its leadership with a round of heartbeats.
   * `lease`: no round while a quorum acknowledged the leader within the last
   * electionTimeout - maxClockDrift (the followers' lease keeps any other leader out for
   * that long); relies on clocks drifting less than maxClockDriftMs per election timeout.
   */
  readonly mode?: 'safe' | 'lease';
  /** Give up after this many ms with TIMEOUT (default: the election timeout). */
  readonly timeoutMs?: number;
}

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
  /** Per follower, on a leader only. */
  readonly peers: readonly ReplicatorStatus[];
}

interface PendingRead {
  readonly readIndex: number;
  /** Reads are confirmed by acks to RPCs sent at or after this time. */
  readonly since: number;
  resolve(index: number): void;
  reject(error: RaftError): void;
}

interface AppliedWaiter {
  readonly index: number;
  resolve(): void;
  reject(error: RaftError): void;
}

interface Transfer {
  readonly target: PeerId;
  readonly timer: RaftTimer;
  retry?: RaftTimer;
  sent: boolean;
  resolve(): void;
  reject(error: RaftError): void;
}

/**
 * A Raft node: one member of one Raft group (braft's NodeImpl).
 *
 * Election: the election timer (follower) fires a random time in [T, 2T) after the last
 * contact with a leader and starts a pre-vote; a won pre-vote leads to elect-self, which
 * persists the new term and the self-vote before any RequestVote leaves; a won vote leads
 * to becomeLeader, which starts one Replicator per peer and appends a configuration entry
 * of the new term (the no-op of section 8 of the Raft paper). The vote timer (candidate)
 * gives up an election; the stepdown timer (leader) enforces check-quorum.
 *
 * Everything runs on one event loop: the state changes between two awaits are atomic,
 * and every handler re-checks its term after it waited for storage.
 */
export class RaftNode<R = unknown> extends TypedEmitter<NodeEvents> {
  readonly options: ResolvedOptions<unknown>;
  readonly log: LogManager;
  private readonly sm: NodeOptions<R>['stateMachine'];
  private readonly fsm: FSMCaller<R>;
  private readonly proposals = new ProposalQueue<R>();
  private readonly logger: Logger;
  private readonly self: PeerId;

  private roleValue: Role = 'follower';
  private currentTerm = 0;
  private votedFor: PeerId | null = null;
  private leaderId: PeerId | undefined;
  private commit = 0;
  private started = false;
  private shutdownPromise: Promise<void> | undefined;

  /** When this node last heard from the leader of its term (follower lease). */
  private lastLeaderContact = Number.NEGATIVE_INFINITY;
  /** When the election timer was last reset for another reason (a granted vote). */
  private lastElectionReset = Number.NEGATIVE_INFINITY;
  /** Bumped by every new election round and every step-down: stale responses are dropped. */
  private electionVersion = 0;

  private readonly replicators = new Map<PeerId, Replicator>();
  /** The index of the leader's first entry of its term; commits only from there (Figure 8). */
  private leaderStartIndex = Number.POSITIVE_INFINITY;
  private leaderStarted = false;
  private replicateScheduled = false;
  private transfer: Transfer | undefined;
  private change: ConfigurationChange | undefined;
  /** The joint configuration entry for which this leader already appended C(new). */
  private stableAppendedFor = -1;
  private pendingReads: PendingRead[] = [];
  private readsAwaitingLeaderStart: Array<() => void> = [];
  private appliedWaiters: AppliedWaiter[] = [];

  private metaDirty = false;
  private metaChain: Promise<void> | undefined;

  /**
   * Events and state-machine callbacks raised during a state transition wait here until the
   * transition is complete, so that user code never sees (or acts on) a half-changed node:
   * e.g. a termChange listener must not find the node still leader in the new term.
   */
  private deferred: Array<() => void> = [];
  private transitionDepth = 0;
  private flushing = false;
  /** Reads in progress: shutdown ends each (no listener per read on a shared signal). */
  private readonly activeReads = new Set<() => void>();

  private readonly electionTimer: RaftTimer;
  private readonly voteTimer: RaftTimer;
  private readonly stepdownTimer: RaftTimer;
  private readonly snapshotTimer: RaftTimer;
  private unserve: (() => void) | undefined;
  /** What the replicators see of this node. */
  private readonly host: ReplicatorHost;
  private readonly snapshots: SnapshotExecutor;

  constructor(options: NodeOptions<R>) {
    super();
    const resolved = resolveOptions(options);
    this.options = resolved as ResolvedOptions<unknown>;
    this.sm = resolved.stateMachine;
    this.self = resolved.peerId;
    this.logger = resolved.logger;
    const initial = resolved.initialConfiguration ?? { voters: [] };
    this.log = new LogManager({
      storage: resolved.logStorage,
      initialConfiguration: { index: 0, term: 0, configuration: initial },
      onDurable: () => {
        if (this.isLeaderRole()) this.updateCommit();
      },
      onStorageError: (error) => this.enterError(error),
    });
    this.fsm = new FSMCaller<R>(this.log, this.sm, resolved.applyBatchSize, {
      onApplied: (data, results, last) => this.onApplied(data, results, last),
      onConfigurationApplied: (entry) => this.onConfigurationApplied(entry),
      onError: (error) => this.enterError(error),
    });
    this.snapshots = new SnapshotExecutor({
      storage: resolved.snapshotStorage,
      stateMachine: this.sm as StateMachine<unknown>,
      log: this.log,
      fsm: this.fsm as FSMCaller<unknown>,
      logger: this.logger,
      logMargin: resolved.snapshotLogMargin,
    });
    this.host = {
      options: this.options,
      log: this.log,
      commitIndex: () => this.commit,
      onMatch: (peer) => this.onMatch(peer),
      onAck: () => this.onAck(),
      onHigherTerm: (term, from) => this.onHigherTerm(term, from),
      openSnapshot: () => this.snapshots.openLatest(),
    };
    const clock = resolved.clock;
    this.electionTimer = new RaftTimer(clock, () => this.handleElectionTimeout());
    this.voteTimer = new RaftTimer(clock, () => this.handleVoteTimeout());
    this.stepdownTimer = new RaftTimer(clock, () => this.handleStepdownTimeout());
    this.snapshotTimer = new RaftTimer(clock, () => this.handleSnapshotTimeout());
  }

  // ---------------------------------------------------------------- public API

  /** Loads term, vote and log from storage, starts serving the group and arms the election timer. */
  async start(): Promise<void> {
    if (this.started || this.shutdownPromise) throw new BadRequestError('node already started');
    const meta = await this.options.metaStorage.load();
    this.currentTerm = meta.term;
    this.votedFor = meta.votedFor;
    // The latest snapshot first (it becomes the state machine's state), then the log after it.
    const snapshot = await this.snapshots.load();
    await this.log.load(
      snapshot ? { index: snapshot.lastIncludedIndex, term: snapshot.lastIncludedTerm } : undefined,
    );
    if (snapshot) {
      this.log.configurations.setSnapshot({
        index: snapshot.lastIncludedIndex,
        term: snapshot.lastIncludedTerm,
        configuration: snapshot.configuration,
      });
      this.fsm.resetApplied(snapshot.lastIncludedIndex);
      this.commit = snapshot.lastIncludedIndex;
    }
    if (this.log.latestConfiguration().voters.length === 0) {
      this.logger.info('no configuration yet: waiting to be contacted by a leader');
    }
    // shutdown() may have been called while storage was loading: then stay stopped.
    if (this.shutdownPromise) return;
    this.unserve = this.options.transport.serve(this.options.groupId, this.rpcHandler());
    this.started = true;
    this.armElectionTimer();
    if (this.options.snapshotIntervalS > 0) {
      const ms = this.options.snapshotIntervalS * 1000;
      this.snapshotTimer.start(ms / 2 + this.options.random() * ms);
    }
    this.logger.info('started', { term: this.currentTerm, lastIndex: this.log.lastIndex });
  }

  get role(): Role {
    return this.roleValue;
  }
  get term(): number {
    return this.currentTerm;
  }
  get leader(): PeerId | undefined {
    return this.leaderId;
  }
  get id(): PeerId {
    return this.self;
  }
  get isLeader(): boolean {
    return this.roleValue === 'leader';
  }

  /**
   * Proposes `data` (leader only). Resolves once the entry is committed and applied here,
   * with its index, term and the state machine's result. Rejects with NOT_LEADER, BUSY,
   * TERM_MISMATCH, SHUTDOWN, ABORTED, TRANSFER_IN_PROGRESS or LEADER_STEPPED_DOWN.
   *
   * The node takes ownership of `data`: it goes into the log as it is, without a copy (a copy
   * per proposal halved throughput in `pnpm bench`). Do not modify the buffer afterwards.
   */
  apply(data: Uint8Array, options: ApplyOptions = {}): Promise<ApplyResult<R>> {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(new BadRequestError('data must be a Uint8Array'));
    }
    const refusal = this.proposalRefusal(options);
    if (refusal) return Promise.reject(refusal);
    const term = this.currentTerm;
    const index = this.log.lastIndex + 1;
    const entry: LogEntry = { index, term, type: EntryType.Data, data };
    this.log.appendLocal([entry]);
    this.scheduleReplicate();
    const signal = options.signal;
    if (!signal) {
      return new Promise((resolve, reject) => this.proposals.add(index, { term, resolve, reject }));
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.proposals.drop(index);
        reject(
          new AbortedError(
            'apply aborted; the entry was already appended and may still be applied',
          ),
        );
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.proposals.add(index, {
        term,
        resolve: (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
    });
  }

  /**
   * A linearizable read barrier (ReadIndex, Raft paper section 8 / thesis 6.4): resolves with
   * an index once this node has applied at least every entry committed before the call,
   * confirmed by a round of heartbeats on the leader. Works on followers by asking the leader.
   */
  async readIndex(options: ReadOptions = {}): Promise<number> {
    this.checkRunning();
    const timeoutMs = options.timeoutMs ?? this.options.electionTimeoutMs;
    return this.withDeadline(timeoutMs, options.signal, async (call) => {
      let index: number;
      if (this.isLeaderRole()) {
        index = await this.leaderReadIndex(options.mode ?? 'safe');
      } else {
        const leader = this.leaderId;
        if (leader === undefined)
          throw new NotLeaderError(undefined, 'no leader is known to serve the read');
        const response = await this.options.transport.call(
          'readIndex',
          { groupId: this.options.groupId, from: this.self, to: leader, term: this.currentTerm },
          { timeoutMs, signal: call },
        );
        if (!response.success)
          throw new NotLeaderError(this.leaderId, 'the leader refused the read index');
        index = response.readIndex;
      }
      await this.waitApplied(index);
      return index;
    });
  }

  /**
   * Hands leadership to `target` (or the most up-to-date follower): stops taking proposals,
   * waits for the target to catch up, then sends it TimeoutNow. Resolves once this node has
   * stepped down; rejects with TIMEOUT (and stays leader) if that takes an election timeout.
   */
  transferLeadership(target?: PeerId): Promise<void> {
    if (this.roleValue === 'transferring') return Promise.reject(new TransferInProgressError());
    if (this.roleValue !== 'leader') return Promise.reject(new NotLeaderError(this.leaderId));
    const conf = this.log.latestConfiguration();
    const voters = allPeers(conf).filter((p) => p !== this.self && isVoter(conf, p));
    if (target !== undefined && !voters.includes(target)) {
      return Promise.reject(new BadRequestError(`${target} is not a voting peer of this group`));
    }
    const chosen =
      target ??
      voters.reduce<PeerId | undefined>((best, p) => {
        const m = this.replicators.get(p)?.matchIndex ?? 0;
        return best === undefined || m > (this.replicators.get(best)?.matchIndex ?? 0) ? p : best;
      }, undefined);
    if (chosen === undefined)
      return Promise.reject(new BadRequestError('no other voter to transfer to'));
    return new Promise<void>((resolve, reject) => {
      const timer = new RaftTimer(this.options.clock, () => {
        const t = this.transfer;
        if (t?.timer !== timer) return;
        this.transfer = undefined;
        t.retry?.stop();
        this.transition(() => {
          if (this.roleValue === 'transferring') this.setRole('leader');
        });
        reject(new TimeoutError(`leadership transfer to ${chosen} did not complete in time`));
      });
      this.transfer = { target: chosen, timer, sent: false, resolve, reject };
      timer.start(this.options.electionTimeoutMs);
      this.transition(() => this.setRole('transferring'));
      this.logger.info('transferring leadership', { target: chosen });
      this.maybeSendTimeoutNow();
    });
  }

  status(): NodeStatus {
    return {
      groupId: this.options.groupId,
      peerId: this.self,
      role: this.roleValue,
      term: this.currentTerm,
      votedFor: this.votedFor,
      leaderId: this.leaderId,
      commitIndex: this.commit,
      appliedIndex: this.fsm.appliedIndex,
      firstLogIndex: this.log.firstIndex,
      snapshotIndex: this.log.snapshotLastIndex,
      lastLogIndex: this.log.lastIndex,
      lastLogTerm: this.log.lastLogTerm,
      durableIndex: this.log.durableIndex,
      configuration: this.log.latestConfiguration(),
      pendingProposals: this.proposals.size,
      peers: this.isLeaderRole() ? [...this.replicators.values()].map((r) => r.status()) : [],
    };
  }

  get commitIndex(): number {
    return this.commit;
  }
  get appliedIndex(): number {
    return this.fsm.appliedIndex;
  }

  /**
   * Stops the node: timers, replicators and serving end, pending proposals and reads fail
   * with SHUTDOWN, queued writes finish. Idempotent. The storages stay open (they are the
   * caller's to close).
   */
  shutdown(): Promise<void> {
    if (this.shutdownPromise) return this.shutdownPromise;
    this.shutdownPromise = this.doShutdown();
    return this.shutdownPromise;
  }

  // ---------------------------------------------------------------- RPC handlers

  private rpcHandler(): RpcHandler {
    return {
      requestVote: (req) => this.handleRequestVote(req),
      appendEntries: (req) => this.handleAppendEntries(req),
      installSnapshot: (req) => this.handleInstallSnapshot(req),
      timeoutNow: (req) => this.handleTimeoutNow(req),
      readIndex: (req) => this.handleReadIndex(req),
    };
  }

  async handleRequestVote(req: RequestVoteRequest): Promise<RequestVoteResponse> {
    this.checkRunning();
    const lastTerm = this.log.lastLogTerm;
    const upToDate =
      req.lastLogTerm > lastTerm ||
      (req.lastLogTerm === lastTerm && req.lastLogIndex >= this.log.lastIndex);
    const inLease = this.inLease(req.disruptedLeader);
    if (req.preVote) {
      // A pre-vote changes nothing here: it only asks whether we would vote.
      return {
        term: this.currentTerm,
        granted: req.term > this.currentTerm && upToDate && !inLease,
      };
    }
    // Raft paper section 6: within the lease of a live leader, a vote request neither
    // raises our term nor gets our vote, so a rejoining server cannot depose that leader.
    if (req.term < this.currentTerm || inLease) return { term: this.currentTerm, granted: false };
    if (req.term > this.currentTerm)
      this.stepDown(req.term, 'vote request of a later term', undefined);
    const term = this.currentTerm;
    let granted = false;
    if (upToDate && (this.votedFor === null || this.votedFor === req.from)) {
      granted = true;
      if (this.votedFor !== req.from) {
        this.votedFor = req.from;
        void this.persistMeta();
      }
      this.lastElectionReset = this.options.clock.now();
    }
    await this.metaChain;
    return { term, granted };
  }

  async handleAppendEntries(req: AppendEntriesRequest): Promise<AppendEntriesResponse> {
    this.checkRunning();
    if (req.term < this.currentTerm) return this.rejectAppend();
    if (this.isLeaderRole() && req.term === this.currentTerm) {
      // Two leaders in one term cannot happen unless a safety rule was broken.
      this.logger.error('AppendEntries from another leader of my term', {
        from: req.from,
        term: req.term,
      });
      return this.rejectAppend();
    }
    if (
      req.term > this.currentTerm ||
      this.roleValue !== 'follower' ||
      this.leaderId !== req.from
    ) {
      this.stepDown(req.term, 'AppendEntries from the leader', req.from);
    }
    this.lastLeaderContact = this.options.clock.now();
    const prevTerm = this.log.termAt(req.prevLogIndex);
    // An index inside our snapshot, at or below our commit index, holds what every leader
    // holds there (leader completeness): it matches without a term to compare.
    const inSnapshot =
      prevTerm === undefined &&
      req.prevLogIndex < this.log.firstIndex &&
      req.prevLogIndex <= this.commit;
    if (prevTerm === undefined && !inSnapshot) return this.rejectAppend();
    if (prevTerm !== undefined && prevTerm !== req.prevLogTerm) {
      return this.rejectAppend(prevTerm, this.log.firstIndexOfTerm(prevTerm));
    }
    try {
      this.log.appendReplicated(req.prevLogIndex, req.entries, this.commit);
    } catch (error) {
      const e = toRaftError(error);
      this.enterError(e);
      throw e;
    }
    const matched = req.prevLogIndex + req.entries.length;
    const newCommit = Math.min(req.leaderCommit, matched);
    if (newCommit > this.commit) {
      this.commit = newCommit;
      this.fsm.setCommitted(newCommit);
    }
    if (this.metaChain) await this.metaChain;
    if (this.currentTerm !== req.term) return this.rejectAppend();
    const durable = this.log.waitDurable(matched);
    if (durable) {
      try {
        await durable;
      } catch {
        // The entries were truncated by a later leader before they reached the disk.
        return this.rejectAppend();
      }
    }
    if (this.currentTerm !== req.term) return this.rejectAppend();
    return { term: this.currentTerm, success: true, lastLogIndex: this.log.lastIndex };
  }

  async handleInstallSnapshot(req: InstallSnapshotRequest): Promise<InstallSnapshotResponse> {
    this.checkRunning();
    if (req.term < this.currentTerm) return { term: this.currentTerm, success: false };
    if (this.isLeaderRole() && req.term === this.currentTerm) {
      this.logger.error('InstallSnapshot from another leader of my term', { from: req.from });
      return { term: this.currentTerm, success: false };
    }
    if (
      req.term > this.currentTerm ||
      this.roleValue !== 'follower' ||
      this.leaderId !== req.from
    ) {
      this.stepDown(req.term, 'InstallSnapshot from the leader', req.from);
    }
    this.lastLeaderContact = this.options.clock.now();
    if (this.metaChain) await this.metaChain;
    const term = this.currentTerm;
    let outcome: InstallOutcome;
    try {
      outcome = await this.snapshots.receive(req, () => this.commit);
    } catch (error) {
      // The state machine may be half loaded, or the snapshot storage broken: going on
      // could apply entries to a state that is not the one they follow (braft: fatal).
      const e = toRaftError(error, 'STORAGE');
      this.enterError(e);
      throw e;
    }
    if (outcome.kind === 'rejected') {
      this.logger.warn('snapshot chunk refused', { reason: outcome.reason, from: req.from });
      return { term: this.currentTerm, success: false };
    }
    if (outcome.kind === 'installed') {
      const meta = outcome.meta;
      const index = meta.lastIncludedIndex;
      if (index > this.commit) this.commit = index;
      this.fsm.setCommitted(this.commit);
      this.callback(() => this.sm.onConfigurationCommitted?.(meta.configuration, index));
      // Reads waiting for the applied index, and the memory floor, move with the install.
      this.afterApply(index);
      this.notify('snapshotInstalled', { meta });
    }
    return { term, success: this.currentTerm === term };
  }

  /**
   * Saves a snapshot of the state machine now and compacts the log behind it. Resolves with
   * the snapshot's meta, or undefined when nothing was applied since the last snapshot.
   * Needs `snapshotStorage` and a state machine with onSnapshotSave and onSnapshotLoad.
   */
  async snapshot(): Promise<SnapshotMeta | undefined> {
    this.checkRunning();
    const meta = await this.snapshots.save();
    if (meta) this.notify('snapshotSaved', { meta });
    return meta;
  }

  async handleTimeoutNow(req: TimeoutNowRequest): Promise<TimeoutNowResponse> {
    this.checkRunning();
    const term = this.currentTerm;
    if (req.term !== term || this.roleValue !== 'follower' || this.leaderId !== req.from) {
      return { term, success: false };
    }
    // The leader hands over: elect ourselves at once, naming it as the disrupted leader so
    // that followers still in its lease vote for us anyway.
    const started = this.electSelf({ peerId: req.from, term });
    await this.metaChain;
    return { term, success: started };
  }

  async handleReadIndex(req: ReadIndexRequest): Promise<ReadIndexResponse> {
    this.checkRunning();
    if (!this.isLeaderRole() || req.term > this.currentTerm) {
      return { term: this.currentTerm, success: false, readIndex: 0 };
    }
    try {
      const readIndex = await this.leaderReadIndex('safe');
      return { term: this.currentTerm, success: true, readIndex };
    } catch {
      return { term: this.currentTerm, success: false, readIndex: 0 };
    }
  }

  // ---------------------------------------------------------------- election

  private handleElectionTimeout(): void {
    this.transition(() => this.onElectionTimeout());
  }

  private onElectionTimeout(): void {
    if (this.roleValue !== 'follower') return;
    const now = this.options.clock.now();
    const since = Math.max(this.lastLeaderContact, this.lastElectionReset);
    if (now - since < this.options.electionTimeoutMs) {
      // Heard from the leader (or voted) lately: wait for the rest of a randomized period
      // from that moment, not a whole new period from now (braft issue #481).
      this.armElectionTimer(since);
      return;
    }
    if (this.leaderId !== undefined) this.setLeader(undefined);
    this.armElectionTimer(now);
    this.preVote();
  }

  private armElectionTimer(from = this.options.clock.now()): void {
    const t = this.options.electionTimeoutMs;
    const due = from + t + this.options.random() * t;
    this.electionTimer.start(Math.max(1, due - this.options.clock.now()));
  }

  /** Whether a live leader's lease forbids voting for someone else now. */
  private inLease(disrupted: DisruptedLeader | undefined): boolean {
    if (
      disrupted !== undefined &&
      disrupted.peerId === this.leaderId &&
      disrupted.term === this.currentTerm
    ) {
      return false;
    }
    if (this.isLeaderRole()) return true;
    if (this.roleValue !== 'follower' || this.leaderId === undefined) return false;
    return this.options.clock.now() - this.lastLeaderContact < this.options.electionTimeoutMs;
  }

  private preVote(): void {
    const conf = this.log.latestConfiguration();
    if (!isVoter(conf, this.self)) return;
    const version = ++this.electionVersion;
    const ballot = new Ballot(conf);
    ballot.grant(this.self);
    if (ballot.isGranted()) {
      this.electSelf();
      return;
    }
    const term = this.currentTerm;
    this.logger.debug('pre-vote', { term: term + 1 });
    for (const peer of allPeers(conf)) {
      if (peer === this.self || !isVoter(conf, peer)) continue;
      const request: RequestVoteRequest = {
        groupId: this.options.groupId,
        from: this.self,
        to: peer,
        term: term + 1,
        preVote: true,
        lastLogIndex: this.log.lastIndex,
        lastLogTerm: this.log.lastLogTerm,
      };
      this.options.transport
        .call('requestVote', request, { timeoutMs: this.options.rpcTimeoutMs })
        .then(
          (response) => {
            if (
              version !== this.electionVersion ||
              this.roleValue !== 'follower' ||
              term !== this.currentTerm
            )
              return;
            if (response.term > this.currentTerm) {
              this.stepDown(response.term, 'pre-vote answered with a later term', undefined);
              return;
            }
            if (!response.granted) return;
            ballot.grant(peer);
            if (ballot.isGranted()) this.electSelf();
          },
          () => {},
        );
    }
  }

  /** Stands for election: term + 1, vote for self, persist both, then ask the peers. */
  private electSelf(disruptedLeader?: DisruptedLeader): boolean {
    const conf = this.log.latestConfiguration();
    if (!isVoter(conf, this.self) || !this.isRunning()) return false;
    this.transition(() => this.campaign(conf, disruptedLeader));
    return true;
  }

  private campaign(conf: Configuration, disruptedLeader: DisruptedLeader | undefined): void {
    if (this.leaderId !== undefined) this.setLeader(undefined);
    this.electionTimer.stop();
    this.currentTerm++;
    this.votedFor = this.self;
    this.notify('termChange', { term: this.currentTerm });
    this.setRole('candidate');
    const term = this.currentTerm;
    const version = ++this.electionVersion;
    const ballot = new Ballot(conf);
    ballot.grant(this.self);
    const t = this.options.electionTimeoutMs;
    this.voteTimer.start(t + this.options.maxClockDriftMs + this.options.random() * t);
    this.logger.debug('elect self', { term });
    // The term and the self-vote must be durable before any RequestVote leaves.
    this.persistMeta().then(
      () => {
        if (
          version !== this.electionVersion ||
          this.roleValue !== 'candidate' ||
          term !== this.currentTerm
        )
          return;
        if (ballot.isGranted()) {
          this.becomeLeader();
          return;
        }
        this.requestPeersToVote(conf, term, version, ballot, disruptedLeader);
      },
      () => {},
    );
  }

  private requestPeersToVote(
    conf: Configuration,
    term: number,
    version: number,
    ballot: Ballot,
    disruptedLeader: DisruptedLeader | undefined,
  ): void {
    for (const peer of allPeers(conf)) {
      if (peer === this.self || !isVoter(conf, peer)) continue;
      const request: RequestVoteRequest = {
        groupId: this.options.groupId,
        from: this.self,
        to: peer,
        term,
        preVote: false,
        lastLogIndex: this.log.lastIndex,
        lastLogTerm: this.log.lastLogTerm,
        ...(disruptedLeader ? { disruptedLeader } : {}),
      };
      this.options.transport
        .call('requestVote', request, { timeoutMs: this.options.rpcTimeoutMs })
        .then(
          (response) => {
            if (version !== this.electionVersion) return;
            if (response.term > this.currentTerm) {
              this.stepDown(response.term, 'vote answered with a later term', undefined);
              return;
            }
            if (
              version !== this.electionVersion ||
              this.roleValue !== 'candidate' ||
              response.term !== term
            )
              return;
            if (!response.granted) return;
            ballot.grant(peer);
            if (ballot.isGranted()) this.becomeLeader();
          },
          () => {},
        );
    }
  }

  private handleVoteTimeout(): void {
    if (this.roleValue !== 'candidate') return;
    // braft: a timed-out candidate steps down and starts over with a pre-vote.
    this.stepDown(this.currentTerm, 'vote timed out', undefined);
    this.preVote();
  }

  private becomeLeader(): void {
    this.transition(() => this.takeLeadership());
  }

  private takeLeadership(): void {
    this.voteTimer.stop();
    this.electionTimer.stop();
    const term = this.currentTerm;
    const conf = this.log.latestConfiguration();
    this.setRole('leader');
    this.setLeader(this.self);
    // The first entry of the term: the configuration in force, serving as the no-op that
    // lets entries of earlier terms commit (Raft paper section 8).
    const index = this.log.lastIndex + 1;
    this.leaderStartIndex = index;
    this.leaderStarted = false;
    this.log.appendLocal([
      { index, term, type: EntryType.Configuration, data: encodeConfiguration(conf) },
    ]);
    this.stableAppendedFor = -1;
    this.syncReplicators();
    this.stepdownTimer.start(this.options.electionTimeoutMs);
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
    this.transition(() => {
      const wasLeader = this.isLeaderRole();
      this.electionVersion++;
      if (wasLeader) {
        this.logger.info('stepping down', { reason, term: this.currentTerm });
        this.stopLeading(new LeaderSteppedDownError(`the leader stepped down: ${reason}`));
      }
      this.voteTimer.stop();
      if (term > this.currentTerm) {
        this.currentTerm = term;
        this.votedFor = null;
        void this.persistMeta();
        this.notify('termChange', { term });
      }
      if (this.roleValue !== 'follower') this.setRole('follower');
      if (leader !== this.leaderId) this.setLeader(leader);
      if (!this.electionTimer.armed) this.armElectionTimer();
    });
  }

  private stopLeading(error: RaftError): void {
    this.stepdownTimer.stop();
    const change = this.change;
    if (change) {
      this.change = undefined;
      change.timer.stop();
      change.reject(error);
    }
    for (const r of this.replicators.values()) r.stop();
    this.replicators.clear();
    this.leaderStartIndex = Number.POSITIVE_INFINITY;
    this.proposals.failAll(error);
    this.failReads(error);
    const wasStarted = this.leaderStarted;
    this.leaderStarted = false;
    if (wasStarted) this.callback(() => this.sm.onLeaderStop?.(error));
  }

  private handleStepdownTimeout(): void {
    if (!this.isLeaderRole()) return;
    const now = this.options.clock.now();
    const since = now - this.options.electionTimeoutMs;
    const conf = this.log.latestConfiguration();
    // Check-quorum: a leader that has not heard from a quorum within an election timeout
    // steps down, so a partitioned leader does not linger and clients go elsewhere.
    const alive = hasQuorum(
      conf,
      (p) => p === this.self || (this.replicators.get(p)?.lastAckSentTime ?? -1) >= since,
    );
    if (!alive) {
      this.stepDown(
        this.currentTerm,
        'check-quorum: no quorum acknowledged within the election timeout',
        undefined,
      );
      return;
    }
    this.stepdownTimer.start(this.options.electionTimeoutMs);
  }

  private handleSnapshotTimeout(): void {
    if (!this.isRunning()) return;
    this.snapshotTimer.start(this.options.snapshotIntervalS * 1000);
    if (!this.snapshots.enabled) return;
    this.snapshot().catch((error: unknown) => {
      this.logger.error('periodic snapshot failed', { error: String(error) });
    });
  }

  // ---------------------------------------------------------------- replication

  private onMatch(peer: PeerId): void {
    this.updateCommit();
    if (this.change?.stage === 'catching-up' && this.change.newPeers.includes(peer)) {
      this.advanceChange();
    }
    if (this.transfer && !this.transfer.sent && this.transfer.target === peer)
      this.maybeSendTimeoutNow();
  }

  private onAck(): void {
    if (this.pendingReads.length > 0) this.confirmReads();
    if (this.change?.stage === 'catching-up') this.advanceChange();
  }

  private onHigherTerm(term: number, from: PeerId): void {
    if (this.isRunning() && term > this.currentTerm) {
      this.stepDown(term, `${from} is in a later term`, undefined);
    }
  }

  private scheduleReplicate(): void {
    if (this.replicateScheduled) return;
    this.replicateScheduled = true;
    queueMicrotask(() => {
      this.replicateScheduled = false;
      if (!this.isLeaderRole()) return;
      for (const r of this.replicators.values()) r.kick();
      // A single-voter group commits as soon as its own write is durable.
      this.updateCommit();
    });
  }

  /** BallotBox: the commit index is what a quorum holds, from the leader's first entry on. */
  private updateCommit(): void {
    if (!this.isLeaderRole()) return;
    const conf = this.log.latestConfiguration();
    const q = quorumMatchIndex(conf, (p) =>
      p === this.self ? this.log.durableIndex : (this.replicators.get(p)?.matchIndex ?? 0),
    );
    if (q > this.commit && q >= this.leaderStartIndex) {
      this.commit = q;
      this.fsm.setCommitted(q);
      this.onLeaderCommit();
    }
  }

  // ---------------------------------------------------------------- membership

  /**
   * Changes the group's membership to `target` (leader only) by joint consensus: new voters
   * first catch up as learners, then C(old,new) is committed, then C(new). Resolves once
   * C(new) is committed. One change at a time (BUSY otherwise). A leader that is not in
   * `target` leads until C(new) commits, then steps down. If leadership is lost meanwhile the
   * promise fails with LEADER_STEPPED_DOWN and the next leader completes a joint
   * configuration it finds in its log.
   */
  changeConfiguration(target: Configuration, options: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.started || this.shutdownPromise) return Promise.reject(new ShutdownError());
    if (this.roleValue === 'transferring') return Promise.reject(new TransferInProgressError());
    if (this.roleValue !== 'leader') return Promise.reject(new NotLeaderError(this.leaderId));
    try {
      validateConfiguration(target, 'target configuration');
    } catch (error) {
      return Promise.reject(error);
    }
    if (isJoint(target)) {
      return Promise.reject(
        new BadRequestError('give the configuration to reach, not a joint one'),
      );
    }
    const latest = this.log.configurations.latest();
    if (this.change || isJoint(latest.configuration) || latest.index > this.commit) {
      return Promise.reject(
        new BusyError('a configuration change is in progress; retry once it is done'),
      );
    }
    const from = latest.configuration;
    const target2: Configuration = {
      voters: [...target.voters],
      ...(target.learners && target.learners.length > 0 ? { learners: [...target.learners] } : {}),
    };
    if (sameConfiguration(from, target2)) return Promise.resolve();
    // Every peer that becomes a voter catches up first: a brand-new one, and a learner being
    // promoted (it may be far behind, or down: the joint configuration would then stall).
    const voting = new Set(from.voters);
    const newPeers = allPeers(target2).filter((p) => !voting.has(p) && p !== this.self);
    const timeoutMs = options.timeoutMs ?? 20 * this.options.electionTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const timer = new RaftTimer(this.options.clock, () => {
        const c = this.change;
        if (!c || c.timer !== timer) return;
        if (c.stage !== 'catching-up') return; // past the point of no return: let it finish
        this.change = undefined;
        this.syncReplicators();
        reject(new TimeoutError('new peers did not catch up in time; membership unchanged'));
      });
      this.change = {
        from,
        target: target2,
        newPeers,
        stage: 'catching-up',
        waitIndex: 0,
        timer,
        resolve,
        reject,
      };
      timer.start(timeoutMs);
      this.logger.info('membership change', { from, target: target2 });
      this.syncReplicators();
      this.advanceChange();
    });
  }

  /** Moves a change on from catching-up once every new voter is nearly current. */
  private advanceChange(): void {
    const c = this.change;
    if (!c || c.stage !== 'catching-up' || !this.isLeaderRole()) return;
    const near = Math.max(
      this.log.lastIndex - this.options.maxEntriesPerRpc,
      this.commit > 0 ? 1 : 0,
    );
    // Alive too: a learner that went down keeps the matchIndex it had, which says nothing
    // about whether it could vote now.
    const recent = this.options.clock.now() - this.options.electionTimeoutMs;
    for (const p of c.newPeers) {
      if (!c.target.voters.includes(p)) continue; // learners need not catch up first
      const r = this.replicators.get(p);
      if (!r || r.matchIndex < near || r.lastAckSentTime < recent) return;
    }
    if (votersChanged(c.from, c.target)) {
      c.stage = 'joint';
      c.waitIndex = this.appendConfiguration({ ...c.target, oldVoters: c.from.voters });
    } else {
      c.stage = 'stable';
      c.waitIndex = this.appendConfiguration(c.target);
    }
  }

  /** After the commit index moved: finish joint configurations and changes. */
  private onLeaderCommit(): void {
    const latest = this.log.configurations.latest();
    if (
      isJoint(latest.configuration) &&
      latest.index <= this.commit &&
      this.stableAppendedFor !== latest.index &&
      this.isLeaderRole()
    ) {
      // C(old,new) is committed: now C(new). A new leader that inherited a joint
      // configuration completes it the same way.
      this.stableAppendedFor = latest.index;
      const { oldVoters: _old, ...stable } = latest.configuration;
      const index = this.appendConfiguration(stable);
      if (this.change?.stage === 'joint') {
        this.change.stage = 'stable';
        this.change.waitIndex = index;
      }
      return;
    }
    const c = this.change;
    if (c?.stage === 'stable' && c.waitIndex <= this.commit) {
      this.change = undefined;
      c.timer.stop();
      this.syncReplicators();
      c.resolve();
    }
    if (
      !isJoint(latest.configuration) &&
      latest.index <= this.commit &&
      !isVoter(latest.configuration, this.self)
    ) {
      // Removed from the group: leading it any longer would only disrupt it.
      this.stepDown(this.currentTerm, 'removed from the configuration', undefined);
    }
  }

  /** Appends a configuration entry of the current term; returns its index. */
  private appendConfiguration(conf: Configuration): number {
    const index = this.log.lastIndex + 1;
    this.log.appendLocal([
      {
        index,
        term: this.currentTerm,
        type: EntryType.Configuration,
        data: encodeConfiguration(conf),
      },
    ]);
    this.syncReplicators();
    this.scheduleReplicate();
    return index;
  }

  /** One replicator per peer of the latest configuration (and per peer catching up). */
  private syncReplicators(): void {
    if (!this.isLeaderRole()) return;
    const wanted = new Set(allPeers(this.log.latestConfiguration()));
    for (const p of this.change?.newPeers ?? []) wanted.add(p);
    wanted.delete(this.self);
    for (const [peer, r] of this.replicators) {
      if (!wanted.has(peer)) {
        r.stop();
        this.replicators.delete(peer);
      }
    }
    for (const peer of wanted) {
      if (this.replicators.has(peer)) continue;
      const r = new Replicator(this.host, peer, this.currentTerm);
      this.replicators.set(peer, r);
      r.start();
    }
  }

  private maybeSendTimeoutNow(): void {
    const t = this.transfer;
    if (!t || t.sent || this.roleValue !== 'transferring') return;
    const r = this.replicators.get(t.target);
    if (!r) return;
    if (r.matchIndex < this.log.lastIndex) {
      r.kick();
      return;
    }
    t.sent = true;
    const request: TimeoutNowRequest = {
      groupId: this.options.groupId,
      from: this.self,
      to: t.target,
      term: this.currentTerm,
    };
    this.options.transport
      .call('timeoutNow', request, { timeoutMs: this.options.rpcTimeoutMs })
      .then(
        (response) => {
          if (response.success || response.term > this.currentTerm) {
            this.onHigherTerm(response.term, t.target);
            return;
          }
          this.retryTimeoutNow(t);
        },
        () => this.retryTimeoutNow(t),
      );
  }

  /** A lost or refused TimeoutNow is sent again after a heartbeat interval. */
  private retryTimeoutNow(t: Transfer): void {
    if (this.transfer !== t || this.roleValue !== 'transferring') return;
    const retry = new RaftTimer(this.options.clock, () => {
      if (this.transfer !== t) return;
      t.sent = false;
      this.maybeSendTimeoutNow();
    });
    t.retry = retry;
    retry.start(this.options.heartbeatIntervalMs);
  }

  // ---------------------------------------------------------------- apply

  private proposalRefusal(options: ApplyOptions): RaftError | undefined {
    if (!this.started || this.shutdownPromise) return new ShutdownError();
    if (this.roleValue === 'transferring') return new TransferInProgressError();
    if (this.roleValue !== 'leader') return new NotLeaderError(this.leaderId);
    if (options.expectedTerm !== undefined && options.expectedTerm !== this.currentTerm) {
      return new TermMismatchError(options.expectedTerm, this.currentTerm);
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
    if (this.proposals.size > 0) {
      for (let i = 0; i < data.length; i++) {
        const e = data[i] as LogEntry;
        const p = this.proposals.take(e.index);
        if (p === undefined) continue;
        if (p.term === e.term) p.resolve({ index: e.index, term: e.term, result: results?.[i] });
        else
          p.reject(new LeaderSteppedDownError('another entry was committed at the proposal index'));
      }
    }
    this.afterApply(last);
  }

  private onConfigurationApplied(entry: LogEntry): void {
    const conf = this.log.configurations.at(entry.index).configuration;
    this.callback(() => this.sm.onConfigurationCommitted?.(conf, entry.index));
    if (
      entry.index === this.leaderStartIndex &&
      this.isLeaderRole() &&
      entry.term === this.currentTerm
    ) {
      this.leaderStarted = true;
      const term = this.currentTerm;
      this.callback(() => this.sm.onLeaderStart?.(term));
      const waiting = this.readsAwaitingLeaderStart;
      this.readsAwaitingLeaderStart = [];
      for (const w of waiting) w();
    }
    this.afterApply(entry.index);
  }

  private afterApply(applied: number): void {
    if (this.appliedWaiters.length > 0) {
      const still: AppliedWaiter[] = [];
      for (const w of this.appliedWaiters) {
        if (w.index <= applied) w.resolve();
        else still.push(w);
      }
      this.appliedWaiters = still;
    }
    // Keep in memory what a follower may still need, within bounds; a follower further
    // behind is fed from storage.
    let floor = applied;
    if (this.isLeaderRole() && this.log.memoryBytes <= LOG_CACHE_BYTES) {
      for (const r of this.replicators.values()) floor = Math.min(floor, r.matchIndex);
      floor = Math.max(floor, applied - LOG_CACHE_ENTRIES);
    }
    this.log.releaseMemory(floor);
  }

  // ---------------------------------------------------------------- reads

  private async leaderReadIndex(mode: 'safe' | 'lease'): Promise<number> {
    if (!this.leaderStarted) {
      // The commit index is only known to be current once an entry of this term committed.
      await new Promise<void>((resolve) => this.readsAwaitingLeaderStart.push(resolve));
      if (!this.isLeaderRole()) throw new NotLeaderError(this.leaderId);
    }
    const readIndex = this.commit;
    const conf = this.log.latestConfiguration();
    if (hasQuorum(conf, (p) => p === this.self)) return readIndex;
    if (mode === 'lease' && this.roleValue === 'leader' && this.leaseValid(conf)) return readIndex;
    const since = this.options.clock.now();
    const confirmed = new Promise<number>((resolve, reject) => {
      this.pendingReads.push({ readIndex, since, resolve, reject });
    });
    for (const r of this.replicators.values()) r.heartbeatNow();
    return confirmed;
  }

  /**
   * Whether a quorum acknowledged RPCs sent within electionTimeout - maxClockDrift: until
   * then no follower of that quorum grants a vote, so no other leader can exist. Not while
   * transferring leadership: the target is told to skip the lease.
   */
  private leaseValid(conf: Configuration): boolean {
    const since =
      this.options.clock.now() - (this.options.electionTimeoutMs - this.options.maxClockDriftMs);
    return hasQuorum(
      conf,
      (p) => p === this.self || (this.replicators.get(p)?.lastAckSentTime ?? -1) >= since,
    );
  }

  private confirmReads(): void {
    const conf = this.log.latestConfiguration();
    const still: PendingRead[] = [];
    for (const read of this.pendingReads) {
      const ok = hasQuorum(
        conf,
        (p) => p === this.self || (this.replicators.get(p)?.lastAckSentTime ?? -1) >= read.since,
      );
      if (ok) read.resolve(read.readIndex);
      else still.push(read);
    }
    this.pendingReads = still;
  }

  private failReads(error: RaftError): void {
    const reads = this.pendingReads;
    this.pendingReads = [];
    for (const r of reads) r.reject(error);
    const waiting = this.readsAwaitingLeaderStart;
    this.readsAwaitingLeaderStart = [];
    for (const w of waiting) w();
  }

  private waitApplied(index: number): Promise<void> {
    if (this.fsm.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve, reject) => this.appliedWaiters.push({ index, resolve, reject }));
  }

  /**
   * Runs a read with a deadline, the caller's AbortSignal and the node's shutdown; `run`
   * gets a signal that ends whatever call it makes when any of them fires.
   */
  private withDeadline<T>(
    timeoutMs: number,
    signal: AbortSignal | undefined,
    run: (call: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (signal?.aborted) return Promise.reject(new AbortedError());
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const call = new AbortController();
      const finish = () => {
        done = true;
        this.options.clock.clearTimer(timer);
        signal?.removeEventListener('abort', onAbort);
        this.activeReads.delete(onShutdown);
        call.abort();
      };
      const onAbort = () => {
        if (done) return;
        finish();
        reject(new AbortedError());
      };
      const onShutdown = () => {
        if (done) return;
        finish();
        reject(new ShutdownError());
      };
      this.activeReads.add(onShutdown);
      const timer = this.options.clock.setTimer(() => {
        if (done) return;
        finish();
        reject(new TimeoutError(`read timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      run(call.signal).then(
        (v) => {
          if (done) return;
          finish();
          resolve(v);
        },
        (e: unknown) => {
          if (done) return;
          finish();
          reject(toRaftError(e));
        },
      );
    });
  }

  // ---------------------------------------------------------------- state helpers

  private setRole(role: Role): void {
    const previous = this.roleValue;
    if (previous === role) return;
    // Nothing leaves `shutdown`, and `error` leads only to `shutdown`.
    if (previous === 'shutdown' || (previous === 'error' && role !== 'shutdown')) return;
    this.roleValue = role;
    this.notify('roleChange', { role, previous, term: this.currentTerm });
  }

  private setLeader(leader: PeerId | undefined): void {
    const previous = this.leaderId;
    if (previous === leader) return;
    const term = this.currentTerm;
    if (previous !== undefined && previous !== this.self) {
      this.callback(() => this.sm.onStopFollowing?.({ leaderId: previous, term }));
    }
    this.leaderId = leader;
    if (leader !== undefined && leader !== this.self) {
      this.callback(() => this.sm.onStartFollowing?.({ leaderId: leader, term }));
      // A transfer is done once somebody else leads, not merely when this node stepped down.
      const t = this.transfer;
      if (t) {
        this.transfer = undefined;
        t.timer.stop();
        t.retry?.stop();
        this.callback(() => t.resolve());
      }
    }
    this.notify('leaderChange', { leaderId: leader, term });
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

  /** Persists term and vote; concurrent calls share one write of the latest values. */
  private persistMeta(): Promise<void> {
    this.metaDirty = true;
    if (!this.metaChain) {
      const chain = this.flushMeta();
      this.metaChain = chain;
      chain.catch((error: unknown) => this.enterError(toRaftError(error, 'STORAGE')));
    }
    return this.metaChain;
  }

  private async flushMeta(): Promise<void> {
    try {
      // Yield once so that changes made in the same turn share this write.
      await undefined;
      while (this.metaDirty) {
        this.metaDirty = false;
        await this.options.metaStorage.save({ term: this.currentTerm, votedFor: this.votedFor });
      }
    } finally {
      // Cleared in the same turn as the last look at metaDirty: a change made after that
      // starts a new chain instead of joining one that has already written its last value.
      this.metaChain = undefined;
    }
  }

  /** Runs `fn` (an event or a state-machine callback) once the current transition is done. */
  private callback(fn: () => void): void {
    const guarded = () => {
      try {
        fn();
      } catch (error) {
        this.logger.error('state machine callback threw', { error: String(error) });
      }
    };
    if (this.transitionDepth > 0) this.deferred.push(guarded);
    else guarded();
  }

  private notify<K extends keyof NodeEvents>(name: K, event: NodeEvents[K]): void {
    this.callback(() => this.emit(name, event));
  }

  /** Runs a state change; events and callbacks it raises are delivered when it is complete. */
  private transition<T>(fn: () => T): T {
    this.transitionDepth++;
    try {
      return fn();
    } finally {
      this.transitionDepth--;
      if (this.transitionDepth === 0 && !this.flushing) {
        this.flushing = true;
        try {
          for (let i = 0; i < this.deferred.length; i++) this.deferred[i]?.();
        } finally {
          this.deferred = [];
          this.flushing = false;
        }
      }
    }
  }

  protected override onListenerError(error: unknown): void {
    this.logger.error('event listener threw', { error: String(error) });
  }

  private stopTimers(): void {
    this.electionTimer.stop();
    this.voteTimer.stop();
    this.stepdownTimer.stop();
    this.snapshotTimer.stop();
    if (this.transfer) {
      this.transfer.timer.stop();
      this.transfer.retry?.stop();
      this.transfer.reject(new ShutdownError());
      this.transfer = undefined;
    }
  }

  private enterError(error: RaftError): void {
    if (this.roleValue === 'error' || this.roleValue === 'shutdown') return;
    this.transition(() => this.stopOnError(error));
  }

  private stopOnError(error: RaftError): void {
    this.logger.error('node stopped on error', { code: error.code, message: error.message });
    this.electionVersion++;
    if (this.isLeaderRole()) this.stopLeading(error);
    this.stopTimers();
    this.setRole('error');
    this.callback(() => this.sm.onError?.(error));
    this.notify('error', { error });
  }

  private async doShutdown(): Promise<void> {
    const error = new ShutdownError();
    this.transition(() => {
      this.electionVersion++;
      if (this.isLeaderRole()) this.stopLeading(error);
      this.stopTimers();
      this.unserve?.();
      this.unserve = undefined;
      for (const end of [...this.activeReads]) end();
      this.proposals.failAll(error);
      this.failReads(error);
      const waiters = this.appliedWaiters;
      this.appliedWaiters = [];
      for (const w of waiters) w.reject(error);
      if (this.leaderId !== undefined && this.leaderId !== this.self) this.setLeader(undefined);
      this.setRole('shutdown');
    });
    await this.fsm.stop();
    await this.snapshots.abortReceiving();
    await this.log.whenIdle();
    if (this.metaChain) await this.metaChain.catch(() => {});
    this.log.close(error);
    if (this.started) this.callback(() => this.sm.onShutdown?.());
  }

  private rejectAppend(
    conflictTerm?: number,
    conflictIndex?: number,
  ): Promise<AppendEntriesResponse> {
    const response: AppendEntriesResponse = {
      term: this.currentTerm,
      success: false,
      lastLogIndex: this.log.lastIndex,
      ...(conflictTerm !== undefined ? { conflictTerm } : {}),
      ...(conflictIndex !== undefined ? { conflictIndex } : {}),
    };
    // Never reveal a term that is not yet durable.
    const pending = this.metaChain;
    return pending ? pending.then(() => response) : Promise.resolve(response);
  }
}

/** Creates a node and starts it. */
export async function startNode<R>(options: NodeOptions<R>): Promise<RaftNode<R>> {
  const node = new RaftNode<R>(options);
  await node.start();
  return node;
}
