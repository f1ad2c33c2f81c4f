import { Ballot } from './ballot.js';
import { allPeers, isVoter } from './configuration.js';
import type { DisruptedLeader, RequestVoteRequest, RequestVoteResponse } from './messages.js';
import type { ResolvedOptions } from './options.js';
import type { Configuration, PeerId } from './types.js';

/**
 * One round of pre-vote or vote (braft's VoteBallotCtx): the ballot of the round, its version
 * (responses of an abandoned round are dropped by the node) and the requests to every voter.
 */
export class VoteRound {
  private readonly ballot: Ballot;

  constructor(
    private readonly options: ResolvedOptions<unknown>,
    private readonly conf: Configuration,
    /** The term asked for: the node's term + 1 for a pre-vote, its new term for a vote. */
    readonly term: number,
    readonly version: number,
  ) {
    this.ballot = new Ballot(conf);
    this.ballot.grant(options.peerId);
  }

  /** Counts `peer`'s grant; true once the round is won (by both halves of a joint configuration). */
  grant(peer: PeerId): boolean {
    this.ballot.grant(peer);
    return this.ballot.isGranted();
  }

  get won(): boolean {
    return this.ballot.isGranted();
  }

  /** Asks every other voter; each answer goes to `onResponse` (lost requests go nowhere). */
  solicit(
    log: { readonly lastIndex: number; readonly lastLogTerm: number },
    preVote: boolean,
    disruptedLeader: DisruptedLeader | undefined,
    onResponse: (peer: PeerId, response: RequestVoteResponse) => void,
  ): void {
    const o = this.options;
    for (const peer of allPeers(this.conf)) {
      if (peer === o.peerId || !isVoter(this.conf, peer)) continue;
      const request: RequestVoteRequest = {
        groupId: o.groupId,
        from: o.peerId,
        to: peer,
        term: this.term,
        preVote,
        lastLogIndex: log.lastIndex,
        lastLogTerm: log.lastLogTerm,
        ...(disruptedLeader ? { disruptedLeader } : {}),
      };
      o.transport.call('requestVote', request, { timeoutMs: o.rpcTimeoutMs }).then(
        (response) => onResponse(peer, response),
        () => {},
      );
    }
  }
}
