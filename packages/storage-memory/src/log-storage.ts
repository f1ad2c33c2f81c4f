import { BadRequestError, type LogEntry, type LogStorage, ShutdownError } from '@kontiki/core';

/**
 * A Raft log in memory. "Durable" means "in this object": it survives a node's restart
 * inside one process (the simulator relies on that), not the process's death.
 */
export class MemoryLogStorage implements LogStorage {
  private log: LogEntry[] = [];
  /** Index of log[0]. */
  private first = 1;
  private closed = false;

  async firstIndex(): Promise<number> {
    return this.first;
  }

  async lastIndex(): Promise<number> {
    return this.first + this.log.length - 1;
  }

  async entries(
    from: number,
    to: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<LogEntry[]> {
    this.check();
    const start = Math.max(from, this.first) - this.first;
    const end = Math.min(to - this.first, this.log.length);
    const out: LogEntry[] = [];
    let bytes = 0;
    for (let i = start; i < end; i++) {
      const e = this.log[i] as LogEntry;
      bytes += e.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  async term(index: number): Promise<number | undefined> {
    return this.log[index - this.first]?.term;
  }

  async append(entries: readonly LogEntry[]): Promise<void> {
    this.check();
    let expected = this.first + this.log.length;
    for (const e of entries) {
      if (e.index !== expected) {
        throw new BadRequestError(
          `append out of order: got index ${e.index}, expected ${expected}`,
        );
      }
      expected++;
    }
    for (const e of entries) this.log.push(e);
  }

  async truncateSuffix(lastKept: number): Promise<void> {
    this.check();
    const keep = Math.max(0, lastKept - this.first + 1);
    if (keep < this.log.length) this.log.length = keep;
  }

  async truncatePrefix(firstKept: number): Promise<void> {
    this.check();
    if (firstKept <= this.first) return;
    const drop = firstKept - this.first;
    this.log = drop >= this.log.length ? [] : this.log.slice(drop);
    this.first = firstKept;
  }

  async reset(nextIndex: number): Promise<void> {
    this.check();
    if (!Number.isSafeInteger(nextIndex) || nextIndex < 1) {
      throw new BadRequestError(`reset to ${nextIndex}: the next index must be a positive integer`);
    }
    this.log = [];
    this.first = nextIndex;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Opens the store again after `close` (the data is still here). */
  reopen(): void {
    this.closed = false;
  }

  private check(): void {
    if (this.closed) throw new ShutdownError('log storage is closed');
  }
}
