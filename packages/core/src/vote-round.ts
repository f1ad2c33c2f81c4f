import { Ballot } from './ballot.js';
import { allPeers, isVoter } from './configuration.js';
import type { ElectionAdmission } from './election-admission.js';
import type { DisruptedLeader, RequestVoteRequest, RequestVoteResponse } from './messages.js';
import type { ResolvedOptions } from './options.js';
import { RaftTimer } from './timer.js';
import type { Transport } from './transport.js';
import type { Configuration, PeerId } from './types.js';

/**
 * One round of pre-vote or vote (braft's VoteBallotCtx): the ballot of the round, its version
 * (responses of an abandoned round are dropped by the node) and the requests to every voter.
 *
 * Answers are awaited for the whole life of the round, not only rpcTimeoutMs, and voters that
 * have not answered are asked again every rpcTimeoutMs: on a network that loses or delays
 * messages, a lost request or a late answer costs one rpcTimeoutMs, not the round (issue 9).
 * A request that fails outright is asked again after one heartbeat interval, once per voter.
 * Asking again is idempotent: a voter grants the same candidate its vote again.
 */
export class VoteRound {
  private readonly ballot: Ballot;
  private readonly resend: RaftTimer;
  private readonly unanswered = new Set<PeerId>();
  /** Voters whose request failed outright, to ask again soon (once each: `retried`). */
  private readonly failed = new Set<PeerId>();
  private readonly retried = new Set<PeerId>();
  private readonly retry: RaftTimer;
  /** Ends the round's hold on its endpoint's election slot when the round's time is up. */
  private readonly release: RaftTimer;
  private admission: ElectionAdmission | undefined;
  private stopped = false;

  constructor(
    private readonly options: Pick<
      ResolvedOptions<unknown>,
      'groupId' | 'peerId' | 'clock' | 'rpcTimeoutMs' | 'heartbeatIntervalMs'
    > & { readonly transport: Pick<Transport, 'call'> },
    private readonly conf: Configuration,
    /** The term asked for: the node's term + 1 for a pre-vote, its new term for a vote. */
    readonly term: number,
    readonly version: number,
  ) {
    this.ballot = new Ballot(conf);
    this.ballot.grant(options.peerId);
    this.resend = new RaftTimer(options.clock, () => this.askAgain());
    this.retry = new RaftTimer(options.clock, () => this.askFailed());
    this.release = new RaftTimer(options.clock, () => this.leaveSlot());
  }

  /**
   * The round holds one of `admission`'s slots (taken by the caller) until it is stopped,
   * every voter answered, or `until` (on the node's clock) passes, whichever comes first: a
   * slot is never held longer than the round's own time. A failed call does not free it: a
   * dead peer fails calls at once, and a failover would then run every election together.
   */
  holdSlot(admission: ElectionAdmission, until: number): void {
    this.leaveSlot();
    this.admission = admission;
    this.release.start(Math.max(1, until - this.options.clock.now()));
  }

  private leaveSlot(): void {
    this.release.stop();
    const admission = this.admission;
    this.admission = undefined;
    admission?.leave();
  }

  private askAgain: () => void = () => {};
  private askFailed: () => void = () => {};

  /** Ends the round: nothing is asked again (its answers are still delivered, and dropped). */
  stop(): void {
    this.stopped = true;
    this.resend.stop();
    this.retry.stop();
    this.leaveSlot();
  }

  /** Counts `peer`'s grant; true once the round is won (by both halves of a joint configuration). */
  grant(peer: PeerId): boolean {
    this.ballot.grant(peer);
    return this.ballot.isGranted();
  }

  get won(): boolean {
    return this.ballot.isGranted();
  }

  /**
   * Asks every other voter, and again every rpcTimeoutMs those that have not answered, until
   * the round is stopped or `endsAt` (on the node's clock) passes; each answer goes to
   * `onResponse` (lost requests go nowhere).
   */
  solicit(
    log: { readonly lastIndex: number; readonly lastLogTerm: number },
    preVote: boolean,
    disruptedLeader: DisruptedLeader | undefined,
    endsAt: number,
    onResponse: (peer: PeerId, response: RequestVoteResponse) => void,
  ): void {
    const o = this.options;
    // The log as it was when the round began: asking again must ask the same question.
    const lastLogIndex = log.lastIndex;
    const lastLogTerm = log.lastLogTerm;
    for (const peer of allPeers(this.conf)) {
      if (peer !== o.peerId && isVoter(this.conf, peer)) this.unanswered.add(peer);
    }
    const ask = (peer: PeerId) => {
      const request: RequestVoteRequest = {
        groupId: o.groupId,
        from: o.peerId,
        to: peer,
        term: this.term,
        preVote,
        lastLogIndex,
        lastLogTerm,
        ...(disruptedLeader ? { disruptedLeader } : {}),
      };
      // Awaited for the rest of the round, however late the answer comes.
      const timeoutMs = Math.max(o.rpcTimeoutMs, Math.ceil(endsAt - o.clock.now()));
      o.transport.call('requestVote', request, { timeoutMs }).then(
        (response) => {
          this.unanswered.delete(peer);
          if (this.unanswered.size === 0) this.leaveSlot();
          onResponse(peer, response);
        },
        () => {
          // Failed outright (a connection refused, or one a peer's restart left broken): ask
          // again after a heartbeat interval, once, not a whole rpcTimeoutMs later; a
          // reconnecting channel usually carries the second request.
          if (this.stopped || this.retried.has(peer)) return;
          this.failed.add(peer);
          if (!this.retry.armed) this.retry.start(o.heartbeatIntervalMs);
        },
      );
    };
    this.askAgain = () => {
      if (this.stopped || this.unanswered.size === 0 || o.clock.now() >= endsAt) return;
      for (const peer of [...this.unanswered]) ask(peer);
      this.resend.start(o.rpcTimeoutMs);
    };
    this.askFailed = () => {
      const peers = [...this.failed];
      this.failed.clear();
      if (this.stopped || o.clock.now() >= endsAt) return;
      for (const peer of peers) {
        this.retried.add(peer);
        if (this.unanswered.has(peer)) ask(peer);
      }
    };
    this.askAgain();
  }
}
