import type { Clock, TimerHandle } from './clock.js';

interface Entry {
  readonly tick: number;
  readonly callback: () => void;
}

/**
 * Many timers on one (braft's TimerThread): a Clock whose timers are kept in buckets of
 * `resolutionMs` and share a single timer of the clock underneath, armed for the earliest
 * bucket. Every timer of a bucket fires in the same turn. Thousands of Raft groups on one
 * endpoint arm and re-arm election, heartbeat and stepdown timers all the time; here that is a
 * map insertion, not a host timer each.
 *
 * A timer never fires early; it may fire up to `resolutionMs` late (plus whatever the clock
 * underneath adds), which Raft's timers tolerate: they are bounds on silence, not deadlines.
 */
export class TimerScheduler implements Clock {
  private readonly buckets = new Map<number, Set<Entry>>();
  /** Ticks that have a bucket, as a binary min-heap. */
  private readonly heap: number[] = [];
  private armedTick = Number.POSITIVE_INFINITY;
  private armedHandle: TimerHandle | undefined;
  private count = 0;

  constructor(
    private readonly base: Clock,
    readonly resolutionMs = 5,
  ) {
    if (!(resolutionMs > 0)) throw new RangeError('resolutionMs must be above 0');
  }

  now(): number {
    return this.base.now();
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const due = this.base.now() + Math.max(0, delayMs);
    // The first tick at or after `due`: a timer fires no earlier than asked.
    const tick = Math.ceil(due / this.resolutionMs);
    const entry: Entry = { tick, callback };
    let bucket = this.buckets.get(tick);
    if (bucket === undefined) {
      bucket = new Set();
      this.buckets.set(tick, bucket);
      this.push(tick);
    }
    bucket.add(entry);
    this.count++;
    if (tick < this.armedTick) this.arm(tick);
    return entry;
  }

  clearTimer(handle: TimerHandle): void {
    const entry = handle as Entry;
    const bucket = this.buckets.get(entry?.tick);
    if (bucket?.delete(entry)) this.count--;
    // An emptied bucket stays in the heap until its tick comes: removing it costs more.
  }

  hold(): () => void {
    return this.base.hold?.() ?? (() => {});
  }

  /** Timers armed now. */
  get size(): number {
    return this.count;
  }

  private arm(tick: number): void {
    if (this.armedHandle !== undefined) this.base.clearTimer(this.armedHandle);
    this.armedTick = tick;
    // At least 1 ms: a clock that drifts (a rate other than 1) may read a hair before the tick
    // when its timer fires; a re-arm for that hair could repeat without time moving on.
    this.armedHandle = this.base.setTimer(
      () => this.fire(),
      Math.max(1, tick * this.resolutionMs - this.base.now()),
    );
  }

  private fire(): void {
    this.armedHandle = undefined;
    this.armedTick = Number.POSITIVE_INFINITY;
    const nowTick = Math.floor(this.base.now() / this.resolutionMs);
    let failure: { error: unknown } | undefined;
    // Buckets whose tick has come, oldest first; timers armed by callbacks for a tick that
    // has already come run in this same pass (bounded: each tick is taken once).
    for (let guard = 0; guard < 1_000_000; guard++) {
      const tick = this.heap[0];
      if (tick === undefined || tick > nowTick) break;
      this.pop();
      const bucket = this.buckets.get(tick);
      if (bucket === undefined) continue;
      this.buckets.delete(tick);
      for (const entry of bucket) {
        this.count--;
        try {
          entry.callback();
        } catch (error) {
          failure ??= { error };
        }
      }
    }
    const next = this.heap[0];
    if (next !== undefined && this.armedHandle === undefined) this.arm(next);
    if (failure) throw failure.error;
  }

  private push(tick: number): void {
    const h = this.heap;
    h.push(tick);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as number) <= tick) break;
      h[i] = h[parent] as number;
      i = parent;
    }
    h[i] = tick;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && (h[r] as number) < (h[l] as number) ? r : l;
      if ((h[c] as number) >= last) break;
      h[i] = h[c] as number;
      i = c;
    }
    h[i] = last;
  }
}
