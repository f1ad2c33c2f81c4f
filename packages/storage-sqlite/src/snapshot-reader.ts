import {
  BadRequestError,
  CorruptLogError,
  type SnapshotMeta,
  type SnapshotReader,
} from '@kontiki/core';
import { crc32c } from './checksum.js';
import type { GroupState, StoreContext } from './store-context.js';

/**
 * Reads one published snapshot in chunks. While it is open, the snapshot stays in the
 * store even if a newer one is published; closing the last reader of a superseded
 * snapshot removes it.
 */
export class SqliteSnapshotReader implements SnapshotReader {
  private closed = false;
  /** Offsets of chunk rows whose checksum was already verified by this reader. */
  private readonly verified = new Set<number>();

  /** @internal Use `snapshotStorage.openLatest()`. */
  constructor(
    private readonly store: StoreContext,
    private readonly group: GroupState,
    readonly meta: SnapshotMeta,
    readonly size: number,
    private readonly sid: number,
  ) {
    store.snapshotReaders.set(sid, (store.snapshotReaders.get(sid) ?? 0) + 1);
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
    const out = new Uint8Array(end - offset);
    let pos = offset;
    const rows = this.store.statements.readChunks.all(
      this.sid,
      end,
      this.sid,
      offset,
    ) as unknown[][];
    for (const [chunkOffset, data, crc] of rows) {
      if (
        typeof chunkOffset !== 'number' ||
        !(data instanceof Uint8Array) ||
        chunkOffset > pos ||
        !this.intact(chunkOffset, data, crc)
      ) {
        throw this.corrupt(`its data at byte ${pos} is missing or failed its checksum`);
      }
      const from = pos - chunkOffset;
      const to = Math.min(data.byteLength, end - chunkOffset);
      if (to <= from) continue;
      out.set(data.subarray(from, to), pos - offset);
      pos = chunkOffset + to;
    }
    if (pos < end) throw this.corrupt(`its data at byte ${pos} is missing`);
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const readers = this.store.snapshotReaders;
    const left = (readers.get(this.sid) ?? 1) - 1;
    if (left > 0) {
      readers.set(this.sid, left);
      return;
    }
    readers.delete(this.sid);
    const s = this.store.statements;
    try {
      this.store.checkOpen();
      // A newer snapshot was published while this one was read: it can go now.
      await this.store.committer.submit({
        write: () => {
          if (s.latestSnapshotId.get(this.group.gid) === this.sid) return;
          if (this.store.snapshotReaders.has(this.sid)) return;
          s.deleteChunks.run(this.sid);
          s.deleteSnapshot.run(this.sid);
        },
        committed: () => {},
      });
    } catch {
      // The store is closed: superseded snapshots are removed at the next open.
    }
  }

  private intact(offset: number, data: Uint8Array, crc: unknown): boolean {
    if (this.verified.has(offset)) return true;
    if (crc32c(data) !== crc) return false;
    this.verified.add(offset);
    return true;
  }

  private corrupt(what: string): CorruptLogError {
    return new CorruptLogError(
      `snapshot ${this.meta.lastIncludedIndex} of group ${JSON.stringify(this.group.name)}: ${what}`,
      { groupId: this.group.name, index: this.meta.lastIncludedIndex },
    );
  }
}
