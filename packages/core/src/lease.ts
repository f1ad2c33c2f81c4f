import type { ResolvedOptions } from './options.js';
import type { ReplicatorGroup } from './replicator-group.js';
import type { Configuration } from './types.js';

/** Check-quorum looks back this many election timeouts for answers from a quorum. */
export const CHECK_QUORUM_WINDOW_TIMEOUTS = 2;

/**
 * A follower's side of the leader's lease (braft's FollowerLease; Raft paper section 6,
 * "disruptive servers"): while the leader of its term spoke within an election timeout, a
 * follower grants no vote and no pre-vote, so a server that rejoins cannot depose a healthy
 * leader.
 */
export class FollowerLease {
  /** When this node last heard from the leader of its term. */
  private lastLeaderContact = Number.NEGATIVE_INFINITY;
  /** When the election timer was last reset for another reason (a granted vote). */
  private lastVoteGranted = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: ResolvedOptions<unknown>) {}

  /** The leader of this node's term spoke. */
  renew(): void {
    this.lastLeaderContact = this.options.clock.now();
  }

  /**
   * The leader's endpoint was heard from at `at` while this follower was quiesced: the lease
   * counts from there (never back from a later contact).
   */
  renewAt(at: number): void {
    if (at > this.lastLeaderContact) this.lastLeaderContact = at;
  }

  /** This node granted a vote: an election is under way, so its own waits. */
  onVoteGranted(): void {
    this.lastVoteGranted = this.options.clock.now();
  }

  /** From when the election timer counts: the latest leader contact or granted vote. */
  get lastActivity(): number {
    return Math.max(this.lastLeaderContact, this.lastVoteGranted);
  }

  /** Whether the leader spoke within an election timeout. */
  get valid(): boolean {
    return this.options.clock.now() - this.lastLeaderContact < this.options.electionTimeoutMs;
  }
}

/**
 * A leader's side (braft's LeaderLease): what it may conclude from the send times of the RPCs
 * its followers acknowledged.
 */
export class LeaderLease {
  constructor(
    private readonly options: ResolvedOptions<unknown>,
    private readonly replicators: ReplicatorGroup,
  ) {}

  /**
   * Whether reads may skip the heartbeat round: a quorum acknowledged RPCs sent within
   * electionTimeout - maxClockDrift, and until then no follower of that quorum grants a vote,
   * so no other leader can exist.
   */
  valid(conf: Configuration): boolean {
    const o = this.options;
    const since = o.clock.now() - (o.electionTimeoutMs - o.maxClockDriftMs);
    return this.replicators.quorumAckedSince(conf, since);
  }

  /**
   * Check-quorum: whether answers from a quorum arrived within the last
   * CHECK_QUORUM_WINDOW_TIMEOUTS election timeouts, however late each answer was (etcd's
   * `recentActive`). This is about liveness, not leases: a network that delays answers past
   * T must not depose a working leader (issue 9), while reads keep counting by send time.
   */
  quorumAlive(conf: Configuration): boolean {
    const since =
      this.options.clock.now() - CHECK_QUORUM_WINDOW_TIMEOUTS * this.options.electionTimeoutMs;
    return this.replicators.quorumAnsweredSince(conf, since);
  }
}
