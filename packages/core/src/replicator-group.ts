import { hasQuorum } from './configuration.js';
import { Replicator, type ReplicatorHost, type ReplicatorStatus } from './replicator.js';
import type { Configuration, PeerId } from './types.js';

/** How much of the log a leader keeps in memory for followers that lag behind. */
const LOG_CACHE_ENTRIES = 65_536;
const LOG_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * A leader's replicators, one per follower (braft's ReplicatorGroup), and the questions
 * the node asks of all of them at once.
 */
export class ReplicatorGroup {
  private readonly replicators = new Map<PeerId, Replicator>();
  private kickScheduled = false;

  constructor(
    private readonly host: ReplicatorHost,
    private readonly self: PeerId,
  ) {}

  /** Keeps exactly one replicator of `term` per peer in `peers` (never one for this node). */
  sync(peers: Iterable<PeerId>, term: number): void {
    const wanted = new Set(peers);
    wanted.delete(this.self);
    for (const [peer, r] of this.replicators) {
      if (!wanted.has(peer)) {
        r.stop();
        this.replicators.delete(peer);
      }
    }
    for (const peer of wanted) {
      if (this.replicators.has(peer)) continue;
      const r = new Replicator(this.host, peer, term);
      this.replicators.set(peer, r);
      r.start();
    }
  }

  stopAll(): void {
    for (const r of this.replicators.values()) r.stop();
    this.replicators.clear();
  }

  get(peer: PeerId): Replicator | undefined {
    return this.replicators.get(peer);
  }

  /** New entries or a new commit index: every replicator sends what its window allows. */
  kickAll(): void {
    for (const r of this.replicators.values()) r.kick();
  }

  /**
   * Kicks every replicator at the end of this turn, once for all that was appended in it,
   * then runs `after`; nothing happens unless `leading` still says yes by then.
   */
  kickSoon(leading: () => boolean, after: () => void): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    queueMicrotask(() => {
      this.kickScheduled = false;
      if (!leading()) return;
      this.kickAll();
      after();
    });
  }

  /** A heartbeat to every follower now (read-index confirmation). */
  heartbeatAll(): void {
    for (const r of this.replicators.values()) r.heartbeatNow();
  }

  /** Quiescence: every replicator stops (or resumes) its heartbeats. */
  pauseHeartbeats(): void {
    for (const r of this.replicators.values()) r.pause();
  }

  resumeHeartbeats(): void {
    for (const r of this.replicators.values()) r.resume();
  }

  /** The followers replicated to. */
  peers(): PeerId[] {
    return [...this.replicators.keys()];
  }

  /** Whether `peer` holds the whole log with nothing in flight. */
  caughtUp(peer: PeerId): boolean {
    return this.replicators.get(peer)?.caughtUp === true;
  }

  /** How far `peer` holds the log, as far as this leader knows (0 when unknown). */
  matchIndex(peer: PeerId): number {
    return this.replicators.get(peer)?.matchIndex ?? 0;
  }

  /** When the last RPC `peer` acknowledged was sent (-Infinity when never). */
  lastAckSentTime(peer: PeerId): number {
    return this.replicators.get(peer)?.lastAckSentTime ?? Number.NEGATIVE_INFINITY;
  }

  /** When the last answer of this term from `peer` arrived (-Infinity when never). */
  lastAckReceivedTime(peer: PeerId): number {
    return this.replicators.get(peer)?.lastAckReceivedTime ?? Number.NEGATIVE_INFINITY;
  }

  /**
   * Whether an answer of this term from a quorum of `conf` (this node counting as one)
   * arrived at or after `since`, however late each was: check-quorum's question.
   */
  quorumAnsweredSince(conf: Configuration, since: number): boolean {
    return hasQuorum(conf, (p) => p === this.self || this.lastAckReceivedTime(p) >= since);
  }

  /**
   * Whether a quorum of `conf` (this node counting as one) acknowledged RPCs sent at or
   * after `since`. What the lease and read-index confirmation rest on: counted by send
   * time, because only a send time bounds what the follower promised.
   */
  quorumAckedSince(conf: Configuration, since: number): boolean {
    return hasQuorum(conf, (p) => p === this.self || this.lastAckSentTime(p) >= since);
  }

  /** The lowest match index of all followers (`ceiling` when there are none). */
  minMatchIndex(ceiling: number): number {
    let floor = ceiling;
    for (const r of this.replicators.values()) floor = Math.min(floor, r.matchIndex);
    return floor;
  }

  /**
   * Up to where a leader may drop entries from memory once `applied` is applied: what a
   * follower still needs stays, within bounds (a follower further behind is fed from storage).
   */
  memoryFloor(applied: number, memoryBytes: number): number {
    if (memoryBytes > LOG_CACHE_BYTES) return applied;
    return Math.max(this.minMatchIndex(applied), applied - LOG_CACHE_ENTRIES);
  }

  statuses(): ReplicatorStatus[] {
    return [...this.replicators.values()].map((r) => r.status());
  }
}
