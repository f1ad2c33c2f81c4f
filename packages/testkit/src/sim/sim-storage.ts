import type { LogEntry, LogStorage, MetaStorage, RaftMeta } from '@kontiki/core';
import {
  MemoryLogStorage,
  MemoryMetaStorage,
  MemorySnapshotStorage,
} from '@kontiki/storage-memory';
import type { Rng } from './rng.js';
import type { VirtualTime } from './virtual-clock.js';

/** What a node keeps across crashes: its log and its term/vote, "on disk". */
export class SimDisk {
  readonly log = new MemoryLogStorage();
  readonly meta = new MemoryMetaStorage();
  /** Snapshots publish atomically: a crash before commit loses the writer, nothing else. */
  readonly snapshots = new MemorySnapshotStorage();
}

/** Observes every write that reaches a disk (the invariant checker's hook). */
export interface DiskObserver {
  onAppend(
    node: string,
    group: string,
    entries: readonly LogEntry[],
    prevTerm: number | undefined,
  ): void;
}

/**
 * A disk with write latency and crash semantics: a write reaches the disk (and its promise
 * resolves) after a random delay; writes are applied in the order issued; on `crash()` every
 * write not yet applied is lost and its promise never settles, like a process killed mid-fsync.
 */
class DiskQueue {
  private tail = 0;
  private alive = true;

  constructor(
    private readonly time: VirtualTime,
    private readonly rng: Rng,
    private readonly maxLatencyMs: number,
  ) {}

  write<T>(op: () => Promise<T>): Promise<T> {
    // Sometimes the disk is idle and fast: the write completes within the same turn, as a
    // synchronous storage behind an async interface would.
    if (this.tail <= this.time.now && this.rng.next() < 0.25) {
      return op();
    }
    return new Promise<T>((resolve, reject) => {
      const at = Math.max(this.time.now + this.rng.next() * this.maxLatencyMs, this.tail);
      this.tail = at;
      this.time.schedule(
        at - this.time.now,
        () => {
          if (!this.alive) return;
          op().then(resolve, reject);
        },
        'disk',
      );
    });
  }

  crash(): void {
    this.alive = false;
  }
}

export class SimLogStorage implements LogStorage {
  private readonly queue: DiskQueue;

  constructor(
    private readonly disk: MemoryLogStorage,
    time: VirtualTime,
    rng: Rng,
    maxLatencyMs: number,
    private readonly observe: (entries: readonly LogEntry[], prevTerm: number | undefined) => void,
  ) {
    this.queue = new DiskQueue(time, rng, maxLatencyMs);
  }

  firstIndex(): Promise<number> {
    return this.disk.firstIndex();
  }
  lastIndex(): Promise<number> {
    return this.disk.lastIndex();
  }
  entries(from: number, to: number, maxBytes?: number): Promise<LogEntry[]> {
    return this.disk.entries(from, to, maxBytes);
  }
  term(index: number): Promise<number | undefined> {
    return this.disk.term(index);
  }
  append(entries: readonly LogEntry[]): Promise<void> {
    const copy = entries.slice();
    return this.queue.write(async () => {
      const first = copy[0];
      // Unknown after a reset or compaction: the entry before is inside a snapshot.
      const prevTerm = first
        ? first.index === 1
          ? 0
          : await this.disk.term(first.index - 1)
        : undefined;
      await this.disk.append(copy);
      this.observe(copy, prevTerm);
    });
  }
  truncateSuffix(lastKept: number): Promise<void> {
    return this.queue.write(() => this.disk.truncateSuffix(lastKept));
  }
  truncatePrefix(firstKept: number): Promise<void> {
    return this.queue.write(() => this.disk.truncatePrefix(firstKept));
  }
  reset(nextIndex: number): Promise<void> {
    return this.queue.write(() => this.disk.reset(nextIndex));
  }
  async close(): Promise<void> {}

  crash(): void {
    this.queue.crash();
  }
}

export class SimMetaStorage implements MetaStorage {
  private readonly queue: DiskQueue;

  constructor(
    private readonly disk: MemoryMetaStorage,
    time: VirtualTime,
    rng: Rng,
    maxLatencyMs: number,
  ) {
    this.queue = new DiskQueue(time, rng, maxLatencyMs);
  }

  load(): Promise<RaftMeta> {
    return this.disk.load();
  }
  save(meta: RaftMeta): Promise<void> {
    const copy = { term: meta.term, votedFor: meta.votedFor };
    return this.queue.write(() => this.disk.save(copy));
  }
  async close(): Promise<void> {}

  crash(): void {
    this.queue.crash();
  }
}
