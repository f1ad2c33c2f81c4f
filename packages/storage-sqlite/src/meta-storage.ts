import { BadRequestError, type MetaStorage, type RaftMeta, ShutdownError } from '@kontiki/core';
import type { GroupMirror, StoreContext } from './store-context.js';

/**
 * The term and vote of one group in a {@link SqliteStore}. `save` shares the store's group
 * commit and resolves once durable, so a vote is answered only after it is on disk.
 */
export class SqliteMetaStorage implements MetaStorage {
  private closed = false;

  /** @internal Use `store.metaStorage(groupId)`. */
  constructor(
    private readonly store: StoreContext,
    private readonly group: GroupMirror,
  ) {}

  get groupId(): string {
    return this.group.name;
  }

  async load(): Promise<RaftMeta> {
    this.check();
    // Nothing of this group in flight: the mirror is what the engine would answer.
    if (this.group.pendingWrites === 0) return this.group.meta;
    return this.store.queue.submit({ kind: 'meta', group: this.group.name });
  }

  async save(meta: RaftMeta): Promise<void> {
    this.check();
    if (typeof meta !== 'object' || meta === null) {
      throw new BadRequestError('save takes { term, votedFor }');
    }
    const { term, votedFor } = meta;
    if (typeof term !== 'number' || !Number.isSafeInteger(term) || term < 0) {
      throw new BadRequestError(`term must be a non-negative integer, got ${String(term)}`);
    }
    if (votedFor !== null && typeof votedFor !== 'string') {
      throw new BadRequestError('votedFor must be a peer id or null');
    }
    const saved: RaftMeta = { term, votedFor };
    await this.store.write(
      this.group,
      { kind: 'saveMeta', group: this.group.name, term, votedFor },
      () => {
        this.group.meta = saved;
      },
    );
  }

  /** Detaches this object from the group; a queued save still completes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The store hands out a new object for the group from now on.
    if (this.group.views?.meta === this) this.group.views.meta = undefined;
  }

  /** @internal The store closed. */
  detach(): void {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new ShutdownError('meta storage is closed');
    this.store.checkOpen();
  }
}
