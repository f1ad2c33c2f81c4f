import {
  BadRequestError,
  type SnapshotMeta,
  type SnapshotWriter,
  StorageError,
} from '@kontiki/core';
import { crc32c, snapshotChecksum } from './checksum.js';
import { CHUNK_BYTES } from './snapshot-format.js';
import type { GroupState, StoreContext } from './store-context.js';

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
    private readonly group: GroupState,
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
    const start = this.size;
    this.size += chunk.byteLength;
    const { insertChunk } = this.store.statements;
    await this.store.committer.submit({
      write: () => {
        for (let off = 0; off < chunk.byteLength; off += CHUNK_BYTES) {
          const piece = chunk.subarray(off, off + CHUNK_BYTES);
          insertChunk.run(this.sid, start + off, piece, crc32c(piece));
        }
      },
      committed: () => {},
    });
  }

  async commit(): Promise<void> {
    this.checkWritable('commit');
    this.state = 'committing';
    const s = this.store.statements;
    const size = this.size;
    const crc = snapshotChecksum(
      this.meta.lastIncludedIndex,
      this.meta.lastIncludedTerm,
      this.configuration,
      size,
    );
    try {
      await this.store.committer.submit({
        write: () => {
          const totals = s.chunkTotals.get(this.sid) as { bytes: number };
          if (totals.bytes !== size) {
            throw new StorageError(
              `snapshot of group ${JSON.stringify(this.group.name)}: ${totals.bytes} of ${size} bytes were stored (a write failed)`,
            );
          }
          if (s.publishSnapshot.run(size, crc, this.sid).changes !== 1) {
            throw new StorageError('the snapshot being committed is gone from the store');
          }
          // Keep only the latest, except snapshots a reader is still streaming.
          for (const old of s.otherPublished.all(this.group.gid, this.sid) as number[]) {
            if (this.store.snapshotReaders.has(old)) continue;
            s.deleteChunks.run(old);
            s.deleteSnapshot.run(old);
          }
        },
        committed: () => {},
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
    const s = this.store.statements;
    try {
      await this.store.committer.submit({
        write: () => {
          if (s.abortSnapshot.run(this.sid).changes === 1) s.deleteChunks.run(this.sid);
        },
        committed: () => {},
      });
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
