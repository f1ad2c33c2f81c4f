import type { GroupId, RaftMeta } from '@kontiki/core';
import type { GroupCommitter } from './group-commit.js';
import type { Statements } from './statements.js';

/** What the store knows of one group, as committed to disk. */
export interface GroupState {
  readonly gid: number;
  readonly name: GroupId;
  /** The log's range: empty when last < first. */
  log: { first: number; last: number };
  meta: RaftMeta;
}

/** The store's parts that its per-group storages share. */
export interface StoreContext {
  readonly statements: Statements;
  readonly committer: GroupCommitter;
  /** Throws ShutdownError once the store is closed. */
  checkOpen(): void;
  /** Snapshots with an open reader are kept even once a newer one is published. */
  readonly snapshotReaders: Map<number, number>;
}
