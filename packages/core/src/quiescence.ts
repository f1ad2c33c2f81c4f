import type { QuiesceOffer } from './messages.js';
import type { HostedGroup, RaftHost } from './raft-host.js';
import type { GroupId, PeerId } from './types.js';

/** What quiescence asks of its node. */
export interface QuiescenceNode {
  /**
   * Leader side: the offer to make if the group may quiesce now (running leader, nothing
   * pending, log committed and durable, idle since the last check), else undefined.
   */
  quiesceOffer(): QuiesceOffer | undefined;
  /** The followers (voters and learners) the leader replicates to. */
  followers(): readonly PeerId[];
  /** Whether `peer` holds the whole log with nothing in flight. */
  caughtUp(peer: PeerId): boolean;
  /** Whether these peers, with this node, are a quorum of the configuration. */
  quorum(peers: ReadonlySet<PeerId>): boolean;
  /** `peer` accepted: its replicator stops heartbeating. */
  pausePeer(peer: PeerId): void;
  /** Every follower accepted: the check-quorum timer stops. */
  pauseLeader(): void;
  /** Heartbeats to every follower again, and check-quorum with a fresh window. */
  resumeLeader(): void;
  /** Follower side: whether this follower may quiesce under `from` now (and it adopts the commit). */
  followerAccepts(offer: QuiesceOffer, from: PeerId): boolean;
  pauseFollower(): void;
  /** The follower's election timer counts from `contactAt` again. */
  resumeFollower(contactAt: number): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Balancing (see {@link HostedGroup.handOverTo}). */
  handOverTo(): PeerId | undefined;
  transferTo(peer: PeerId): Promise<void>;
}

/** The empty set every Quiescence starts with: never added to (see {@link adding}). */
const NO_PEERS: Set<PeerId> = new Set();

/** `set` with `peer` added: a set of its own if `set` is the shared empty one. */
function adding(set: Set<PeerId>, peer: PeerId): Set<PeerId> {
  if (set === NO_PEERS) return new Set([peer]);
  set.add(peer);
  return set;
}

/**
 * One group's quiescence (docs/ARCHITECTURE.md, "RaftHost"): on the leader, `awake`, then
 * `offered` (the host's next beat asks the followers; each one's heartbeats stop when it
 * accepts), then `quiesced` once every live follower accepted; on a follower, quiesced under
 * the leader's endpoint.
 * Waking is always allowed and always safe; only timers and heartbeats change here.
 */
export class Quiescence implements HostedGroup {
  private leaderState: 'awake' | 'offered' | 'quiesced' = 'awake';
  // The three sets start as the shared empty one (most nodes of a multi-raft process are
  // followers, which never fill them) and get their own on the first add: see `adding`.
  private waiting: Set<PeerId> = NO_PEERS;
  private accepted: Set<PeerId> = NO_PEERS;
  /** Followers offered again after they came back, awaiting their answer. */
  private rejoining: Set<PeerId> = NO_PEERS;
  /** The offer this leader made, for followers that come back. */
  private lastOffer: QuiesceOffer | undefined;
  /** The follower side: the leader endpoint this group is quiesced under. */
  private under: PeerId | undefined;

  constructor(
    readonly groupId: GroupId,
    private readonly host: RaftHost,
    private readonly node: QuiescenceNode,
  ) {}

  /** Whether the group is quiesced or offering to be (either side). */
  get active(): boolean {
    return this.leaderState !== 'awake' || this.under !== undefined;
  }

  /** The leader endpoint a quiesced follower waits on. */
  get quiescedUnder(): PeerId | undefined {
    return this.under;
  }

  get leaderQuiesced(): boolean {
    return this.leaderState === 'quiesced';
  }

  // ---------------------------------------------------------------- leader side

  /** Called periodically on a leader (the check-quorum tick): quiesce if it may. */
  maybeQuiesce(): void {
    if (!this.host.quiesceEnabled || this.leaderState !== 'awake') return;
    const offer = this.node.quiesceOffer();
    if (offer === undefined) return;
    const live: PeerId[] = [];
    const missing: PeerId[] = [];
    for (const p of this.node.followers()) {
      if (!this.host.isAlive(p)) missing.push(p);
      else if (this.node.caughtUp(p)) live.push(p);
      else return;
    }
    // Without its silent peers the group must still have a quorum, or check-quorum must run.
    if (!this.node.quorum(new Set(live))) return;
    this.leaderState = 'offered';
    this.waiting = live.length === 0 ? NO_PEERS : new Set(live);
    this.accepted = NO_PEERS;
    this.rejoining = NO_PEERS;
    this.lastOffer = offer;
    // Nothing is sent to a silent follower until it is heard again.
    for (const p of missing) this.node.pausePeer(p);
    this.host.offer(offer, live, missing);
    this.node.debug('offering to quiesce', { live: live.length, missing: missing.length });
    if (live.length === 0) this.quiesced();
  }

  offerAnswered(peer: PeerId, accepted: boolean): void {
    if (this.leaderState !== 'awake' && this.rejoining.delete(peer)) {
      if (!accepted) this.wakeLeader(`${peer} came back without the whole log`);
      else this.accepted = adding(this.accepted, peer);
      return;
    }
    if (this.leaderState !== 'offered' || !this.waiting.delete(peer)) return;
    if (!accepted) {
      this.wakeLeader(`${peer} did not quiesce`);
      return;
    }
    this.accepted = adding(this.accepted, peer);
    this.node.pausePeer(peer);
    if (this.waiting.size === 0) this.quiesced();
  }

  private quiesced(): void {
    this.leaderState = 'quiesced';
    this.node.pauseLeader();
    this.node.debug('quiesced');
  }

  peerSilent(peer: PeerId): void {
    if (this.leaderState === 'awake') return;
    this.waiting.delete(peer);
    this.accepted.delete(peer);
    // The rest of the followers still make a quorum: stay quiet (the host wakes the group
    // when that peer comes back). Otherwise wake, so that check-quorum can act.
    if (!this.node.quorum(this.accepted)) this.wakeLeader(`${peer} fell silent`);
    else if (this.leaderState === 'offered' && this.waiting.size === 0) this.quiesced();
  }

  peerBack(peer: PeerId): void {
    if (this.leaderState === 'awake' || this.lastOffer === undefined) return;
    this.rejoining = adding(this.rejoining, peer);
    this.host.offer(this.lastOffer, [peer], []);
  }

  /** Something needs the leader (a proposal, a read, a vote request ...): heartbeat again. */
  wakeLeader(reason: string): void {
    if (this.leaderState === 'awake') return;
    this.leaderState = 'awake';
    this.host.leaderWoke(this.groupId);
    this.host.countWake(`leader: ${reasonKey(reason)}`);
    this.node.debug('woken', { reason });
    this.node.resumeLeader();
  }

  /** The node stopped leading: forget the leader side without resuming anything. */
  leaderStopped(): void {
    if (this.leaderState === 'awake') return;
    this.leaderState = 'awake';
    this.host.leaderWoke(this.groupId);
  }

  // ---------------------------------------------------------------- follower side

  acceptQuiesce(offer: QuiesceOffer, from: PeerId): boolean {
    if (!this.host.quiesceEnabled || !this.node.followerAccepts(offer, from)) return false;
    if (this.under !== undefined && this.under !== from)
      this.host.followerWoke(this.groupId, this.under);
    this.under = from;
    this.node.pauseFollower();
    this.node.debug('follower quiesced', { leader: from });
    return true;
  }

  /** The follower heard from its leader, or its state changed: its timer runs again. */
  wakeFollower(contactAt: number, reason = 'its leader sent entries'): void {
    const leader = this.under;
    if (leader === undefined) return;
    this.under = undefined;
    this.host.countWake(`follower: ${reasonKey(reason)}`);
    this.host.followerWoke(this.groupId, leader);
    this.node.debug('follower woken', { leader });
    this.node.resumeFollower(contactAt);
  }

  /** The node stopped (shutdown, error): leave without arming anything. */
  followerStopped(): void {
    const leader = this.under;
    if (leader === undefined) return;
    this.under = undefined;
    this.host.followerWoke(this.groupId, leader);
    this.node.debug('follower left quiescence', { leader });
  }

  // ---------------------------------------------------------------- from the host

  handOverTo(): PeerId | undefined {
    return this.node.handOverTo();
  }

  transferTo(peer: PeerId): Promise<void> {
    return this.node.transferTo(peer);
  }

  wake(reason: string, contactAt: number): void {
    if (this.leaderState !== 'awake') this.wakeLeader(reason);
    if (this.under !== undefined) {
      this.node.debug('woken', { reason });
      this.wakeFollower(contactAt, reason);
    }
  }
}

/** A wake reason without the peer ids in it, for counting. */
function reasonKey(reason: string): string {
  return reason
    .replace(/^\S+ (came back|did not|fell silent)/, 'a peer $1')
    .replace(/endpoint \S+/, 'endpoint');
}
