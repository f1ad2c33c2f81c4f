import { quorumMatchIndex } from './configuration.js';
import type { Configuration, PeerId } from './types.js';

/** What the ballot box reads from its node. */
export interface BallotBoxHost {
  latestConfiguration(): Configuration;
  /** How far `peer` durably holds the leader's log (the leader itself: its own durable index). */
  matchIndexOf(peer: PeerId): number;
}

/**
 * The commit index (braft's BallotBox).
 *
 * On a leader the commit index is the highest index a quorum holds, counted only from the
 * leader's first entry of its term on: an entry of an earlier term is never committed by
 * counting replicas, only by an entry of the current term committing after it (Raft paper
 * section 5.4.2, Figure 8). On a follower it follows the leader's commit index.
 */
export class BallotBox {
  private committed = 0;
  /** The leader's first entry of its term; nothing before it commits by counting. */
  private pendingIndex = Number.POSITIVE_INFINITY;

  constructor(private readonly host: BallotBoxHost) {}

  get commitIndex(): number {
    return this.committed;
  }

  /** The index from which this leader counts replicas (Infinity when not leading). */
  get leaderStartIndex(): number {
    return this.pendingIndex;
  }

  /** A new leader starts counting from its first entry of the term, at `index`. */
  resetPendingIndex(index: number): void {
    this.pendingIndex = index;
  }

  /** Stops counting (the node is no longer leader). */
  clearPendingIndex(): void {
    this.pendingIndex = Number.POSITIVE_INFINITY;
  }

  /**
   * Recounts after a replica moved (leader only). Returns the new commit index when it moved,
   * else undefined.
   */
  recount(): number | undefined {
    const q = quorumMatchIndex(this.host.latestConfiguration(), (p) => this.host.matchIndexOf(p));
    if (q > this.committed && q >= this.pendingIndex) {
      this.committed = q;
      return q;
    }
    return undefined;
  }

  /**
   * Moves the commit index forward to `index`, as told by the leader or by an installed
   * snapshot. Returns whether it moved; it never moves back.
   */
  advanceTo(index: number): boolean {
    if (index <= this.committed) return false;
    this.committed = index;
    return true;
  }
}
