import { BadRequestError, type LogEntry, type LogStorage, ShutdownError } from '@kontiki/core';
import { listBatch, packEntries, toEntries } from './entry-batch.js';
import type { LogRange } from './ops.js';
import type { GroupMirror, StoreContext } from './store-context.js';

function isIndex(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

function checkEntry(e: unknown, position: number): asserts e is LogEntry {
  if (typeof e !== 'object' || e === null) {
    throw new BadRequestError(`entry ${position} of the batch is not an object`);
  }
  const entry = e as Partial<LogEntry>;
  if (!isIndex(entry.index, 1)) {
    throw new BadRequestError(`entry ${position} of the batch has no valid index`);
  }
  if (!isIndex(entry.term, 0)) {
    throw new BadRequestError(`entry ${entry.index} has no valid term`);
  }
  if (typeof entry.type !== 'number' || !Number.isInteger(entry.type)) {
    throw new BadRequestError(`entry ${entry.index} has no valid type`);
  }
  if (entry.type < 0 || entry.type > 255) {
    throw new BadRequestError(`entry ${entry.index} has type ${entry.type}, outside 0..255`);
  }
  if (!(entry.data instanceof Uint8Array)) {
    throw new BadRequestError(`entry ${entry.index} has data that is not a Uint8Array`);
  }
}

/**
 * The log of one group in a {@link SqliteStore}. Writes go through the store's group
 * commit and resolve once durable (as the store's `synchronous` option defines it); every
 * read sees the writes issued before it. `close()` detaches this object; the file stays
 * open until `store.close()`.
 */
export class SqliteLogStorage implements LogStorage {
  private closed = false;

  /** @internal Use `store.logStorage(groupId)`. */
  constructor(
    private readonly store: StoreContext,
    private readonly group: GroupMirror,
  ) {}

  get groupId(): string {
    return this.group.name;
  }

  async firstIndex(): Promise<number> {
    this.check();
    return (await this.range()).first;
  }

  async lastIndex(): Promise<number> {
    this.check();
    return (await this.range()).last;
  }

  async entries(
    from: number,
    to: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<LogEntry[]> {
    this.check();
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) {
      throw new BadRequestError(`entries(${from}, ${to}): bounds must be integers`);
    }
    if (typeof maxBytes !== 'number' || Number.isNaN(maxBytes)) {
      throw new BadRequestError('entries: maxBytes must be a number');
    }
    if (this.group.pendingWrites === 0) {
      const { first, last } = this.group.log;
      if (Math.max(from, first) >= Math.min(to, last + 1)) return [];
    }
    const batch = await this.store.queue.submit({
      kind: 'entries',
      group: this.group.name,
      from,
      to,
      maxBytes,
    });
    return toEntries(batch);
  }

  async term(index: number): Promise<number | undefined> {
    this.check();
    if (!Number.isSafeInteger(index)) return undefined;
    if (this.group.pendingWrites === 0) {
      const { first, last } = this.group.log;
      if (index < first || index > last) return undefined;
    }
    return this.store.queue.submit({ kind: 'term', group: this.group.name, index });
  }

  async append(entries: readonly LogEntry[]): Promise<void> {
    this.check();
    if (!Array.isArray(entries)) throw new BadRequestError('append takes an array of entries');
    if (entries.length === 0) return;
    for (let i = 0; i < entries.length; i++) {
      checkEntry(entries[i], i);
      if (i > 0 && (entries[i] as LogEntry).index !== (entries[i - 1] as LogEntry).index + 1) {
        throw new BadRequestError(
          `append out of order: index ${(entries[i] as LogEntry).index} follows ${(entries[i - 1] as LogEntry).index} in one batch`,
        );
      }
    }
    const first = (entries[0] as LogEntry).index;
    // Packed now, so the bytes written are the ones the caller handed over in this call.
    const batch = this.store.crossesThreads
      ? packEntries(first, entries.length, (i) => entries[i] as LogEntry)
      : listBatch(entries);
    await this.store.write(
      this.group,
      { kind: 'append', group: this.group.name, entries: batch },
      (range) => this.publish(range),
    );
  }

  async truncateSuffix(lastKept: number): Promise<void> {
    this.check();
    if (!Number.isSafeInteger(lastKept) || lastKept < 0) {
      throw new BadRequestError(`truncateSuffix(${lastKept}): must be a non-negative integer`);
    }
    await this.store.write(
      this.group,
      { kind: 'truncateSuffix', group: this.group.name, lastKept },
      (range) => this.publish(range),
    );
  }

  async truncatePrefix(firstKept: number): Promise<void> {
    this.check();
    if (!Number.isSafeInteger(firstKept) || firstKept < 1) {
      throw new BadRequestError(`truncatePrefix(${firstKept}): must be a positive integer`);
    }
    await this.store.write(
      this.group,
      { kind: 'truncatePrefix', group: this.group.name, firstKept },
      (range) => this.publish(range),
    );
  }

  async reset(nextIndex: number): Promise<void> {
    this.check();
    if (!Number.isSafeInteger(nextIndex) || nextIndex < 1) {
      throw new BadRequestError(`reset to ${nextIndex}: the next index must be a positive integer`);
    }
    await this.store.write(
      this.group,
      { kind: 'reset', group: this.group.name, nextIndex },
      (range) => this.publish(range),
    );
  }

  /** Detaches this object from the group; queued writes still complete. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The store hands out a new object for the group from now on.
    if (this.group.views?.log === this) this.group.views.log = undefined;
  }

  /** @internal The store closed. */
  detach(): void {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new ShutdownError('log storage is closed');
    this.store.checkOpen();
  }

  /** The range after every write issued so far. */
  private range(): LogRange | Promise<LogRange> {
    // Nothing of this group in flight: the mirror is what the engine would answer.
    if (this.group.pendingWrites === 0) return this.group.log;
    return this.store.queue.submit({ kind: 'range', group: this.group.name });
  }

  private publish(range: LogRange): void {
    this.group.log = { first: range.first, last: range.last };
  }
}
