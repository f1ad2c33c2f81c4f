import type { Clock, LogEntry, LogStorage, TimerHandle } from '../src/index.js';

/** A clock whose time moves only when told to; timers fire in due order. */
export class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, delayMs: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + delayMs, fn });
    return id;
  }
  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }
  get armed(): number {
    return this.timers.size;
  }
  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
  }
}

/** A LogStorage whose writes complete only when the test says so. */
export class GatedLogStorage implements LogStorage {
  readonly log: LogEntry[] = [];
  readonly calls: string[] = [];
  private gate: Array<() => void> = [];
  private first = 1;

  async firstIndex() {
    return this.first;
  }
  async lastIndex() {
    return this.first + this.log.length - 1;
  }
  async entries(from: number, to: number) {
    return this.log.filter((e) => e.index >= from && e.index < to);
  }
  async term(i: number) {
    return this.log.find((e) => e.index === i)?.term;
  }
  append(entries: readonly LogEntry[]) {
    this.calls.push(`append ${entries[0]?.index}..${entries[entries.length - 1]?.index}`);
    return this.wait(() => {
      this.log.push(...entries);
    });
  }
  truncateSuffix(lastKept: number) {
    this.calls.push(`truncateSuffix ${lastKept}`);
    return this.wait(() => {
      this.log.splice(Math.max(0, lastKept - this.first + 1));
    });
  }
  truncatePrefix(firstKept: number) {
    this.calls.push(`truncatePrefix ${firstKept}`);
    return this.wait(() => {});
  }
  reset(next: number) {
    this.calls.push(`reset ${next}`);
    return this.wait(() => {
      this.log.length = 0;
      this.first = next;
    });
  }
  async close() {}

  /** Completes the oldest pending write. */
  release(): boolean {
    const next = this.gate.shift();
    next?.();
    return next !== undefined;
  }
  get pending(): number {
    return this.gate.length;
  }
  private wait(effect: () => void): Promise<void> {
    return new Promise((resolve) =>
      this.gate.push(() => {
        effect();
        resolve();
      }),
    );
  }
}

export const flush = () => new Promise<void>((r) => setImmediate(r));

export function entry(index: number, term: number, data = `${index}`): LogEntry {
  return { index, term, type: 1, data: new TextEncoder().encode(data) };
}
