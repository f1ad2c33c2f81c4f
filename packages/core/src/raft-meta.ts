import { type RaftError, toRaftError } from './errors.js';
import { NodeMetrics } from './metrics.js';
import type { MetaStorage } from './storage.js';
import type { PeerId } from './types.js';

/**
 * The node's current term and vote, in front of MetaStorage (braft's RaftMetaStorage).
 *
 * Writes are coalesced: every change made in one event-loop turn shares one
 * `MetaStorage.save`, and a change made while a save is under way triggers one more.
 * Anything that reveals the term or the vote to a peer waits for {@link RaftMetaManager.pending}.
 */
export class RaftMetaManager {
  private termValue = 0;
  private vote: PeerId | null = null;
  private dirty = false;
  private chain: Promise<void> | undefined;

  constructor(
    private readonly storage: MetaStorage,
    /** A failed save: the node cannot go on (a vote might be lost). */
    private readonly onError: (error: RaftError) => void,
    private readonly metrics = NodeMetrics.none,
  ) {}

  async load(): Promise<void> {
    const meta = await this.storage.load();
    this.termValue = meta.term;
    this.vote = meta.votedFor;
    this.metrics.termChanged(meta.term);
  }

  get term(): number {
    return this.termValue;
  }

  get votedFor(): PeerId | null {
    return this.vote;
  }

  /** The write in progress, if any; resolves once the latest values are durable. */
  get pending(): Promise<void> | undefined {
    return this.chain;
  }

  /** Changes term and vote now (in memory) and schedules their write. */
  set(term: number, votedFor: PeerId | null): Promise<void> {
    if (term !== this.termValue) this.metrics.termChanged(term);
    this.termValue = term;
    this.vote = votedFor;
    this.dirty = true;
    if (!this.chain) {
      const chain = this.flush();
      this.chain = chain;
      chain.catch((error: unknown) => this.onError(toRaftError(error, 'STORAGE')));
    }
    return this.chain;
  }

  private async flush(): Promise<void> {
    try {
      // Yield once so that changes made in the same turn share this write.
      await undefined;
      while (this.dirty) {
        this.dirty = false;
        await this.storage.save({ term: this.termValue, votedFor: this.vote });
      }
    } finally {
      // Cleared in the same turn as the last look at `dirty`: a change made after that
      // starts a new chain instead of joining one that has already written its last value.
      this.chain = undefined;
    }
  }
}
