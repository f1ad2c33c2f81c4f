import { BadRequestError, type MetaStorage, type RaftMeta } from '@kontiki/core';

/** Term and vote in memory. */
export class MemoryMetaStorage implements MetaStorage {
  private meta: RaftMeta = { term: 0, votedFor: null };

  async load(): Promise<RaftMeta> {
    return this.meta;
  }

  async save(meta: RaftMeta): Promise<void> {
    if (!Number.isSafeInteger(meta.term) || meta.term < 0) {
      throw new BadRequestError(`term must be a non-negative integer, got ${meta.term}`);
    }
    if (meta.votedFor !== null && typeof meta.votedFor !== 'string') {
      throw new BadRequestError('votedFor must be a peer id or null');
    }
    this.meta = { term: meta.term, votedFor: meta.votedFor };
  }

  async close(): Promise<void> {}
}
