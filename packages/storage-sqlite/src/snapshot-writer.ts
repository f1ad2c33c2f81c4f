import {
  BadRequestError,
  type GroupId,
  type SnapshotMeta,
  type SnapshotReader,
  type SnapshotWriter,
} from '@kontiki/core';
import { snapshotChecksum } from './checksum.js';
import { SqliteSnapshotReader } from './snapshot-reader.js';
import type { StoreContext } from './store-context.js';

type WriterState = 'open' | 'committing' | 'committed' | 'aborted' | 'failed';

/**
 * Streams one snapshot into the store. Chunks go to rows of an unpublished snapshot;
 * `commit` publishes it and removes the older ones in one transaction, so a reader sees
 * the old snapshot or the new one, never a part of one. What a crash leaves unpublished
 * is removed at the next open.
 */
export class SqliteSnapshotWriter implements SnapshotWriter {
  private state: WriterState = 'open';
  private size = 0;

  /** @internal Use `snapshotStorage.create(meta)`. */
  constructor(
    private readonly store: StoreContext,
    private readonly group: GroupId,
    readonly meta: SnapshotMeta,
    private readonly sid: number,
    private readonly configuration: string,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    this.checkWritable('write to');
    if (!(chunk instanceof Uint8Array)) {
      throw new BadRequestError('a snapshot chunk must be a Uint8Array');
    }
    if (chunk.byteLength === 0) return;
    // Offsets are taken now, in call order, so writes that are not awaited stay in order.
    const offset = this.size;
    this.size += chunk.byteLength;
    // Across threads: a copy of exactly these bytes, moved to the worker (the caller's
    // buffer stays the caller's, and a view into a large buffer costs only its own bytes).
    // `new Uint8Array(chunk)` copies even for a Buffer, whose slice() would be a view.
    const data = this.store.crossesThreads ? new Uint8Array(chunk) : chunk;
    await this.store.queue.submit({ kind: 'snapshotWrite', sid: this.sid, offset, data });
  }

  /** Reads back what was written so far (the rows of the unpublished snapshot). */
  async openReader(): Promise<SnapshotReader> {
    this.checkWritable('read back');
    return new SqliteSnapshotReader(
      this.store,
      this.group,
      { sid: this.sid, meta: this.meta, size: this.size },
      { unpublished: true },
    );
  }

  async commit(): Promise<void> {
    this.checkWritable('commit');
    this.state = 'committing';
    const size = this.size;
    const crc = snapshotChecksum(
      this.meta.lastIncludedIndex,
      this.meta.lastIncludedTerm,
      this.configuration,
      size,
    );
    try {
      await this.store.queue.submit({
        kind: 'snapshotCommit',
        group: this.group,
        sid: this.sid,
        size,
        crc,
      });
      this.state = 'committed';
    } catch (error) {
      this.state = 'failed';
      throw error;
    }
  }

  async abort(): Promise<void> {
    if (this.state !== 'open' && this.state !== 'failed') return;
    this.state = 'aborted';
    try {
      await this.store.queue.submit({ kind: 'snapshotAbort', sid: this.sid });
    } catch {
      // The store is closing or failing: unpublished rows are removed at the next open.
    }
  }

  private checkWritable(action: string): void {
    this.store.checkOpen();
    if (this.state !== 'open') {
      throw new BadRequestError(`cannot ${action} a snapshot writer that is ${this.state}`);
    }
  }
}
