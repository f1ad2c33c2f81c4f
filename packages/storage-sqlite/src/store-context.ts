import { type GroupId, type RaftMeta, ShutdownError } from '@kontiki/core';
import type { SqliteLogStorage } from './log-storage.js';
import type { SqliteMetaStorage } from './meta-storage.js';
import type { OpQueue } from './op-queue.js';
import type { LogRange, OpValues, WriteOp } from './ops.js';
import type { SqliteSnapshotStorage } from './snapshot-storage.js';

/**
 * What the facade knows of one group: the engine's committed state as of the last answer.
 * While none of the group's writes is in flight it is exactly what the engine would answer,
 * so firstIndex/lastIndex/load answer from it without a round trip.
 */
export interface GroupMirror {
  readonly name: GroupId;
  log: LogRange;
  meta: RaftMeta;
  /** Writes of this group sent and not yet answered. */
  pendingWrites: number;
  /**
   * The group's storage objects handed out and not closed (one of each kind per group). Kept
   * here rather than in a map of their own, and closed without a callback each: a multi-raft
   * process has thousands of groups.
   */
  views?: GroupViews;
}

/** The storage objects of one group, as `SqliteStore` hands them out. */
export interface GroupViews {
  log?: SqliteLogStorage;
  meta?: SqliteMetaStorage;
  snapshot?: SqliteSnapshotStorage;
}

/** The store's parts that its per-group storages share. */
export class StoreContext {
  /**
   * @param queue where ops go.
   * @param crossesThreads whether ops cross a thread boundary (buffers handed over must
   *   then be the store's own copies).
   * @param isClosed whether the store was closed.
   */
  constructor(
    readonly queue: OpQueue,
    readonly crossesThreads: boolean,
    private readonly isClosed: () => boolean,
  ) {}

  /**
   * Throws ShutdownError once the store is closed, and the engine's failure (a
   * StorageError) once its worker has stopped: then even reads that the mirror could
   * answer are refused, so a dead store is never mistaken for a working one.
   */
  checkOpen(): void {
    if (this.isClosed()) throw new ShutdownError('the SQLite store is closed');
    const failure = this.queue.failed;
    if (failure !== undefined) throw failure;
  }

  /**
   * Runs a write of `group`'s log or meta; `apply` publishes its answer to the mirror as
   * the answer arrives, before the caller (or anyone awaiting a later write) resumes.
   */
  async write<T extends WriteOp>(
    group: GroupMirror,
    op: T,
    apply: (value: OpValues[T['kind']]) => void,
  ): Promise<void> {
    group.pendingWrites++;
    try {
      apply(await this.queue.submit(op));
    } finally {
      group.pendingWrites--;
    }
  }
}
