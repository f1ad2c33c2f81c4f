import type { GroupId, RaftMeta, SnapshotMeta } from '@kontiki/core';
import type { EntryBatch } from './entry-batch.js';
import type { WireError } from './wire-error.js';

/**
 * The operations the main thread asks the store's engine to run, and what they answer.
 * Everything here is plain data: in `thread: 'worker'` mode it crosses the thread boundary
 * by structured clone (entry and chunk bytes are transferred, see entry-batch.ts).
 */

/** A log's range: empty when last < first. */
export interface LogRange {
  readonly first: number;
  readonly last: number;
}

/** Ops that change the file. They share the engine's transactions (group commit). */
export type WriteOp =
  | { readonly kind: 'append'; readonly group: GroupId; readonly entries: EntryBatch }
  | { readonly kind: 'truncateSuffix'; readonly group: GroupId; readonly lastKept: number }
  | { readonly kind: 'truncatePrefix'; readonly group: GroupId; readonly firstKept: number }
  | { readonly kind: 'reset'; readonly group: GroupId; readonly nextIndex: number }
  | {
      readonly kind: 'saveMeta';
      readonly group: GroupId;
      readonly term: number;
      readonly votedFor: string | null;
    }
  | {
      readonly kind: 'snapshotCreate';
      readonly group: GroupId;
      readonly lastIndex: number;
      readonly lastTerm: number;
      /** The configuration as stored (JSON), already checked. */
      readonly configuration: string;
    }
  | {
      readonly kind: 'snapshotWrite';
      readonly sid: number;
      readonly offset: number;
      readonly data: Uint8Array;
    }
  | {
      readonly kind: 'snapshotCommit';
      readonly group: GroupId;
      readonly sid: number;
      readonly size: number;
      readonly crc: number;
    }
  | { readonly kind: 'snapshotAbort'; readonly sid: number }
  /** A reader closed: drop the snapshot if nothing reads it and a newer one is published. */
  | { readonly kind: 'snapshotRelease'; readonly group: GroupId; readonly sid: number };

/** Ops that only read. They see every write sent before them, and none sent after. */
export type ReadOp =
  | {
      readonly kind: 'entries';
      readonly group: GroupId;
      readonly from: number;
      readonly to: number;
      readonly maxBytes: number;
    }
  | { readonly kind: 'term'; readonly group: GroupId; readonly index: number }
  | { readonly kind: 'range'; readonly group: GroupId }
  | { readonly kind: 'meta'; readonly group: GroupId }
  /** Opens the latest snapshot for reading: it is kept until a snapshotRelease. */
  | { readonly kind: 'snapshotOpen'; readonly group: GroupId }
  | {
      readonly kind: 'snapshotRead';
      readonly group: GroupId;
      readonly sid: number;
      readonly lastIndex: number;
      readonly offset: number;
      readonly end: number;
    };

export type Op = WriteOp | ReadOp;

const READS: ReadonlySet<Op['kind']> = new Set([
  'entries',
  'term',
  'range',
  'meta',
  'snapshotOpen',
  'snapshotRead',
]);

export function isRead(op: Op): op is ReadOp {
  return READS.has(op.kind);
}

/**
 * Whether an op's answer cannot depend on any write, so it need not wait for the writes
 * sent before it: a read of an open snapshot reader. Its snapshot is published (its chunks
 * never change again) and held for the reader until the reader closes, and a closed reader
 * reads nothing, so no write can change what it reads. A leader streaming its snapshot to a
 * new follower then does not wait behind its own appends.
 */
export function isUnordered(op: Op): boolean {
  return op.kind === 'snapshotRead';
}

/** A published snapshot opened by snapshotOpen. */
export interface OpenedSnapshot {
  readonly sid: number;
  readonly meta: SnapshotMeta;
  readonly size: number;
}

/** What each op answers, by kind. */
export interface OpValues {
  append: LogRange;
  truncateSuffix: LogRange;
  truncatePrefix: LogRange;
  reset: LogRange;
  saveMeta: undefined;
  snapshotCreate: number;
  snapshotWrite: undefined;
  snapshotCommit: undefined;
  snapshotAbort: undefined;
  snapshotRelease: undefined;
  entries: EntryBatch;
  term: number | undefined;
  range: LogRange;
  meta: RaftMeta;
  snapshotOpen: OpenedSnapshot | null;
  snapshotRead: Uint8Array;
}

export type OpValue = OpValues[keyof OpValues];

/** An op as sent: numbered, so its answer finds its way back. */
export type Numbered<T extends Op = Op> = T & { readonly id: number };

export type OpResult =
  | { readonly id: number; readonly ok: true; readonly value: OpValue }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

/** One group as the engine found it at open. */
export interface OpenedGroup {
  readonly name: GroupId;
  readonly log: LogRange;
  readonly meta: RaftMeta;
}
