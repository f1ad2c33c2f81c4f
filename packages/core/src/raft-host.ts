import { type Clock, systemClock } from './clock.js';
import { electionAdmissionOf, MAX_CONCURRENT_ELECTIONS } from './election-admission.js';
import { BadRequestError, InvalidOptionError, NotMemberError } from './errors.js';
import { defaultLogger, type Logger } from './logger.js';
import {
  HOST_GROUP_ID,
  type HostHeartbeatRequest,
  type HostHeartbeatResponse,
  type QuiescedGroup,
  type QuiesceOffer,
} from './messages.js';
import { TimerScheduler } from './timer-scheduler.js';
import type { RequestContext, RpcHandler, Transport } from './transport.js';
import type { GroupId, PeerId } from './types.js';

/** What a RaftHost asks of each group it hosts (a node's quiescence, seen from the host). */
export interface HostedGroup {
  readonly groupId: GroupId;
  /** Follower side: the leader's endpoint `from` offers to quiesce; true if this group did. */
  acceptQuiesce(offer: QuiesceOffer, from: PeerId): boolean;
  /** Leader side: `peer` answered this group's offer (false: refused, or the beat failed). */
  offerAnswered(peer: PeerId, accepted: boolean): void;
  /**
   * Leave quiescence (either side). For a follower, `contactAt` is when its leader's endpoint
   * was last heard of: its election timer counts from there.
   */
  wake(reason: string, contactAt: number): void;
  /** Leader side: `peer`'s endpoint went silent while this group was quiesced with it. */
  peerSilent(peer: PeerId): void;
  /** Leader side: `peer`, silent when the group quiesced, is heard again. */
  peerBack(peer: PeerId): void;
  /**
   * Balancing: the group's preferred leader when this node leads it, is not that leader,
   * and may hand over now (the group is idle); otherwise undefined.
   */
  handOverTo?(): PeerId | undefined;
  /** Hands leadership over to `peer` (a leadership transfer). */
  transferTo?(peer: PeerId): Promise<void>;
}

export interface RaftHostOptions {
  /** The endpoint every group of this host uses. */
  readonly transport: Transport;
  /** This endpoint's peer id: every group on it has this peerId. */
  readonly peerId: PeerId;
  /** The clock underneath the host's scheduler (default: the real one). */
  readonly clock?: Clock;
  /**
   * Interval of the node-level heartbeat, one message per peer endpoint.
   * @defaultValue `Math.max(1, Math.floor(electionTimeoutMs / 10))`
   */
  readonly heartbeatIntervalMs?: number;
  /**
   * A peer endpoint silent this long is taken for dead: groups quiesced under it wake and
   * start their election timers. Use the groups' election timeout.
   * @defaultValue `1000`
   */
  readonly electionTimeoutMs?: number;
  /**
   * Whether idle groups quiesce (stop heartbeating). Off, the host still shares one scheduler
   * and one liveness beat among its groups.
   * @defaultValue `true`
   */
  readonly quiesce?: boolean;
  /**
   * Election rounds (pre-vote or vote) the groups of this endpoint may run at once; the others
   * wait in line for a slot. Too many at once and the answers come too late to count (10,000
   * groups with no cap elected nobody); too few and start-up takes longer.
   * @defaultValue `128`
   */
  readonly maxConcurrentElections?: number;
  /** Timer resolution of the shared scheduler, in ms. @defaultValue `5` */
  readonly timerResolutionMs?: number;
  /**
   * Spread leadership evenly: each group has a preferred leader among its voters (a stable
   * hash of the group id), which stands first when the groups start, and to which the other
   * voters hand leadership back when it is up (at most `maxConcurrentTransfers` at a time).
   * @defaultValue `true`
   */
  readonly balance?: boolean;
  readonly logger?: Logger;
}

/** A 32-bit FNV-1a hash of a group id and a term, for the quiesced-groups digest. */
function hashGroup(groupId: GroupId, term: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < groupId.length; i++) {
    h ^= groupId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= term & 0xffffffff;
  h = Math.imul(h, 0x01000193);
  h ^= Math.floor(term / 0x100000000);
  h = Math.imul(h, 0x01000193);
  return h >>> 0;
}

/**
 * The voter that should lead `groupId` when it can: a stable hash of the group id picks one
 * of the voters (sorted), so that groups spread evenly over the nodes and every node agrees.
 */
export function preferredLeaderOf(groupId: GroupId, voters: readonly PeerId[]): PeerId | undefined {
  if (voters.length === 0) return undefined;
  // The k-th voter in sorted order, found by rank without copying or sorting: the balancer
  // asks this of every group it passes, every election timeout.
  const k = hashGroup(groupId, 0) % voters.length;
  for (const v of voters) {
    let rank = 0;
    for (const w of voters) if (w < v) rank++;
    if (rank === k) return v;
  }
  // Only with duplicate ids (a configuration has none): sort after all.
  return [...voters].sort()[k];
}

/** Leadership transfers a host's balancer runs at once. */
export const MAX_CONCURRENT_TRANSFERS = 32;

/** The digest is a sum of hashes modulo 2^48: order-free, and exact in a double. */
const DIGEST_MOD = 2 ** 48;

/** A set of (group, term) with an order-free digest kept up to date. */
class QuiescedSet {
  readonly groups = new Map<GroupId, number>();
  digest = 0;

  add(groupId: GroupId, term: number): void {
    this.delete(groupId);
    this.groups.set(groupId, term);
    this.digest = (this.digest + hashGroup(groupId, term)) % DIGEST_MOD;
  }

  delete(groupId: GroupId): number | undefined {
    const term = this.groups.get(groupId);
    if (term === undefined) return undefined;
    this.groups.delete(groupId);
    this.digest = (this.digest - hashGroup(groupId, term) + DIGEST_MOD) % DIGEST_MOD;
    return term;
  }

  get size(): number {
    return this.groups.size;
  }
}

/** What this host knows of, and owes, one peer endpoint. */
class PeerLink {
  /** Groups hosted here that have this peer in their configuration. */
  users = 0;
  lastHeard = Number.NEGATIVE_INFINITY;
  alive = false;
  beatInFlight = false;
  /** The peer found our digests different: send the whole list in the next beat. */
  sendFull = false;
  readonly offers = new Map<GroupId, QuiesceOffer>();
  /** Groups led here, quiesced with this peer (it accepted). */
  readonly leading = new QuiescedSet();
  /** Of those, woken since the last beat (best effort: the digest catches a lost one). */
  woken: QuiescedGroup[] = [];
  /** Groups led here that quiesced while this peer was silent: woken when it comes back. */
  readonly missing = new Set<GroupId>();
  /** Groups hosted here quiesced under this peer as their leader. */
  readonly following = new QuiescedSet();

  constructor(readonly id: PeerId) {}
}

/** What a host's status says (summed, never a row per group). */
export interface RaftHostStats {
  readonly groups: number;
  readonly timers: number;
  /** Since the host started: beats sent and failed, offers made, accepted, and refused. */
  readonly beatsSent: number;
  readonly beatsFailed: number;
  readonly offersSent: number;
  readonly offersAccepted: number;
  readonly offersRefused: number;
  /**
   * Groups the balancer has looked at (one lap passes over every group). An idle, balanced
   * host adds none: it passes again only once a group quiesced or a peer came back.
   */
  readonly balancerVisits: number;
  /**
   * Since the host started: groups that left quiescence, leader side and follower side, and
   * why (the reasons' texts, without peer ids).
   */
  readonly wakes: Readonly<Record<string, number>>;
  readonly peers: ReadonlyArray<{
    readonly peerId: PeerId;
    readonly alive: boolean;
    readonly lastHeardMsAgo: number | undefined;
    /** Groups led here quiesced with that peer. */
    readonly quiescedLeading: number;
    /** Groups here quiesced under that peer. */
    readonly quiescedFollowing: number;
  }>;
}

/**
 * The groups of one transport endpoint, together (multi-raft). Pass one host to every
 * RaftNode on the endpoint (`NodeOptions.host`):
 * - one timer scheduler for all their timers ({@link TimerScheduler});
 * - one heartbeat per peer endpoint and interval, whatever the number of groups: it proves
 *   the endpoint alive, and carries quiescence;
 * - quiescence: a group whose log is fully replicated and committed and that has been idle
 *   stops heartbeating; its followers stop their election timers for as long as the leader's
 *   endpoint keeps beating, and wake when it falls silent for an election timeout. Only
 *   timers and heartbeats change: votes, terms, logs and commits never depend on the host
 *   (docs/ARCHITECTURE.md, "Quiescence").
 */
export class RaftHost {
  readonly peerId: PeerId;
  readonly transport: Transport;
  /** The shared scheduler; nodes on this host use it as their clock by default. */
  readonly clock: TimerScheduler;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly quiesceEnabled: boolean;
  readonly balance: boolean;
  private readonly logger: Logger;
  private balanceTimer: unknown;
  private transfersInFlight = 0;
  /**
   * Whether a group may have become a candidate for a hand-over since the balancer's last
   * full pass found none: set when a group led here quiesces with a peer (only quiesced groups
   * hand over) and when a peer is heard after a silence (a preferred leader back). An idle
   * host then does nothing every election timeout instead of passing over every group.
   */
  private balanceDirty = true;
  /** Where the balancer's last pass stopped: each pass goes on from there. */
  private balanceCursor: Iterator<HostedGroup> | undefined;
  private readonly groups = new Map<GroupId, HostedGroup>();
  private readonly links = new Map<PeerId, PeerLink>();
  /** The peers each group led here is quiesced with, or offered to. */
  private readonly leaderPeers = new Map<GroupId, { peers: readonly PeerId[]; term: number }>();
  private timer: unknown;
  /** When the beat timer last ran: a late run means this process was stalled. */
  private lastBeatRun = Number.NEGATIVE_INFINITY;
  private silenceCheckSkipped = false;
  private unserve: (() => void) | undefined;
  private closed = false;
  private readonly counts = {
    beatsSent: 0,
    beatsFailed: 0,
    offersSent: 0,
    offersAccepted: 0,
    offersRefused: 0,
    balancerVisits: 0,
  };
  private readonly wakes = new Map<string, number>();

  constructor(options: RaftHostOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'must be an object');
    }
    if (typeof options.peerId !== 'string' || options.peerId.length === 0) {
      throw new InvalidOptionError('peerId', 'must be a non-empty string');
    }
    const t = options.transport as Partial<Transport> | undefined;
    if (typeof t?.call !== 'function' || typeof t.serve !== 'function') {
      throw new InvalidOptionError('transport', 'must be a Transport');
    }
    this.peerId = options.peerId;
    this.transport = options.transport;
    const electionTimeoutMs = options.electionTimeoutMs ?? 1000;
    if (!Number.isSafeInteger(electionTimeoutMs) || electionTimeoutMs < 1) {
      throw new InvalidOptionError('electionTimeoutMs', 'must be a positive integer');
    }
    const heartbeatIntervalMs =
      options.heartbeatIntervalMs ?? Math.max(1, Math.floor(electionTimeoutMs / 10));
    if (
      !Number.isSafeInteger(heartbeatIntervalMs) ||
      heartbeatIntervalMs < 1 ||
      heartbeatIntervalMs * 2 > electionTimeoutMs
    ) {
      throw new InvalidOptionError(
        'heartbeatIntervalMs',
        `must be a positive integer, at most half of electionTimeoutMs (${electionTimeoutMs})`,
      );
    }
    const resolution = options.timerResolutionMs ?? 5;
    if (!(typeof resolution === 'number' && resolution > 0 && resolution <= heartbeatIntervalMs)) {
      throw new InvalidOptionError(
        'timerResolutionMs',
        `must be above 0 and at most heartbeatIntervalMs (${heartbeatIntervalMs})`,
      );
    }
    if (options.quiesce !== undefined && typeof options.quiesce !== 'boolean') {
      throw new InvalidOptionError('quiesce', 'must be true or false');
    }
    if (options.balance !== undefined && typeof options.balance !== 'boolean') {
      throw new InvalidOptionError('balance', 'must be true or false');
    }
    const maxElections = options.maxConcurrentElections ?? MAX_CONCURRENT_ELECTIONS;
    if (!Number.isSafeInteger(maxElections) || maxElections < 1) {
      throw new InvalidOptionError('maxConcurrentElections', 'must be a positive integer');
    }
    electionAdmissionOf(options.transport, maxElections).setLimit(maxElections);
    this.balance = options.balance ?? true;
    this.electionTimeoutMs = electionTimeoutMs;
    this.heartbeatIntervalMs = heartbeatIntervalMs;
    this.quiesceEnabled = options.quiesce ?? true;
    this.clock = new TimerScheduler(options.clock ?? systemClock, resolution);
    this.logger = options.logger ?? defaultLogger(`kontiki:host:${options.peerId}`);
    this.unserve = this.transport.serve(HOST_GROUP_ID, this.handler());
    this.scheduleBeat();
    if (this.balance) this.scheduleBalance();
  }

  /** Stops beating and serving. The groups are the caller's to shut down. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    if (this.balanceTimer !== undefined) this.clock.clearTimer(this.balanceTimer);
    this.balanceTimer = undefined;
    this.unserve?.();
    this.unserve = undefined;
  }

  // ---------------------------------------------------------------- what nodes call

  /** A group starts on this host, with these peers (its configuration, itself excluded). */
  register(group: HostedGroup, peers: Iterable<PeerId>): void {
    if (this.groups.has(group.groupId)) {
      throw new BadRequestError(`group ${group.groupId} is already on this host`);
    }
    this.groups.set(group.groupId, group);
    this.setPeers([], peers);
  }

  unregister(groupId: GroupId, peers: Iterable<PeerId>): void {
    if (!this.groups.delete(groupId)) return;
    this.leaderWoke(groupId);
    this.setPeers(peers, []);
    for (const link of this.links.values()) link.following.delete(groupId);
  }

  /** A group's peers changed (a configuration change). */
  setPeers(before: Iterable<PeerId>, after: Iterable<PeerId>): void {
    for (const p of before) {
      const link = this.links.get(p);
      if (link) link.users--;
    }
    for (const p of after) {
      if (p === this.peerId) continue;
      this.link(p).users++;
    }
  }

  /** Whether `peer`'s endpoint was heard from within the last election timeout. */
  isAlive(peer: PeerId): boolean {
    const link = this.links.get(peer);
    return link !== undefined && this.clock.now() - link.lastHeard < this.electionTimeoutMs;
  }

  /** When `peer`'s endpoint was last heard from (-Infinity: never). */
  lastHeard(peer: PeerId): number {
    return this.links.get(peer)?.lastHeard ?? Number.NEGATIVE_INFINITY;
  }

  /** Leader side: offers `peers` to quiesce group `offer.groupId`, in the next beat. */
  offer(offer: QuiesceOffer, peers: readonly PeerId[], missing: readonly PeerId[]): void {
    const known = this.leaderPeers.get(offer.groupId);
    const all =
      known !== undefined && known.term === offer.term
        ? [...new Set([...known.peers, ...peers])]
        : peers;
    this.leaderPeers.set(offer.groupId, { peers: all, term: offer.term });
    for (const p of peers) this.link(p).offers.set(offer.groupId, offer);
    for (const p of missing) this.link(p).missing.add(offer.groupId);
  }

  /** Leader side: the group left quiescence (or stopped leading): forget it everywhere. */
  leaderWoke(groupId: GroupId): void {
    const offered = this.leaderPeers.get(groupId);
    if (offered === undefined) return;
    this.leaderPeers.delete(groupId);
    for (const p of offered.peers) {
      const link = this.links.get(p);
      if (!link) continue;
      const unsent = link.offers.delete(groupId);
      link.leading.delete(groupId);
      // Also when the offer may be on its way: the peer may accept it after this.
      if (!unsent) link.woken.push({ groupId, term: offered.term });
    }
    for (const link of this.links.values()) link.missing.delete(groupId);
  }

  /** Counts a group that left quiescence (either side), by reason. */
  countWake(reason: string): void {
    this.wakes.set(reason, (this.wakes.get(reason) ?? 0) + 1);
  }

  /** Follower side: the group left quiescence under `leader`. */
  followerWoke(groupId: GroupId, leader: PeerId): void {
    this.links.get(leader)?.following.delete(groupId);
  }

  stats(): RaftHostStats {
    const now = this.clock.now();
    return {
      groups: this.groups.size,
      timers: this.clock.size,
      ...this.counts,
      wakes: Object.fromEntries(this.wakes),
      peers: [...this.links.values()].map((l) => ({
        peerId: l.id,
        alive: this.isAlive(l.id),
        lastHeardMsAgo: Number.isFinite(l.lastHeard) ? now - l.lastHeard : undefined,
        quiescedLeading: l.leading.size,
        quiescedFollowing: l.following.size,
      })),
    };
  }

  // ---------------------------------------------------------------- the beat

  private link(peer: PeerId): PeerLink {
    let link = this.links.get(peer);
    if (link === undefined) {
      link = new PeerLink(peer);
      this.links.set(peer, link);
    }
    return link;
  }

  private scheduleBeat(): void {
    if (this.closed) return;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.beatAll();
      this.scheduleBeat();
    }, this.heartbeatIntervalMs);
  }

  private beatAll(): void {
    const now = this.clock.now();
    // This process was stalled (the timer ran two intervals late or more): beats that arrived
    // meanwhile may still wait in the sockets, to be read after this turn. Judge silence at
    // the next run, not now, or a busy process would take its peers for dead. Only one run is
    // skipped at a time: a process stalled at every run still judges every other run.
    const stalled = now - this.lastBeatRun > 2 * this.heartbeatIntervalMs;
    const skip = stalled && !this.silenceCheckSkipped;
    this.silenceCheckSkipped = skip;
    this.lastBeatRun = now;
    for (const link of this.links.values()) {
      if (!skip && link.alive && now - link.lastHeard >= this.electionTimeoutMs) {
        this.fellSilent(link);
      }
      if (link.users <= 0 && link.leading.size === 0 && link.following.size === 0) continue;
      if (!link.beatInFlight) this.beat(link);
    }
  }

  /** One beat to `link`'s peer: offers, the digest, and what it asked for. */
  private beat(link: PeerLink): void {
    const offers = [...link.offers.values()];
    link.offers.clear();
    const woken = link.woken;
    link.woken = [];
    const full = link.sendFull
      ? [...link.leading.groups].map(([groupId, term]) => ({ groupId, term }))
      : undefined;
    link.sendFull = false;
    const request: HostHeartbeatRequest = {
      groupId: HOST_GROUP_ID,
      from: this.peerId,
      to: link.id,
      term: 0,
      offers,
      woken,
      quiescedCount: link.leading.size,
      quiescedDigest: link.leading.digest,
      ...(full ? { full } : {}),
    };
    link.beatInFlight = true;
    this.counts.beatsSent++;
    this.counts.offersSent += offers.length;
    // One beat in flight per peer: an endpoint that cannot keep up gets fewer, not a queue.
    this.transport.call('hostHeartbeat', request, { timeoutMs: this.electionTimeoutMs }).then(
      (response) => {
        link.beatInFlight = false;
        if (this.closed) return;
        this.heard(link);
        this.onBeatAnswered(link, offers, response);
      },
      () => {
        link.beatInFlight = false;
        this.counts.beatsFailed++;
        this.counts.offersRefused += offers.length;
        if (this.closed) return;
        if (full) link.sendFull = true;
        for (const o of offers) this.groups.get(o.groupId)?.offerAnswered(link.id, false);
      },
    );
  }

  private onBeatAnswered(
    link: PeerLink,
    offers: readonly QuiesceOffer[],
    response: HostHeartbeatResponse,
  ): void {
    const accepted = new Set(response.accepted);
    for (const o of offers) {
      const group = this.groups.get(o.groupId);
      // Still offered (not woken while the beat travelled): now quiesced with this peer.
      const offered = this.leaderPeers.get(o.groupId);
      const stillOffered = offered?.term === o.term && offered.peers.includes(link.id);
      const ok = accepted.has(o.groupId) && stillOffered && group !== undefined;
      if (ok) link.leading.add(o.groupId, o.term);
      if (ok) this.balanceDirty = true;
      if (ok) this.counts.offersAccepted++;
      else this.counts.offersRefused++;
      group?.offerAnswered(link.id, ok);
    }
    if (response.mismatch) link.sendFull = true;
    for (const g of response.wake) {
      if (link.leading.groups.has(g)) this.groups.get(g)?.wake('a follower lost it', 0);
    }
  }

  private heard(link: PeerLink): void {
    const now = this.clock.now();
    if (now - link.lastHeard >= this.electionTimeoutMs) this.balanceDirty = true;
    link.lastHeard = now;
    if (link.alive) return;
    link.alive = true;
    // Back (or heard for the first time): groups that quiesced without it offer it to
    // quiesce too; a group whose log it lacks wakes (on the refusal) and catches it up.
    const missing = [...link.missing];
    link.missing.clear();
    for (const g of missing) this.groups.get(g)?.peerBack(link.id);
  }

  /** `link`'s peer has been silent for an election timeout. */
  private fellSilent(link: PeerLink): void {
    link.alive = false;
    const contactAt = link.lastHeard;
    const following = [...link.following.groups.keys()];
    for (const g of following) {
      link.following.delete(g);
      this.groups.get(g)?.wake(`the leader's endpoint ${link.id} fell silent`, contactAt);
    }
    const leading = [...link.leading.groups.keys()];
    for (const g of leading) {
      link.leading.delete(g);
      link.missing.add(g);
      this.groups.get(g)?.peerSilent(link.id);
    }
    for (const o of [...link.offers.values()]) {
      link.offers.delete(o.groupId);
      this.groups.get(o.groupId)?.offerAnswered(link.id, false);
    }
  }

  // ---------------------------------------------------------------- balance

  private scheduleBalance(): void {
    if (this.closed) return;
    this.balanceTimer = this.clock.setTimer(() => {
      this.balanceTimer = undefined;
      this.rebalance();
      this.scheduleBalance();
    }, this.electionTimeoutMs);
  }

  /**
   * Hands groups led here back to their preferred leaders when those are up (after a node
   * came back, or where start-up went another way): only quiesced groups (idle, every
   * follower caught up), only while no election runs here, a few transfers at a time, so
   * that balancing never competes with electing.
   */
  private rebalance(): void {
    // Not while groups here hold elections (start-up, a failover): a transfer is one more.
    if (this.closed || !this.balanceDirty || electionAdmissionOf(this.transport).active > 0) return;
    // One lap at most, from where the last pass stopped; a transfer that succeeds starts the
    // next one. A whole lap that finds nothing to hand over clears `balanceDirty`.
    let started = false;
    for (let seen = 0; seen < this.groups.size; seen++) {
      if (this.transfersInFlight >= MAX_CONCURRENT_TRANSFERS) return;
      let step = this.balanceCursor?.next();
      if (step === undefined || step.done) {
        this.balanceCursor = this.groups.values();
        step = this.balanceCursor.next();
        if (step.done) return;
      }
      const group = step.value;
      this.counts.balancerVisits++;
      const target = group.handOverTo?.();
      if (target === undefined || !this.isAlive(target) || group.transferTo === undefined) continue;
      this.transfersInFlight++;
      started = true;
      group.transferTo(target).then(
        () => {
          this.transfersInFlight--;
          this.rebalance();
        },
        () => {
          // A failed transfer waits for the next timed pass (no retry loop on a refusal).
          this.transfersInFlight--;
          this.balanceDirty = true;
        },
      );
    }
    if (!started) this.balanceDirty = false;
  }

  // ---------------------------------------------------------------- serving beats

  private handler(): RpcHandler {
    const refuse = () =>
      Promise.reject(new BadRequestError('the host group serves only hostHeartbeat'));
    return {
      requestVote: refuse,
      appendEntries: refuse,
      installSnapshot: refuse,
      timeoutNow: refuse,
      readIndex: refuse,
      hostHeartbeat: (req, context) => {
        try {
          return Promise.resolve(this.onBeat(req, context));
        } catch (error) {
          return Promise.reject(error);
        }
      },
    };
  }

  private onBeat(req: HostHeartbeatRequest, context?: RequestContext): HostHeartbeatResponse {
    if (this.closed) throw new BadRequestError('this host is closed');
    checkBeat(req, this.peerId);
    const link = this.links.get(req.from);
    // Only an endpoint some group here knows, or one the transport vouches for.
    if ((link === undefined || link.users <= 0) && context?.authenticated !== true) {
      throw new NotMemberError(req.from);
    }
    if (context?.peerId !== undefined && context.peerId !== req.from) {
      throw new NotMemberError(req.from);
    }
    const l = link ?? this.link(req.from);
    this.heard(l);
    // The sender woke these: so do we (our election timers count from now).
    const now = this.clock.now();
    for (const w of req.woken) {
      if (l.following.groups.get(w.groupId) === w.term) {
        l.following.delete(w.groupId);
        this.groups.get(w.groupId)?.wake('its leader woke it', now);
      }
    }
    // The digest covers what the sender had quiesced before this beat's offers.
    const mismatch =
      req.quiescedCount !== l.following.size || req.quiescedDigest !== l.following.digest;
    const wake: GroupId[] = [];
    if (req.full !== undefined) {
      const listed = new Map<GroupId, number>();
      for (const q of req.full) listed.set(q.groupId, q.term);
      for (const [g, term] of [...l.following.groups]) {
        if (listed.get(g) !== term) {
          l.following.delete(g);
          this.groups.get(g)?.wake('its leader no longer has it quiesced', now);
        }
      }
      for (const [g, term] of listed) {
        if (l.following.groups.get(g) !== term) wake.push(g);
      }
    }
    const accepted: GroupId[] = [];
    for (const o of req.offers) {
      const group = this.groups.get(o.groupId);
      if (group?.acceptQuiesce(o, req.from)) {
        l.following.add(o.groupId, o.term);
        accepted.push(o.groupId);
      }
    }
    return { term: 0, accepted, mismatch: mismatch && req.full === undefined, wake };
  }
}

const MAX_BEAT_GROUPS = 1_000_000;

/** Checks a beat that may come from anywhere (the wire's decoder checked the types). */
function checkBeat(req: HostHeartbeatRequest, self: PeerId): void {
  const fail = (why: string): never => {
    throw new BadRequestError(`hostHeartbeat: ${why}`);
  };
  if (typeof req !== 'object' || req === null) fail('the request must be an object');
  if (req.groupId !== HOST_GROUP_ID) fail('sent to a group');
  if (typeof req.from !== 'string' || req.from.length === 0) fail('from must be a peer id');
  if (req.from === self) fail('a host does not beat to itself');
  if (req.to !== self) fail(`sent to ${String(req.to)}, but this host is ${self}`);
  if (!Array.isArray(req.offers) || !Array.isArray(req.woken)) fail('lists must be arrays');
  if (req.full !== undefined && !Array.isArray(req.full)) fail('full must be an array');
  const sizes = req.offers.length + req.woken.length + (req.full?.length ?? 0);
  if (sizes > MAX_BEAT_GROUPS) fail('too many groups');
  if (!Number.isSafeInteger(req.quiescedCount) || req.quiescedCount < 0) fail('bad count');
  if (!Number.isSafeInteger(req.quiescedDigest) || req.quiescedDigest < 0) fail('bad digest');
  for (const o of req.offers) {
    if (typeof o?.groupId !== 'string') fail('an offer without a group');
    for (const n of [o.term, o.lastIndex, o.lastTerm, o.commitIndex]) {
      if (!Number.isSafeInteger(n) || n < 0) fail('an offer with a bad number');
    }
    if (o.commitIndex > o.lastIndex || o.lastTerm > o.term) fail('an inconsistent offer');
  }
  for (const q of [...req.woken, ...(req.full ?? [])]) {
    if (typeof q?.groupId !== 'string' || !Number.isSafeInteger(q.term) || q.term < 0) {
      fail('a bad group entry');
    }
  }
}
