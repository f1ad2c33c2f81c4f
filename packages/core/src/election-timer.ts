import type { ResolvedOptions } from './options.js';
import { RaftTimer } from './timer.js';
import type { PeerId } from './types.js';

/**
 * A follower's election timer (braft's ElectionTimer): fires a random time in
 * [T, T + electionJitter·T) after it is armed, counted from the moment given. The node
 * re-arms it from the leader's last contact when it fires early, so a dead leader is noticed
 * within (1 + electionJitter)·T of its last word, not a whole new period later (braft issue
 * #481).
 *
 * It also decides when a node that has won its pre-vote stands aside instead of standing
 * (see {@link ElectionTimer.standAside}): with timers this close, two followers often notice
 * a dead leader within one round trip of each other.
 */
export class ElectionTimer {
  private readonly timer: RaftTimer;
  /** The last pre-vote this node granted: to whom, and when (on the node's clock). */
  private lastPreVoteGrant: { peer: PeerId; at: number } | undefined;
  /** The term in which this node last stood aside: it does so at most once per term. */
  private stoodAsideInTerm = -1;

  constructor(
    private readonly options: Pick<
      ResolvedOptions<unknown>,
      | 'clock'
      | 'random'
      | 'electionTimeoutMs'
      | 'electionJitter'
      | 'rpcTimeoutMs'
      | 'heartbeatIntervalMs'
    >,
    onTimeout: () => void,
  ) {
    this.timer = new RaftTimer(options.clock, onTimeout);
  }

  /** Arms the timer to fire T + random·jitter·T after `from` (default: now), at least 1 ms from now. */
  arm(from = this.options.clock.now()): void {
    const o = this.options;
    const t = o.electionTimeoutMs;
    const due = from + t + o.random() * o.electionJitter * t;
    this.timer.start(Math.max(1, due - o.clock.now()));
  }

  /**
   * The first arming of a node that is its group's preferred leader (RaftHost balancing): it
   * stands after [0.2 T, 0.2 T + jitter·T) instead of [T, T + jitter·T), so that when
   * thousands of groups start together the preferred voter of each is usually first.
   */
  armPreferred(): void {
    const o = this.options;
    const t = o.electionTimeoutMs;
    this.timer.start(Math.max(1, 0.2 * t + o.random() * o.electionJitter * t));
  }

  stop(): void {
    this.timer.stop();
  }

  get armed(): boolean {
    return this.timer.armed;
  }

  /** When the armed timer fires, on the clock's scale. */
  get dueAt(): number {
    return this.timer.dueAt;
  }

  /** This node granted `peer` a pre-vote. */
  preVoteGranted(peer: PeerId): void {
    this.lastPreVoteGrant = { peer, at: this.options.clock.now() };
  }

  /**
   * Called when this node has won a pre-vote for `term + 1`: true if it should not stand yet,
   * and then the timer is armed to fire again in rpcTimeoutMs.
   *
   * Two followers whose timers fire within a round trip each grant the other's pre-vote; if
   * both stood, each would vote for itself and refuse the other (a split vote), and a whole
   * vote timer (T to 2T) would pass before the next try. So the one that granted a pre-vote
   * to a peer with a smaller id within the last rpcTimeoutMs waits: that peer's vote request
   * should be on its way, and this node will grant it. If no request or leader comes, it
   * stands when the timer fires: once per term, so a peer that cannot win delays it by
   * rpcTimeoutMs at most. Only liveness depends on this; votes stay one per term.
   */
  standAside(self: PeerId, term: number): boolean {
    const o = this.options;
    const grant = this.lastPreVoteGrant;
    if (
      grant === undefined ||
      this.stoodAsideInTerm === term ||
      !(grant.peer < self) ||
      o.clock.now() - grant.at >= o.rpcTimeoutMs
    ) {
      return false;
    }
    this.stoodAsideInTerm = term;
    this.timer.start(o.rpcTimeoutMs);
    return true;
  }
}
