import type { GroupId, RaftMeta } from '@kontiki/core';
import type { LogRange } from './ops.js';
import type { Statements } from './statements.js';

/** A group as the op being run sees it: `gid` is undefined for a group never written. */
export interface GroupView {
  readonly gid: number | undefined;
  readonly name: GroupId;
  readonly log: LogRange;
  readonly meta: RaftMeta;
}

/** What the engine offers the ops it runs (log-ops.ts, meta-ops.ts, snapshot-ops.ts). */
export interface EngineContext {
  readonly statements: Statements;
  /** The group with the writes already run in this transaction applied. */
  view(group: GroupId): GroupView;
  /** The group's integer id, its row created in the current transaction on first write. */
  gid(group: GroupId): number;
  /** Records what a write leaves behind; published to readers once the transaction commits. */
  setLog(group: GroupId, log: LogRange): void;
  setMeta(group: GroupId, meta: RaftMeta): void;
  /** Snapshots with open readers, and how many: they are kept even when superseded. */
  readonly readers: Map<number, number>;
  /** Per snapshot, chunk offsets whose checksum was already verified (chunks never change). */
  readonly verified: Map<number, Set<number>>;
  /** Undoes an in-memory effect if the transaction this op ran in fails. */
  onRollback(undo: () => void): void;
  /** Whether read entries leave packed (to cross a thread boundary) or as a list. */
  readonly packEntries: boolean;
}
