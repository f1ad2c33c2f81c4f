import {
  CorruptLogError,
  ShutdownError,
  type SnapshotMeta,
  type SnapshotReader,
  type SnapshotStorage,
  type SnapshotWriter,
} from '@kontiki/core';
import { snapshotChecksum } from './checksum.js';
import { decodeSnapshotConfiguration, encodeSnapshotMeta } from './snapshot-format.js';
import { SqliteSnapshotReader } from './snapshot-reader.js';
import { SqliteSnapshotWriter } from './snapshot-writer.js';
import type { GroupState, StoreContext } from './store-context.js';

interface SnapshotRow {
  sid: number;
  last_index: number;
  last_term: number;
  configuration: string;
  size: number;
  crc: number;
}

/** The snapshots of one group in a {@link SqliteStore}: the latest published one is kept. */
export class SqliteSnapshotStorage implements SnapshotStorage {
  private closed = false;

  /** @internal Use `store.snapshotStorage(groupId)`. */
  constructor(
    private readonly store: StoreContext,
    private readonly group: GroupState,
    private readonly onClose: () => void,
  ) {}

  get groupId(): string {
    return this.group.name;
  }

  async create(meta: SnapshotMeta): Promise<SnapshotWriter> {
    this.check();
    const configuration = encodeSnapshotMeta(meta);
    let sid = 0;
    await this.store.committer.submit({
      write: () => {
        sid = Number(
          this.store.statements.insertSnapshot.run(
            this.group.gid,
            meta.lastIncludedIndex,
            meta.lastIncludedTerm,
            configuration,
          ).lastInsertRowid,
        );
      },
      committed: () => {},
    });
    return new SqliteSnapshotWriter(this.store, this.group, meta, sid, configuration);
  }

  async openLatest(): Promise<SnapshotReader | null> {
    this.check();
    const row = this.store.statements.latestSnapshot.get(this.group.gid) as SnapshotRow | undefined;
    if (row === undefined) return null;
    const { name } = this.group;
    if (row.crc !== snapshotChecksum(row.last_index, row.last_term, row.configuration, row.size)) {
      throw new CorruptLogError(
        `snapshot of group ${JSON.stringify(name)}: its description failed its checksum`,
        { groupId: name, index: row.last_index },
      );
    }
    const meta: SnapshotMeta = {
      lastIncludedIndex: row.last_index,
      lastIncludedTerm: row.last_term,
      configuration: decodeSnapshotConfiguration(row.configuration, name, row.last_index),
    };
    return new SqliteSnapshotReader(this.store, this.group, meta, row.size, row.sid);
  }

  /** Detaches this object; open writers and readers keep working until the store closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
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
