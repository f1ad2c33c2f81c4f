import { hasQuorum, isVoter } from './configuration.js';
import type { Configuration, PeerId } from './types.js';

/**
 * Counts the votes of one election (or pre-vote) round. In a joint configuration the
 * round is won only with a majority of both the old and the new voters (Raft paper section 6).
 */
export class Ballot {
  private readonly granted = new Set<PeerId>();

  constructor(readonly configuration: Configuration) {}

  /** Records a grant; votes of non-voters are ignored. */
  grant(peer: PeerId): void {
    if (isVoter(this.configuration, peer)) this.granted.add(peer);
  }

  isGranted(): boolean {
    return hasQuorum(this.configuration, (p) => this.granted.has(p));
  }
}
