import {
  ShutdownError,
  type SnapshotMeta,
  type SnapshotReader,
  type SnapshotStorage,
  type SnapshotWriter,
} from '@kontiki/core';
import { encodeSnapshotMeta } from './snapshot-format.js';
import { SqliteSnapshotReader } from './snapshot-reader.js';
import { SqliteSnapshotWriter } from './snapshot-writer.js';
import type { GroupMirror, StoreContext } from './store-context.js';

/** The snapshots of one group in a {@link SqliteStore}: the latest published one is kept. */
export class SqliteSnapshotStorage implements SnapshotStorage {
  private closed = false;

  /** @internal Use `store.snapshotStorage(groupId)`. */
  constructor(
    private readonly store: StoreContext,
    private readonly group: GroupMirror,
  ) {}

  get groupId(): string {
    return this.group.name;
  }

  async create(meta: SnapshotMeta): Promise<SnapshotWriter> {
    this.check();
    const configuration = encodeSnapshotMeta(meta);
    const sid = await this.store.queue.submit({
      kind: 'snapshotCreate',
      group: this.group.name,
      lastIndex: meta.lastIncludedIndex,
      lastTerm: meta.lastIncludedTerm,
      configuration,
    });
    return new SqliteSnapshotWriter(this.store, this.group.name, meta, sid, configuration);
  }

  async openLatest(): Promise<SnapshotReader | null> {
    this.check();
    const opened = await this.store.queue.submit({ kind: 'snapshotOpen', group: this.group.name });
    if (opened === null) return null;
    return new SqliteSnapshotReader(this.store, this.group.name, opened);
  }

  /** Detaches this object; open writers and readers keep working until the store closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The store hands out a new object for the group from now on.
    if (this.group.views?.snapshot === this) this.group.views.snapshot = undefined;
  }

  /** @internal The store closed. */
  detach(): void {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new ShutdownError('snapshot storage is closed');
    this.store.checkOpen();
  }
}
