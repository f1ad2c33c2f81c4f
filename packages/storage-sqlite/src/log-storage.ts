import {
  BadRequestError,
  CorruptLogError,
  type LogEntry,
  type LogStorage,
  ShutdownError,
} from '@kontiki/core';
import { entryChecksum, groupChecksum } from './checksum.js';
import { entryProblem } from './log-verifier.js';
import type { GroupState, StoreContext } from './store-context.js';

interface Range {
  readonly first: number;
  readonly last: number;
}

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
 * commit and resolve once durable (as the store's `synchronous` option defines it);
 * reads see what is committed. `close()` detaches this object; the file stays open until
 * `store.close()`.
 */
export class SqliteLogStorage implements LogStorage {
  private closed = false;
  /** The range as the writes already run in the current transaction left it. */
  private draft: (Range & { batch: number }) | undefined;

  /** @internal Use `store.logStorage(groupId)`. */
  constructor(
    private readonly store: StoreContext,
    private readonly group: GroupState,
    private readonly onClose: () => void,
  ) {}

  get groupId(): string {
    return this.group.name;
  }

  async firstIndex(): Promise<number> {
    this.check();
    return this.group.log.first;
  }

  async lastIndex(): Promise<number> {
    this.check();
    return this.group.log.last;
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
    const { first, last } = this.group.log;
    const lo = Math.max(from, first);
    const hi = Math.min(to, last + 1);
    const out: LogEntry[] = [];
    if (lo >= hi) return out;
    let bytes = 0;
    let expected = lo;
    for (const row of this.store.statements.readEntries.iterate(
      this.group.gid,
      lo,
      hi,
    ) as IterableIterator<unknown[]>) {
      const problem = entryProblem(row, expected);
      if (problem !== undefined) {
        throw new CorruptLogError(`log of group ${JSON.stringify(this.group.name)}: ${problem}`, {
          groupId: this.group.name,
          index: expected,
        });
      }
      const data = row[3] as Uint8Array;
      bytes += data.byteLength;
      // maxBytes bounds the batch, but a batch always holds at least one entry.
      if (out.length > 0 && bytes > maxBytes) break;
      out.push({ index: expected, term: row[1] as number, type: row[2] as LogEntry['type'], data });
      expected++;
    }
    if (out.length === 0) {
      throw new CorruptLogError(
        `log of group ${JSON.stringify(this.group.name)}: entry ${lo} is missing`,
        { groupId: this.group.name, index: lo },
      );
    }
    return out;
  }

  async term(index: number): Promise<number | undefined> {
    this.check();
    const { first, last } = this.group.log;
    if (!Number.isSafeInteger(index) || index < first || index > last) return undefined;
    const term: unknown = this.store.statements.readTerm.get(this.group.gid, index);
    if (typeof term !== 'number') {
      throw new CorruptLogError(
        `log of group ${JSON.stringify(this.group.name)}: entry ${index} is missing`,
        { groupId: this.group.name, index },
      );
    }
    return term;
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
    const firstNew = (entries[0] as LogEntry).index;
    const lastNew = firstNew + entries.length - 1;
    const { insertEntry } = this.store.statements;
    const gid = this.group.gid;
    let next: Range | undefined;
    await this.store.committer.submit({
      write: () => {
        const base = this.base();
        if (firstNew !== base.last + 1) {
          throw new BadRequestError(
            `append out of order: got index ${firstNew}, expected ${base.last + 1}`,
          );
        }
        for (const e of entries) {
          // The checksum is taken from the very bytes handed to SQLite, in the same turn.
          insertEntry.run(
            gid,
            e.index,
            e.term,
            e.type,
            e.data,
            entryChecksum(e.index, e.term, e.type, e.data),
          );
        }
        next = this.setDraft({ first: base.first, last: lastNew });
      },
      committed: () => this.publish(next),
    });
  }

  async truncateSuffix(lastKept: number): Promise<void> {
    this.check();
    if (!Number.isSafeInteger(lastKept) || lastKept < 0) {
      throw new BadRequestError(`truncateSuffix(${lastKept}): must be a non-negative integer`);
    }
    let next: Range | undefined;
    await this.store.committer.submit({
      write: () => {
        const base = this.base();
        if (lastKept >= base.last) return;
        this.store.statements.deleteEntriesFrom.run(this.group.gid, lastKept + 1);
        // Truncating below the first index empties the log but does not move its start.
        next = this.setDraft({ first: base.first, last: Math.max(lastKept, base.first - 1) });
      },
      committed: () => this.publish(next),
    });
  }

  async truncatePrefix(firstKept: number): Promise<void> {
    this.check();
    if (!Number.isSafeInteger(firstKept) || firstKept < 1) {
      throw new BadRequestError(`truncatePrefix(${firstKept}): must be a positive integer`);
    }
    let next: Range | undefined;
    await this.store.committer.submit({
      write: () => {
        const base = this.base();
        if (firstKept <= base.first) return;
        this.store.statements.deleteEntriesBefore.run(this.group.gid, firstKept);
        this.writeFirstIndex(firstKept);
        next = this.setDraft({ first: firstKept, last: Math.max(base.last, firstKept - 1) });
      },
      committed: () => this.publish(next),
    });
  }

  async reset(nextIndex: number): Promise<void> {
    this.check();
    if (!Number.isSafeInteger(nextIndex) || nextIndex < 1) {
      throw new BadRequestError(`reset to ${nextIndex}: the next index must be a positive integer`);
    }
    let next: Range | undefined;
    await this.store.committer.submit({
      write: () => {
        this.store.statements.deleteAllEntries.run(this.group.gid);
        this.writeFirstIndex(nextIndex);
        next = this.setDraft({ first: nextIndex, last: nextIndex - 1 });
      },
      committed: () => this.publish(next),
    });
  }

  /** Detaches this object from the group; queued writes still complete. */
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
    if (this.closed) throw new ShutdownError('log storage is closed');
    this.store.checkOpen();
  }

  /** The range that the next write in this transaction starts from. */
  private base(): Range {
    const d = this.draft;
    return d !== undefined && d.batch === this.store.committer.batch ? d : this.group.log;
  }

  private setDraft(range: Range): Range {
    this.draft = { ...range, batch: this.store.committer.batch };
    return range;
  }

  private publish(range: Range | undefined): void {
    if (range !== undefined) this.group.log = { first: range.first, last: range.last };
  }

  private writeFirstIndex(first: number): void {
    this.store.statements.setFirstIndex.run(
      first,
      groupChecksum(this.group.name, first),
      this.group.gid,
    );
  }
}
