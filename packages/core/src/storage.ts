import type { LogEntry, PeerId, SnapshotMeta } from './types.js';

/**
 * The log of one Raft group. Every method is asynchronous; an implementation may do the work
 * synchronously inside. The log holds a contiguous run of entries [firstIndex, lastIndex];
 * it is empty when lastIndex < firstIndex. A new store is empty with firstIndex 1, lastIndex 0.
 *
 * Core issues at most one mutating call at a time and waits for it, so an implementation
 * need not order concurrent writes itself. `@kontiki/testkit/log-storage` states the contract.
 */
export interface LogStorage {
  firstIndex(): Promise<number>;
  lastIndex(): Promise<number>;
  /** Entries with from <= index < to, in order; stops early once `maxBytes` of data is reached (always at least one entry). */
  entries(from: number, to: number, maxBytes?: number): Promise<LogEntry[]>;
  /** The term of the entry at `index`, or undefined when it is not in the log. */
  term(index: number): Promise<number | undefined>;
  /** Appends contiguous entries starting at lastIndex + 1. Resolves once they are durable. */
  append(entries: readonly LogEntry[]): Promise<void>;
  /** Removes every entry after `lastKept`. Durable on resolve. */
  truncateSuffix(lastKept: number): Promise<void>;
  /** Removes every entry before `firstKept` (after a snapshot). May be lazy about reclaiming space. */
  truncatePrefix(firstKept: number): Promise<void>;
  /** Removes every entry; the next append starts at `nextIndex` (after installing a snapshot). */
  reset(nextIndex: number): Promise<void>;
  close(): Promise<void>;
}

/** What a node must remember across restarts besides its log. */
export interface RaftMeta {
  readonly term: number;
  readonly votedFor: PeerId | null;
}

/** Durable term and vote of one group. `save` resolves only once durable: a vote is answered after it. */
export interface MetaStorage {
  load(): Promise<RaftMeta>;
  save(meta: RaftMeta): Promise<void>;
  close(): Promise<void>;
}

/** Writes one snapshot as a stream of chunks; nothing is visible until `commit`. */
export interface SnapshotWriter {
  readonly meta: SnapshotMeta;
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Reads back what was written, before it is published (call it once every write has
   * resolved). A follower's state machine loads a received snapshot from here, so that a
   * snapshot it cannot load never becomes the latest one.
   */
  openReader(): Promise<SnapshotReader>;
  /** Atomically publishes the snapshot as the latest one; older ones may be removed. */
  commit(): Promise<void>;
  /** Discards what was written. */
  abort(): Promise<void>;
}

/** Reads one published snapshot in chunks. */
export interface SnapshotReader {
  readonly meta: SnapshotMeta;
  /** Total size in bytes. */
  readonly size: number;
  /** Up to `maxBytes` bytes from `offset`; an empty array at the end. */
  read(offset: number, maxBytes: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Snapshots of one group: the latest published one is kept. */
export interface SnapshotStorage {
  create(meta: SnapshotMeta): Promise<SnapshotWriter>;
  /** The latest published snapshot, or null when there is none. */
  openLatest(): Promise<SnapshotReader | null>;
  close(): Promise<void>;
}
