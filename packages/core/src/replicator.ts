import type { LogManager } from './log-manager.js';
import type { Logger } from './logger.js';
import type { AppendEntriesRequest, AppendEntriesResponse } from './messages.js';
import { NodeMetrics, type PeerMetrics } from './metrics.js';
import type { ResolvedOptions } from './options.js';
import type { SnapshotReader } from './storage.js';
import { RaftTimer } from './timer.js';
import type { LogEntry, PeerId } from './types.js';

/**
 * How long an AppendEntries or InstallSnapshot answer is still awaited, in election timeouts
 * (at least rpcTimeoutMs). Past rpcTimeoutMs the replicator sends again without giving up on
 * the first call: on a network that delays replies for seconds, a late answer is still true
 * for this term and still moves matchIndex (issue 9).
 */
export const REPLY_HORIZON_TIMEOUTS = 10;

/** What a replicator needs from its node. */
export interface ReplicatorHost {
  readonly options: ResolvedOptions<unknown>;
  readonly log: LogManager;
  commitIndex(): number;
  /** The follower holds the leader's log up to `matchIndex`, durably. */
  onMatch(peer: PeerId, matchIndex: number): void;
  /** The follower answered an RPC of this term: used by check-quorum and reads. */
  onAck(peer: PeerId): void;
  /** The follower is in a later term: the leader must step down. */
  onHigherTerm(term: number, from: PeerId): void;
  /** The latest snapshot, to send to a follower that needs compacted entries. */
  openSnapshot(): Promise<SnapshotReader | null>;
  /** Where round-trip times go. */
  readonly metrics?: NodeMetrics;
  /** A heartbeat interval passed with nothing but a heartbeat to send (the leader may quiesce). */
  onIdleHeartbeat?(): void;
}

/**
 * `probe`: one AppendEntries at a time until the logs match; `replicate`: pipelined;
 * `snapshot`: sending the latest snapshot, because the entries the follower needs are gone.
 */
export type ReplicatorState = 'probe' | 'replicate' | 'snapshot';

export interface ReplicatorStatus {
  readonly peerId: PeerId;
  readonly state: ReplicatorState;
  readonly nextIndex: number;
  readonly matchIndex: number;
  readonly inflightRpcs: number;
  /** When the last acknowledged RPC was sent, on the node's clock; undefined when never. */
  readonly lastAckAt: number | undefined;
}

/**
 * Replicates the leader's log to one follower (braft's Replicator; etcd's Progress).
 *
 * It starts in `probe`: one AppendEntries carrying entries from `nextIndex`, and on
 * rejection a jump back using the follower's hint (its last index, or the first index of
 * the conflicting term). Once one is accepted it switches to `replicate` and pipelines
 * AppendEntries, bounded by count and bytes in flight. Full batches pipeline up to that
 * window; a partial one waits while maxPartialInflightRpcs partial ones are in flight, so
 * that what is proposed meanwhile, however it arrives, goes out as one request (no timer:
 * an idle pipeline sends at once). A transport error drops back to probe after a back-off.
 * Heartbeats go on their own timer when nothing else was sent, and are sent with
 * prevLogIndex = matchIndex, so they never fail because of pipelining.
 *
 * Unanswered is not failed: a request left without an answer for rpcTimeoutMs is sent again
 * (a probe from the same index, or, when pipelining, one request from matchIndex + 1) on the
 * next heartbeat tick, while the first call stays open up to the reply horizon. Any success
 * of this term moves matchIndex, whichever pipeline it belonged to: the leader's log only
 * grows within its term, so what the follower confirmed stays true.
 */
export class Replicator {
  readonly peer: PeerId;
  private readonly host: ReplicatorHost;
  private readonly term: number;
  private readonly logger: Logger;
  private readonly rtt: PeerMetrics;

  private state: ReplicatorState = 'probe';
  private next: number;
  private match = 0;
  /** Bumped whenever the pipeline is reset; responses of an older one are only acks. */
  private version = 0;
  private inflight = 0;
  private inflightBytes = 0;
  /** Requests of the current pipeline in flight that were not full (Nagle's rule). */
  private partialInflight = 0;
  /** When the latest partial request was sent. */
  private lastPartialSentAt = Number.NEGATIVE_INFINITY;
  /** Data bytes of every AppendEntries still open, abandoned pipelines included. */
  private openBytes = 0;
  private probeOutstanding = false;
  private reading = false;
  private backoffMs = 0;
  /** Send times of the current pipeline's AppendEntries still unanswered, oldest first. */
  private readonly outstanding = new Map<number, number>();
  private seq = 0;
  private lastSendAt = Number.NEGATIVE_INFINITY;
  private lastAckSentAt = Number.NEGATIVE_INFINITY;
  private lastAckReceivedAt = Number.NEGATIVE_INFINITY;
  private stopped = false;
  /** Quiesced: no heartbeats until resumed. */
  private paused = false;
  private readonly heartbeatTimer: RaftTimer;
  private readonly backoffTimer: RaftTimer;

  constructor(host: ReplicatorHost, peer: PeerId, term: number) {
    this.host = host;
    this.peer = peer;
    this.term = term;
    this.next = host.log.lastIndex + 1;
    this.logger = host.options.logger.child(`replicator:${peer}`);
    this.rtt = (host.metrics ?? NodeMetrics.none).peer(peer);
    this.heartbeatTimer = new RaftTimer(host.options.clock, () => this.onHeartbeatTimer());
    this.backoffTimer = new RaftTimer(host.options.clock, () => this.sendProbe());
  }

  get matchIndex(): number {
    return this.match;
  }

  get nextIndex(): number {
    return this.next;
  }

  /** When the last RPC this follower acknowledged was sent (for check-quorum and leases). */
  get lastAckSentTime(): number {
    return this.lastAckSentAt;
  }

  /**
   * When an answer of this term from the follower last arrived, however late (a sign of life
   * for check-quorum; not for leases, which need the send time).
   */
  get lastAckReceivedTime(): number {
    return this.lastAckReceivedAt;
  }

  start(): void {
    this.sendProbe();
    this.heartbeatTimer.start(this.host.options.heartbeatIntervalMs);
  }

  stop(): void {
    this.stopped = true;
    this.heartbeatTimer.stop();
    this.backoffTimer.stop();
  }

  /** The group quiesces: no more heartbeats (nothing else is in flight by then). */
  pause(): void {
    this.paused = true;
    this.heartbeatTimer.stop();
  }

  /** The group woke: a heartbeat now, then on the usual interval. */
  resume(): void {
    if (!this.paused || this.stopped) return;
    this.paused = false;
    this.sendHeartbeat();
    this.heartbeatTimer.start(this.host.options.heartbeatIntervalMs);
  }

  /** Whether the follower holds the whole log and nothing is in flight to it. */
  get caughtUp(): boolean {
    return (
      this.state === 'replicate' &&
      !this.reading &&
      this.inflight === 0 &&
      this.match === this.host.log.lastIndex
    );
  }

  /** New entries or a new commit index: send what the window allows. */
  kick(): void {
    if (this.stopped || this.state === 'snapshot') return;
    if (this.state === 'replicate') this.pump();
    else if (!this.probeOutstanding && !this.backoffTimer.armed && !this.reading) this.sendProbe();
  }

  /** Sends an empty AppendEntries now (read-index confirmation, transfer). */
  heartbeatNow(): void {
    if (!this.stopped) this.sendHeartbeat();
  }

  status(): ReplicatorStatus {
    return {
      peerId: this.peer,
      state: this.state,
      nextIndex: this.next,
      matchIndex: this.match,
      inflightRpcs: this.inflight,
      lastAckAt: Number.isFinite(this.lastAckSentAt) ? this.lastAckSentAt : undefined,
    };
  }

  private pump(): void {
    const o = this.host.options;
    const log = this.host.log;
    while (
      !this.reading &&
      this.inflight < o.maxInflightRpcs &&
      this.openBytes < o.maxInflightBytes &&
      this.next <= log.lastIndex
    ) {
      // Nagle's rule without a timer: with maxPartialInflightRpcs partial requests in flight,
      // a batch that is not full waits and leaves with the next answer, together with all
      // that was appended meanwhile. An idle pipeline sends at once, however little.
      if (this.partialInflight >= o.maxPartialInflightRpcs && !this.fullBatchWaiting()) return;
      if (!this.sendEntries()) return;
    }
  }

  /** Whether the entries waiting to be sent fill an AppendEntries (by count or by bytes). */
  private fullBatchWaiting(): boolean {
    const o = this.host.options;
    const log = this.host.log;
    if (log.lastIndex - this.next + 1 >= o.maxEntriesPerRpc) return true;
    const bytes = log.bytesBetween(this.next, log.lastIndex);
    // Not in memory: read from storage, it is a batch of its own anyway.
    return bytes === undefined || bytes >= o.maxBytesPerRpc;
  }

  private sendProbe(): void {
    if (this.stopped || this.probeOutstanding || this.reading || this.state === 'snapshot') return;
    this.state = 'probe';
    this.sendEntries();
  }

  /** Sends entries from `next`; false when they must first be read from storage. */
  private sendEntries(): boolean {
    const o = this.host.options;
    const log = this.host.log;
    const prev = this.next - 1;
    const prevTerm = log.termAt(prev);
    if (prevTerm === undefined) {
      // The entry the follower needs was compacted away: it needs a snapshot.
      this.sendSnapshot();
      return false;
    }
    const got = log.getEntries(this.next, this.next + o.maxEntriesPerRpc, o.maxBytesPerRpc);
    if (Array.isArray(got)) {
      if (got.length === 0 && this.next <= log.lastIndex) {
        // Behind the compacted prefix after all.
        this.sendSnapshot();
        return false;
      }
      this.send(prev, prevTerm, got);
      return true;
    }
    this.reading = true;
    const version = this.version;
    const from = this.next;
    got.then(
      (entries) => {
        this.reading = false;
        if (this.stopped || version !== this.version) {
          this.kick();
          return;
        }
        if (entries.length === 0 || entries[0]?.index !== from) {
          // Compacted while being read: start over (which will send a snapshot).
          this.resetPipeline();
          this.sendProbe();
          return;
        }
        this.send(prev, prevTerm, entries);
        if (this.state === 'replicate') this.pump();
      },
      (error: unknown) => {
        this.reading = false;
        if (this.stopped) return;
        this.logger.error('reading entries to replicate failed', { error: String(error) });
        this.resetPipeline();
        this.scheduleBackoff();
      },
    );
    return false;
  }

  private send(prev: number, prevTerm: number, entries: readonly LogEntry[]): void {
    const o = this.host.options;
    let bytes = 0;
    for (const e of entries) bytes += e.data.byteLength;
    const version = this.version;
    const sentAt = o.clock.now();
    const seq = ++this.seq;
    // Partial: it took all that was waiting and still did not fill a request.
    const partial =
      prev + entries.length >= this.host.log.lastIndex &&
      entries.length < o.maxEntriesPerRpc &&
      bytes < o.maxBytesPerRpc;
    this.outstanding.set(seq, sentAt);
    this.inflight++;
    if (partial) {
      this.partialInflight++;
      this.lastPartialSentAt = sentAt;
    }
    this.inflightBytes += bytes;
    this.openBytes += bytes;
    if (this.state === 'replicate') this.next = prev + entries.length + 1;
    else this.probeOutstanding = true;
    this.lastSendAt = sentAt;
    const request: AppendEntriesRequest = {
      groupId: o.groupId,
      from: o.peerId,
      to: this.peer,
      term: this.term,
      prevLogIndex: prev,
      prevLogTerm: prevTerm,
      entries,
      leaderCommit: this.host.commitIndex(),
    };
    o.transport.call('appendEntries', request, { timeoutMs: this.replyHorizonMs() }).then(
      (response) => {
        this.rtt.answered(sentAt);
        this.openBytes -= bytes;
        this.onResponse(version, seq, prev, entries.length, bytes, partial, sentAt, response);
      },
      () => {
        this.openBytes -= bytes;
        this.onError(version);
      },
    );
  }

  /** How long a call stays open for a late answer. */
  private replyHorizonMs(): number {
    const o = this.host.options;
    return Math.max(o.rpcTimeoutMs, REPLY_HORIZON_TIMEOUTS * o.electionTimeoutMs);
  }

  private onResponse(
    version: number,
    seq: number,
    prev: number,
    count: number,
    bytes: number,
    partial: boolean,
    sentAt: number,
    response: AppendEntriesResponse,
  ): void {
    if (this.stopped) return;
    if (!this.checkTerm(response.term, sentAt)) return;
    if (version !== this.version) {
      // A request of an abandoned pipeline: a rejection says nothing about today's, but a
      // success is still a fact about the follower's log.
      if (response.success) this.onLateSuccess(prev + count);
      return;
    }
    this.outstanding.delete(seq);
    this.inflight--;
    this.inflightBytes -= bytes;
    if (partial) this.partialInflight--;
    this.probeOutstanding = false;
    if (response.success) {
      this.backoffMs = 0;
      const matched = prev + count;
      if (this.state === 'probe') {
        this.state = 'replicate';
        this.next = Math.max(matched, this.match) + 1;
      }
      this.advanceMatch(matched);
      if (!this.stopped) this.pump();
      return;
    }
    // Rejected: the follower's log does not hold (prev, prevTerm). Jump back (Raft paper 5.3,
    // with the conflict-term optimisation) and probe from there.
    if (response.lastLogIndex < this.match) {
      // The follower lost entries it had acknowledged (a disk that did not keep its
      // promise). Nothing committed depends on one follower; let it catch up again.
      this.logger.warn('follower lost acknowledged entries', {
        match: this.match,
        lastLogIndex: response.lastLogIndex,
      });
      this.match = response.lastLogIndex;
    }
    const next = Math.max(this.match + 1, Math.min(prev, this.backOff(prev, response)));
    const stuck = next === prev + 1;
    this.next = next;
    this.resetPipeline();
    // No progress (the same probe would be refused again): wait rather than spin.
    if (stuck) this.scheduleBackoff();
    else this.sendProbe();
  }

  private advanceMatch(matched: number): void {
    if (matched <= this.match) return;
    this.match = matched;
    if (this.next <= matched) this.next = matched + 1;
    this.host.onMatch(this.peer, matched);
  }

  /**
   * A success that arrived after its pipeline was abandoned (it was late, or the pipeline was
   * reset meanwhile). The follower holds the leader's log up to `matched`, so replication can
   * go on from there at once instead of waiting for the current probe.
   */
  private onLateSuccess(matched: number): void {
    if (matched <= this.match) return;
    this.advanceMatch(matched);
    if (this.stopped || this.state !== 'probe' || this.reading) return;
    this.version++;
    this.outstanding.clear();
    this.inflight = 0;
    this.inflightBytes = 0;
    this.partialInflight = 0;
    this.probeOutstanding = false;
    this.backoffTimer.stop();
    this.backoffMs = 0;
    this.state = 'replicate';
    this.next = this.match + 1;
    this.pump();
  }

  private backOff(prev: number, response: AppendEntriesResponse): number {
    if (response.lastLogIndex < prev) return response.lastLogIndex + 1;
    if (response.conflictTerm !== undefined) {
      const lastOfTerm = this.host.log.lastIndexOfTerm(response.conflictTerm);
      if (lastOfTerm !== undefined && lastOfTerm < prev) return lastOfTerm + 1;
      if (response.conflictIndex !== undefined) return response.conflictIndex;
    }
    return prev;
  }

  private onError(version: number): void {
    if (this.stopped || version !== this.version) return;
    this.resetPipeline();
    this.scheduleBackoff();
  }

  /** Handles the term of any response; false if the leader is stale and stepping down. */
  private checkTerm(term: number, sentAt: number): boolean {
    if (term > this.term) {
      this.host.onHigherTerm(term, this.peer);
      return false;
    }
    if (term === this.term) {
      this.lastAckReceivedAt = this.host.options.clock.now();
      if (sentAt > this.lastAckSentAt) {
        this.lastAckSentAt = sentAt;
        this.host.onAck(this.peer);
      }
    }
    return true;
  }

  private resetPipeline(): void {
    this.version++;
    this.outstanding.clear();
    this.inflight = 0;
    this.inflightBytes = 0;
    this.partialInflight = 0;
    this.probeOutstanding = false;
    this.state = 'probe';
    if (this.next <= this.match) this.next = this.match + 1;
  }

  private scheduleBackoff(): void {
    const o = this.host.options;
    this.backoffMs =
      this.backoffMs === 0
        ? o.heartbeatIntervalMs
        : Math.min(this.backoffMs * 2, o.electionTimeoutMs);
    this.backoffTimer.start(this.backoffMs);
  }

  private onHeartbeatTimer(): void {
    if (this.stopped || this.paused) return;
    this.resendUnanswered();
    this.releaseStalledPartial();
    const o = this.host.options;
    // Something else went out meanwhile: wait for the rest of the interval. A remainder under
    // 1 ms counts as due, so float rounding of a drifting clock cannot spin the timer.
    const remaining = o.heartbeatIntervalMs - (o.clock.now() - this.lastSendAt);
    if (remaining >= 1) {
      this.heartbeatTimer.start(remaining);
    } else {
      this.sendHeartbeat();
      this.heartbeatTimer.start(o.heartbeatIntervalMs);
      this.host.onIdleHeartbeat?.();
    }
  }

  /**
   * Nagle's rule pays off while answers come back within a round trip. When the partial
   * requests in flight have gone a heartbeat interval without an answer (a late reply, a
   * lost one not yet resent), what waits behind them goes now rather than after them.
   */
  private releaseStalledPartial(): void {
    const o = this.host.options;
    if (
      this.state !== 'replicate' ||
      this.reading ||
      this.partialInflight < o.maxPartialInflightRpcs ||
      this.next > this.host.log.lastIndex ||
      this.inflight >= o.maxInflightRpcs ||
      this.openBytes >= o.maxInflightBytes ||
      o.clock.now() - this.lastPartialSentAt < o.heartbeatIntervalMs
    ) {
      return;
    }
    this.sendEntries();
  }

  /**
   * The oldest request of the current pipeline has had no answer for rpcTimeoutMs: it or its
   * answer may be lost, or only late. Send again (without waiting for a failure, which may take
   * the whole reply horizon): the same probe, or, when pipelining, one request from
   * matchIndex + 1 (a probe that is known to match), so that a slow link is not flooded.
   */
  private resendUnanswered(): void {
    if (this.reading || this.state === 'snapshot') return;
    const oldest = this.outstanding.values().next();
    if (oldest.done) return;
    const o = this.host.options;
    if (o.clock.now() - oldest.value < o.rpcTimeoutMs) return;
    // Calls left open for late answers hold their bytes: on a link that swallows everything,
    // resending stops at maxInflightBytes instead of queueing without bound.
    if (this.openBytes >= o.maxInflightBytes) return;
    if (this.state === 'replicate') this.next = this.match + 1;
    this.resetPipeline();
    this.sendProbe();
  }

  /** Streams the latest snapshot to the follower, chunk after chunk, then probes after it. */
  private sendSnapshot(): void {
    if (this.state === 'snapshot' || this.stopped) return;
    this.resetPipeline();
    this.state = 'snapshot';
    const version = this.version;
    this.streamSnapshot(version).then(
      (ok) => {
        if (this.stopped || version !== this.version) return;
        this.state = 'probe';
        if (ok) {
          this.backoffMs = 0;
          this.sendProbe();
        } else {
          this.scheduleBackoff();
        }
      },
      (error: unknown) => {
        if (this.stopped || version !== this.version) return;
        this.logger.warn('sending a snapshot failed', { error: String(error) });
        this.state = 'probe';
        this.scheduleBackoff();
      },
    );
  }

  private async streamSnapshot(version: number): Promise<boolean> {
    const o = this.host.options;
    const reader = await this.host.openSnapshot();
    if (!reader) {
      this.logger.error('a follower needs compacted entries but there is no snapshot');
      return false;
    }
    try {
      const meta = reader.meta;
      let offset = 0;
      for (let guard = 0; guard < 10_000_000; guard++) {
        if (this.stopped || version !== this.version) return false;
        const data = await reader.read(offset, o.maxBytesPerRpc);
        const done = offset + data.byteLength >= reader.size;
        const sentAt = o.clock.now();
        this.lastSendAt = sentAt;
        const response = await o.transport.call(
          'installSnapshot',
          {
            groupId: o.groupId,
            from: o.peerId,
            to: this.peer,
            term: this.term,
            meta,
            offset,
            data,
            done,
          },
          { timeoutMs: this.replyHorizonMs() },
        );
        if (this.stopped || !this.checkTerm(response.term, sentAt) || version !== this.version) {
          return false;
        }
        if (!response.success) return false;
        offset += data.byteLength;
        if (done) break;
        if (data.byteLength === 0) return false;
      }
      const matched = meta.lastIncludedIndex;
      this.next = Math.max(matched, this.match) + 1;
      this.advanceMatch(matched);
      return true;
    } finally {
      await reader.close();
    }
  }

  private sendHeartbeat(): void {
    const o = this.host.options;
    // matchIndex may sit before the compacted prefix: then use the snapshot's index, which the
    // follower may lack; the answer still counts as a heartbeat (term and lease).
    const log = this.host.log;
    const prev = log.termAt(this.match) !== undefined ? this.match : log.snapshotLastIndex;
    const prevTerm = log.termAt(prev);
    if (prevTerm === undefined) return;
    const sentAt = o.clock.now();
    this.lastSendAt = sentAt;
    const request: AppendEntriesRequest = {
      groupId: o.groupId,
      from: o.peerId,
      to: this.peer,
      term: this.term,
      prevLogIndex: prev,
      prevLogTerm: prevTerm,
      entries: [],
      leaderCommit: this.host.commitIndex(),
    };
    o.transport.call('appendEntries', request, { timeoutMs: this.replyHorizonMs() }).then(
      (response) => {
        this.rtt.answered(sentAt);
        if (this.stopped || !this.checkTerm(response.term, sentAt)) return;
        // The follower holds the leader's log up to prevLogIndex: a late heartbeat answer
        // may move matchIndex (a follower confirmed by heartbeats alone).
        if (response.success) this.onLateSuccess(prev);
      },
      () => {},
    );
  }
}
