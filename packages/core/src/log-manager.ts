import {
  type ConfigurationEntry,
  ConfigurationManager,
  decodeConfiguration,
  encodeConfiguration,
} from './configuration.js';
import { InternalError, type RaftError, StorageError, toRaftError } from './errors.js';
import { NodeMetrics } from './metrics.js';
import type { LogStorage } from './storage.js';
import { TermRuns } from './term-runs.js';
import { type Configuration, EntryType, type LogEntry } from './types.js';

type WriteOp =
  | { kind: 'append'; entries: LogEntry[]; last: number; cap: number }
  | { kind: 'truncateSuffix'; lastKept: number }
  | { kind: 'truncatePrefix'; firstKept: number }
  | { kind: 'reset'; nextIndex: number };

/** A durability wait ended because its entry was truncated away before it reached the disk. */
export class TruncatedError extends InternalError {
  constructor(index: number, lastKept: number) {
    super(`entry ${index} was truncated (the log now ends at ${lastKept}) before it was durable`);
    this.name = 'TruncatedError';
  }
}

interface DurableWaiter {
  index: number;
  resolve: () => void;
  reject: (error: RaftError) => void;
}

export interface LogManagerOptions {
  storage: LogStorage;
  initialConfiguration: ConfigurationEntry;
  /** Called whenever the durable index moves forward. */
  onDurable: (durableIndex: number) => void;
  /** Called once when a storage write fails: the node cannot go on safely. */
  onStorageError: (error: RaftError) => void;
  /** How many entries a read from storage returns at most. */
  readBatch?: number;
  /** Where the durations of appends go. */
  metrics?: NodeMetrics;
}

/**
 * The log of one node (braft's LogManager): an in-memory tail in front of LogStorage.
 *
 * Appends go into memory at once and to storage in the background, one write at a time;
 * appends that queue up meanwhile are written together (group commit). `durableIndex` is the
 * last index known to be on disk with the content the log has now. The leader replicates
 * from memory while its own write is still under way, and counts its own vote only once
 * `durableIndex` covers the entry (braft: the leader's disk is just another follower).
 */
export class LogManager {
  private readonly storage: LogStorage;
  private readonly terms = new TermRuns();
  readonly configurations: ConfigurationManager;
  private readonly onDurable: (durableIndex: number) => void;
  private readonly onStorageError: (error: RaftError) => void;
  private readonly readBatch: number;
  private readonly metrics: NodeMetrics;

  private first = 1;
  private last = 0;
  private snapshotIndex = 0;
  private snapshotTerm = 0;
  private durable = 0;

  // The in-memory tail: entry i is mem[i - memBase], present for i >= memBase + head.
  private mem: LogEntry[] = [];
  private memBase = 1;
  private head = 0;
  /** Data bytes of the entries live in memory. */
  private memBytes = 0;
  /** Data bytes of mem[0..i], for bytesBetween in O(1) (the replicator asks on every kick). */
  private memCum: number[] = [];

  private ops: WriteOp[] = [];
  private inFlight: WriteOp | undefined;
  private writeScheduled = false;
  private waiters: DurableWaiter[] = [];
  private idleWaiters: Array<() => void> = [];
  private failed: RaftError | undefined;
  private closed = false;

  constructor(options: LogManagerOptions) {
    this.storage = options.storage;
    this.configurations = new ConfigurationManager(options.initialConfiguration);
    this.onDurable = options.onDurable;
    this.onStorageError = options.onStorageError;
    this.readBatch = options.readBatch ?? 4096;
    this.metrics = options.metrics ?? NodeMetrics.none;
  }

  /** Loads the log's range, terms and configurations from storage. */
  async load(snapshot?: { index: number; term: number }): Promise<void> {
    const first = await this.storage.firstIndex();
    const last = await this.storage.lastIndex();
    this.first = first;
    this.last = last;
    this.snapshotIndex = snapshot?.index ?? first - 1;
    this.snapshotTerm = snapshot?.term ?? 0;
    this.terms.clear();
    for (let from = first; from <= last; ) {
      const batch = await this.storage.entries(from, Math.min(last + 1, from + this.readBatch));
      if (batch.length === 0) {
        throw new StorageError(
          `log storage returned no entry at ${from} (log is ${first}..${last})`,
        );
      }
      for (const e of batch) {
        if (e.index !== from) {
          throw new StorageError(
            `log storage returned index ${e.index} where ${from} was expected`,
          );
        }
        this.terms.push(e.index, e.term);
        if (e.type === EntryType.Configuration) {
          this.configurations.add({
            index: e.index,
            term: e.term,
            configuration: decodeConfiguration(e.data),
          });
        }
        from++;
      }
    }
    this.memBase = last + 1;
    this.mem = [];
    this.memCum = [];
    this.head = 0;
    this.memBytes = 0;
    this.durable = last;
    if (snapshot) {
      const { index, term } = snapshot;
      const continues =
        index === first - 1 ||
        (index >= first && index <= last && this.terms.termAt(index) === term);
      // A log that does not continue the snapshot (a crash between installing a leader's
      // snapshot and resetting the log; a log that ends before it) restarts after it.
      if (!continues) this.resetTo(index, term);
    }
  }

  /** The index the latest snapshot covers (0 without one). */
  get snapshotLastIndex(): number {
    return this.snapshotIndex;
  }

  /**
   * After a snapshot of everything up to `index`: the log may forget entries before
   * `firstKept` (<= index + 1). Entries kept between them let lagging followers catch up
   * without a snapshot.
   */
  compact(index: number, term: number, firstKept: number): void {
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    const keepFrom = Math.min(firstKept, index + 1, this.last + 1);
    if (keepFrom <= this.first) return;
    this.first = keepFrom;
    this.terms.truncatePrefix(keepFrom);
    const memFirst = this.memBase + this.head;
    if (keepFrom > memFirst) {
      const newHead = Math.min(keepFrom - this.memBase, this.mem.length);
      for (let i = this.head; i < newHead; i++) this.memBytes -= this.mem[i]?.data.byteLength ?? 0;
      this.head = newHead;
    }
    this.enqueue({ kind: 'truncatePrefix', firstKept: keepFrom });
  }

  /**
   * Throws the whole log away: it now starts right after a snapshot of everything up to
   * `index` (a follower installing its leader's snapshot).
   */
  resetTo(index: number, term: number): void {
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    this.first = index + 1;
    this.last = index;
    this.terms.clear();
    this.configurations.truncateSuffix(index);
    this.mem = [];
    this.memCum = [];
    this.memBase = index + 1;
    this.head = 0;
    this.memBytes = 0;
    // The snapshot holds everything up to `index` durably; queued appends write entries that
    // the reset removes.
    this.durable = index;
    const cap = (op: WriteOp | undefined) => {
      if (op?.kind === 'append' && op.cap > index) op.cap = index;
    };
    cap(this.inFlight);
    for (const op of this.ops) cap(op);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      if (w.index > index) w.reject(new TruncatedError(w.index, index));
      else w.resolve();
    }
    this.enqueue({ kind: 'reset', nextIndex: index + 1 });
  }

  get firstIndex(): number {
    return this.first;
  }
  get lastIndex(): number {
    return this.last;
  }
  get durableIndex(): number {
    return this.durable;
  }
  /** Data bytes of the entries held in memory. */
  get memoryBytes(): number {
    return this.memBytes;
  }
  get lastLogTerm(): number {
    return this.termAt(this.last) ?? 0;
  }

  /** The term of the entry at `index`; the snapshot's term at its index; 0 at index 0. */
  termAt(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.first || index > this.last) return undefined;
    return this.terms.termAt(index);
  }

  firstIndexOfTerm(term: number): number | undefined {
    const i = this.terms.firstIndexOfTerm(term);
    return i === undefined ? undefined : Math.max(i, this.first);
  }

  lastIndexOfTerm(term: number): number | undefined {
    return this.terms.lastIndexOfTerm(term, this.last);
  }

  /**
   * Data bytes of the entries with from <= index <= to when all are in memory; undefined
   * otherwise. O(1).
   */
  bytesBetween(from: number, to: number): number | undefined {
    if (from < this.memBase + this.head || to > this.last || from > to) return undefined;
    const hi = this.memCum[to - this.memBase];
    const lo = from - this.memBase - 1 >= 0 ? this.memCum[from - this.memBase - 1] : 0;
    if (hi === undefined || lo === undefined) return undefined;
    return hi - lo;
  }

  /** The entry at `index` if it is in memory. */
  memEntry(index: number): LogEntry | undefined {
    if (index < this.memBase + this.head || index > this.last) return undefined;
    return this.mem[index - this.memBase];
  }

  /**
   * Entries with from <= index < to, at most `maxBytes` of data (always at least one).
   * Synchronous when they are in memory; otherwise read from storage.
   */
  getEntries(
    from: number,
    to: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): LogEntry[] | Promise<LogEntry[]> {
    const end = Math.min(to, this.last + 1);
    if (from >= end) return [];
    const memFirst = this.memBase + this.head;
    if (from >= memFirst) {
      const out: LogEntry[] = [];
      let bytes = 0;
      for (let i = from; i < end; i++) {
        const e = this.mem[i - this.memBase];
        if (e === undefined) break;
        bytes += e.data.byteLength;
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
      return out;
    }
    if (from < this.first) return [];
    return this.storage.entries(from, Math.min(end, memFirst), maxBytes);
  }

  /** The leader appends its own entries (already numbered from lastIndex + 1). */
  appendLocal(entries: LogEntry[]): void {
    if (entries.length === 0) return;
    const firstNew = entries[0]?.index;
    if (firstNew !== this.last + 1) {
      throw new InternalError(`append at ${firstNew} but the log ends at ${this.last}`);
    }
    this.pushMem(entries);
    this.enqueueAppend(entries);
  }

  /** The leader appends a configuration entry of `term`; returns its index. */
  appendConfiguration(term: number, conf: Configuration): number {
    const index = this.last + 1;
    this.appendLocal([
      { index, term, type: EntryType.Configuration, data: encodeConfiguration(conf) },
    ]);
    return index;
  }

  /**
   * A follower appends what its leader sent after `prevIndex` (whose term already matched).
   * Entries it already holds are skipped; the first conflicting one truncates the log there
   * (Raft paper 5.3). Never truncates at or below `committedIndex`: that would lose a
   * committed entry, so it throws instead.
   */
  appendReplicated(prevIndex: number, entries: readonly LogEntry[], committedIndex: number): void {
    for (let j = 0; j < entries.length; j++) {
      const e = entries[j] as LogEntry;
      if (e.index !== prevIndex + 1 + j) {
        throw new InternalError(`entries are not contiguous after ${prevIndex}`);
      }
      if (e.index < this.first) continue;
      if (e.index <= this.last) {
        if (this.termAt(e.index) === e.term) continue;
        if (e.index <= committedIndex) {
          throw new InternalError(
            `leader sent term ${e.term} at committed index ${e.index} (local term ${this.termAt(e.index)})`,
          );
        }
        this.truncateSuffix(e.index - 1);
      }
      const rest = j === 0 ? (entries as LogEntry[]).slice() : entries.slice(j);
      this.pushMem(rest);
      this.enqueueAppend(rest);
      return;
    }
  }

  /** Removes every entry after `lastKept` (uncommitted entries of a deposed leader). */
  truncateSuffix(lastKept: number): void {
    if (lastKept >= this.last) return;
    this.last = lastKept;
    this.terms.truncateSuffix(lastKept);
    this.configurations.truncateSuffix(lastKept);
    const keep = lastKept - this.memBase + 1;
    for (let i = Math.max(keep, this.head); i < this.mem.length; i++) {
      this.memBytes -= this.mem[i]?.data.byteLength ?? 0;
    }
    if (keep <= this.head) {
      this.mem = [];
      this.memCum = [];
      this.memBase = lastKept + 1;
      this.head = 0;
      this.memBytes = 0;
    } else {
      this.mem.length = keep;
      this.memCum.length = keep;
    }
    if (this.durable > lastKept) this.durable = lastKept;
    // Whoever waits for an entry that no longer exists would wait forever: tell them.
    if (this.waiters.length > 0) {
      const still: DurableWaiter[] = [];
      for (const w of this.waiters) {
        if (w.index > lastKept) w.reject(new TruncatedError(w.index, lastKept));
        else still.push(w);
      }
      this.waiters = still;
    }
    const cap = (op: WriteOp | undefined) => {
      if (op?.kind === 'append' && op.cap > lastKept) op.cap = lastKept;
    };
    cap(this.inFlight);
    for (const op of this.ops) cap(op);
    this.enqueue({ kind: 'truncateSuffix', lastKept });
  }

  /** Lets memory drop entries at or below `index` (they stay in storage). */
  releaseMemory(index: number): void {
    const upTo = Math.min(index, this.durable);
    const memFirst = this.memBase + this.head;
    if (upTo < memFirst) return;
    const newHead = Math.min(upTo - this.memBase + 1, this.mem.length);
    for (let i = this.head; i < newHead; i++) this.memBytes -= this.mem[i]?.data.byteLength ?? 0;
    this.head = newHead;
    if (this.head === this.mem.length) {
      // All released (an idle group): drop the arrays, whose capacity outlives their entries.
      this.mem = [];
      this.memCum = [];
      this.memBase += this.head;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.mem.length) {
      this.mem = this.mem.slice(this.head);
      // Sums restart at the new base, so that bytesBetween(memBase, i) counts no released entry.
      const released = this.memCum[this.head - 1] ?? 0;
      this.memCum = this.memCum.slice(this.head).map((sum) => sum - released);
      this.memBase += this.head;
      this.head = 0;
    }
  }

  /** Resolves once the entry at `index` is durable (or rejects if storage failed). */
  waitDurable(index: number): Promise<void> | undefined {
    if (this.durable >= index) return undefined;
    if (this.failed) return Promise.reject(this.failed);
    if (index > this.last) return Promise.reject(new TruncatedError(index, this.last));
    return new Promise((resolve, reject) => {
      this.waiters.push({ index, resolve, reject });
    });
  }

  /** Resolves when every queued write has finished. */
  whenIdle(): Promise<void> {
    if (!this.inFlight && this.ops.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops accepting writes; pending durability waiters are failed with `error`. */
  close(error: RaftError): void {
    this.closed = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(error);
  }

  latestConfiguration(): Configuration {
    return this.configurations.latest().configuration;
  }

  private pushMem(entries: readonly LogEntry[]): void {
    if (this.mem.length === this.head) {
      // Nothing live in memory: restart the window at the new entries.
      this.mem = [];
      this.memCum = [];
      this.memBase = this.last + 1;
      this.head = 0;
      this.memBytes = 0;
    }
    for (const e of entries) {
      this.mem.push(e);
      this.memCum.push((this.memCum[this.memCum.length - 1] ?? 0) + e.data.byteLength);
      this.memBytes += e.data.byteLength;
      this.terms.push(e.index, e.term);
      if (e.type === EntryType.Configuration) {
        this.configurations.add({
          index: e.index,
          term: e.term,
          configuration: decodeConfiguration(e.data),
        });
      }
    }
    this.last = (entries[entries.length - 1] as LogEntry).index;
  }

  private enqueueAppend(entries: LogEntry[]): void {
    const last = (entries[entries.length - 1] as LogEntry).index;
    const tail = this.ops[this.ops.length - 1];
    if (tail?.kind === 'append' && tail.last + 1 === entries[0]?.index && tail.cap >= tail.last) {
      // Group commit: join the queued append instead of adding a write.
      for (const e of entries) tail.entries.push(e);
      tail.last = last;
      tail.cap = last;
      return;
    }
    this.enqueue({ kind: 'append', entries, last, cap: last });
  }

  private enqueue(op: WriteOp): void {
    this.ops.push(op);
    if (!this.inFlight && !this.writeScheduled && !this.closed) {
      this.writeScheduled = true;
      queueMicrotask(() => {
        this.writeScheduled = false;
        void this.writeLoop();
      });
    }
  }

  private async writeLoop(): Promise<void> {
    while (this.ops.length > 0 && !this.failed) {
      const op = this.ops.shift() as WriteOp;
      this.inFlight = op;
      try {
        switch (op.kind) {
          case 'append': {
            const started = this.metrics.start();
            await this.storage.append(op.entries);
            this.metrics.logSynced(started);
            break;
          }
          case 'truncateSuffix':
            await this.storage.truncateSuffix(op.lastKept);
            break;
          case 'truncatePrefix':
            await this.storage.truncatePrefix(op.firstKept);
            break;
          case 'reset':
            await this.storage.reset(op.nextIndex);
            break;
        }
      } catch (error) {
        this.inFlight = undefined;
        this.fail(toRaftError(error, 'STORAGE'));
        break;
      }
      this.inFlight = undefined;
      if (op.kind === 'append') {
        const reached = Math.min(op.last, op.cap);
        if (reached > this.durable) this.advanceDurable(reached);
      }
    }
    if (!this.inFlight && (this.ops.length === 0 || this.failed)) {
      // Drained: a fresh array, not one with the room a burst of writes left (idle groups).
      if (this.ops.length === 0) this.ops = [];
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of idle) resolve();
    }
  }

  private advanceDurable(index: number): void {
    this.durable = index;
    if (this.waiters.length > 0) {
      const still: DurableWaiter[] = [];
      for (const w of this.waiters) {
        if (w.index <= index) w.resolve();
        else still.push(w);
      }
      this.waiters = still;
    }
    this.onDurable(index);
  }

  private fail(error: RaftError): void {
    if (this.failed) return;
    this.failed = error;
    this.ops.length = 0;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(error);
    this.onStorageError(error);
  }
}
