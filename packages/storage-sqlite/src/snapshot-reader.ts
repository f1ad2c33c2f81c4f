import {
  BadRequestError,
  type GroupId,
  type SnapshotMeta,
  type SnapshotReader,
} from '@kontiki/core';
import type { OpenedSnapshot } from './ops.js';
import type { StoreContext } from './store-context.js';

/**
 * Reads one published snapshot in chunks, each chunk's checksum checked. While it is open,
 * the snapshot stays in the store even if a newer one is published; closing the last
 * reader of a superseded snapshot removes it.
 */
export class SqliteSnapshotReader implements SnapshotReader {
  readonly meta: SnapshotMeta;
  readonly size: number;
  private closed = false;
  private readonly sid: number;

  private readonly unpublished: boolean;

  /** @internal Use `snapshotStorage.openLatest()` or `writer.openReader()`. */
  constructor(
    private readonly store: StoreContext,
    private readonly group: GroupId,
    opened: OpenedSnapshot,
    options: { unpublished?: boolean } = {},
  ) {
    this.meta = opened.meta;
    this.size = opened.size;
    this.sid = opened.sid;
    this.unpublished = options.unpublished ?? false;
  }

  async read(offset: number, maxBytes: number): Promise<Uint8Array> {
    if (this.closed) throw new BadRequestError('the snapshot reader is closed');
    this.store.checkOpen();
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new BadRequestError(`read offset must be a non-negative integer, got ${offset}`);
    }
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new BadRequestError(`read maxBytes must be a non-negative integer, got ${maxBytes}`);
    }
    const end = Math.min(this.size, offset + maxBytes);
    if (offset >= end) return new Uint8Array(0);
    return this.store.queue.submit({
      kind: 'snapshotRead',
      group: this.group,
      sid: this.sid,
      lastIndex: this.meta.lastIncludedIndex,
      offset,
      end,
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A writer's read-back holds nothing: its writer commits or aborts the rows.
    if (this.unpublished) return;
    try {
      this.store.checkOpen();
      // Lets the engine drop the snapshot if a newer one was published while it was read.
      await this.store.queue.submit({ kind: 'snapshotRelease', group: this.group, sid: this.sid });
    } catch {
      // The store is closed or failed: superseded snapshots are removed at the next open.
    }
  }
}
