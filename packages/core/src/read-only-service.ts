import { hasQuorum } from './configuration.js';
import {
  AbortedError,
  NotLeaderError,
  type RaftError,
  ShutdownError,
  TimeoutError,
  toRaftError,
} from './errors.js';
import type { LeaderLease } from './lease.js';
import type { ReadIndexRequest, ReadIndexResponse } from './messages.js';
import type { ResolvedOptions } from './options.js';
import type { ReplicatorGroup } from './replicator-group.js';
import type { Configuration, PeerId, Role } from './types.js';

/** What the read-only service reads from its node. */
export interface ReadOnlyHost {
  readonly options: ResolvedOptions<unknown>;
  readonly replicators: ReplicatorGroup;
  readonly lease: LeaderLease;
  role(): Role;
  term(): number;
  leaderId(): PeerId | undefined;
  commitIndex(): number;
  appliedIndex(): number;
  latestConfiguration(): Configuration;
  /** Whether this leader's first entry of its term is applied (its commit index is current). */
  leaderStarted(): boolean;
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

/**
 * Linearizable reads (braft's ReadOnlyService; Raft thesis 6.4): ReadIndex confirmed by a
 * round of heartbeats, lease reads, and followers asking the leader for its read index.
 * A read resolves once this node has applied everything committed before it began.
 */
export class ReadOnlyService {
  private pendingReads: PendingRead[] = [];
  private awaitingLeaderStart: Array<() => void> = [];
  private appliedWaiters: AppliedWaiter[] = [];
  /** Reads in progress: shutdown ends each (no listener per read on a shared signal). */
  /** Created with the first call in flight (most nodes of a multi-raft process never make one). */
  private active: Set<() => void> | undefined;

  constructor(private readonly host: ReadOnlyHost) {}

  /** Whether a leader read waits for its confirmation or for the leader's start. */
  get busy(): boolean {
    return this.pendingReads.length > 0 || this.awaitingLeaderStart.length > 0;
  }

  /** A read barrier on any node: the index to read at, once applied here. */
  read(options: ReadOptions): Promise<number> {
    const o = this.host.options;
    const timeoutMs = options.timeoutMs ?? o.electionTimeoutMs;
    return this.withDeadline(timeoutMs, options.signal, async (call) => {
      let index: number;
      const role = this.host.role();
      if (role === 'leader' || role === 'transferring') {
        index = await this.leaderReadIndex(options.mode ?? 'safe');
      } else {
        const leader = this.host.leaderId();
        if (leader === undefined)
          throw new NotLeaderError(undefined, 'no leader is known to serve the read');
        const response = await o.transport.call(
          'readIndex',
          { groupId: o.groupId, from: o.peerId, to: leader, term: this.host.term() },
          { timeoutMs, signal: call },
        );
        if (!response.success)
          throw new NotLeaderError(this.host.leaderId(), 'the leader refused the read index');
        index = response.readIndex;
      }
      await this.waitApplied(index);
      return index;
    });
  }

  /** The leader's read index: its commit index, once leadership is confirmed. */
  async leaderReadIndex(mode: 'safe' | 'lease'): Promise<number> {
    if (!this.host.leaderStarted()) {
      // The commit index is only known to be current once an entry of this term committed.
      await new Promise<void>((resolve) => this.awaitingLeaderStart.push(resolve));
      const role = this.host.role();
      if (role !== 'leader' && role !== 'transferring')
        throw new NotLeaderError(this.host.leaderId());
    }
    const readIndex = this.host.commitIndex();
    const conf = this.host.latestConfiguration();
    const self = this.host.options.peerId;
    if (hasQuorum(conf, (p) => p === self)) return readIndex;
    // Not while transferring leadership: the target is told to skip the lease.
    if (mode === 'lease' && this.host.role() === 'leader' && this.host.lease.valid(conf)) {
      return readIndex;
    }
    const since = this.host.options.clock.now();
    const confirmed = new Promise<number>((resolve, reject) => {
      this.pendingReads.push({ readIndex, since, resolve, reject });
    });
    this.host.replicators.heartbeatAll();
    return confirmed;
  }

  /** A follower asks this node, as leader, for a read index. */
  async serve(req: ReadIndexRequest): Promise<ReadIndexResponse> {
    const role = this.host.role();
    const term = this.host.term();
    if ((role !== 'leader' && role !== 'transferring') || req.term > term) {
      return { term, success: false, readIndex: 0 };
    }
    try {
      const readIndex = await this.leaderReadIndex('safe');
      return { term: this.host.term(), success: true, readIndex };
    } catch {
      return { term: this.host.term(), success: false, readIndex: 0 };
    }
  }

  /** A follower acknowledged an RPC: reads that waited for a quorum may be confirmed. */
  onAck(): void {
    if (this.pendingReads.length === 0) return;
    const conf = this.host.latestConfiguration();
    const still: PendingRead[] = [];
    for (const read of this.pendingReads) {
      if (this.host.replicators.quorumAckedSince(conf, read.since)) read.resolve(read.readIndex);
      else still.push(read);
    }
    this.pendingReads = still;
  }

  /** The leader's first entry of its term is applied: reads that waited for it go on. */
  onLeaderStarted(): void {
    this.releaseAwaitingLeaderStart();
  }

  /** The node stopped leading: reads waiting for confirmation fail. */
  failLeaderReads(error: RaftError): void {
    const reads = this.pendingReads;
    this.pendingReads = [];
    for (const r of reads) r.reject(error);
    this.releaseAwaitingLeaderStart();
  }

  /** Entries (or a snapshot) up to `applied` are applied here. */
  onApplied(applied: number): void {
    if (this.appliedWaiters.length === 0) return;
    const still: AppliedWaiter[] = [];
    for (const w of this.appliedWaiters) {
      if (w.index <= applied) w.resolve();
      else still.push(w);
    }
    this.appliedWaiters = still;
  }

  /** Shutdown: every read in progress fails with SHUTDOWN. */
  shutdown(error: ShutdownError): void {
    for (const end of [...(this.active ?? [])]) end();
    this.failLeaderReads(error);
    const waiters = this.appliedWaiters;
    this.appliedWaiters = [];
    for (const w of waiters) w.reject(error);
  }

  private releaseAwaitingLeaderStart(): void {
    const waiting = this.awaitingLeaderStart;
    this.awaitingLeaderStart = [];
    for (const w of waiting) w();
  }

  private waitApplied(index: number): Promise<void> {
    if (this.host.appliedIndex() >= index) return Promise.resolve();
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
    const clock = this.host.options.clock;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const call = new AbortController();
      const finish = () => {
        done = true;
        clock.clearTimer(timer);
        signal?.removeEventListener('abort', onAbort);
        this.active?.delete(onShutdown);
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
      this.active ??= new Set();
      this.active.add(onShutdown);
      const timer = clock.setTimer(() => {
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
}
