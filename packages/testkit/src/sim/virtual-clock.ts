import type { Clock, TimerHandle } from '@kontiki/core';

interface SimEvent {
  readonly at: number;
  readonly seq: number;
  readonly label: string;
  readonly run: () => void;
  cancelled: boolean;
}

/**
 * Virtual time for the simulator: a queue of events ordered by (time, insertion order).
 * Nothing happens unless the simulator takes the next event, so a run is a pure function
 * of its seed.
 */
export class VirtualTime {
  private heap: SimEvent[] = [];
  private seq = 0;
  private nowMs = 0;

  get now(): number {
    return this.nowMs;
  }

  get pending(): number {
    return this.heap.length;
  }

  /** Schedules `run` at `delayMs` from now (>= 0). */
  schedule(delayMs: number, run: () => void, label = 'event'): SimEvent {
    const ev: SimEvent = {
      at: this.nowMs + Math.max(0, delayMs),
      seq: this.seq++,
      label,
      run,
      cancelled: false,
    };
    this.push(ev);
    return ev;
  }

  cancel(ev: SimEvent): void {
    ev.cancelled = true;
  }

  /** Time of the next live event, or undefined when none is left. */
  peekTime(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Advances to the next live event and runs it; returns its label, or undefined if none. */
  step(): string | undefined {
    this.dropCancelled();
    const ev = this.pop();
    if (!ev) return undefined;
    if (ev.at > this.nowMs) this.nowMs = ev.at;
    // A fired event is no longer pending: cancelling it later must change nothing.
    ev.cancelled = true;
    ev.run();
    return ev.label;
  }

  /** Lets time pass up to `t` (no event may be due before it). */
  advanceTo(t: number): void {
    const next = this.peekTime();
    if (next !== undefined && next < t) throw new Error(`cannot skip the event due at ${next}`);
    if (t > this.nowMs) this.nowMs = t;
  }

  /** A Clock view for one node: its own rate (clock drift) and a kill switch (crash). */
  view(options: { rate?: number; offsetMs?: number } = {}): NodeClock {
    return new NodeClock(this, options.rate ?? 1, options.offsetMs ?? 0);
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]?.cancelled) this.pop();
  }

  private push(ev: SimEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(ev, h[p] as SimEvent)) break;
      h[i] = h[p] as SimEvent;
      i = p;
    }
    h[i] = ev;
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let mv = last;
        if (l < n && before(h[l] as SimEvent, mv)) {
          m = l;
          mv = h[l] as SimEvent;
        }
        if (r < n && before(h[r] as SimEvent, mv)) {
          m = r;
        }
        if (m === i) break;
        h[i] = h[m] as SimEvent;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * One node's clock in the simulation. `rate` models drift (1.001 runs 0.1% fast); timers
 * are scheduled in global time accordingly. `kill()` silences every timer of a crashed node.
 */
export class NodeClock implements Clock {
  private alive = true;
  private readonly startGlobal: number;

  constructor(
    private readonly time: VirtualTime,
    private rate: number,
    private readonly offsetMs: number,
  ) {
    this.startGlobal = time.now;
    this.base = offsetMs;
  }

  private base: number;
  private baseGlobal = 0;

  now(): number {
    return this.base + (this.time.now - this.baseGlobal - this.startGlobal) * this.rate;
  }

  /** Changes the drift rate from now on (the clock stays continuous). */
  setRate(rate: number): void {
    this.base = this.now();
    this.baseGlobal = this.time.now - this.startGlobal;
    this.rate = rate;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    this.armed++;
    return this.time.schedule(
      Math.max(0, delayMs) / this.rate,
      () => {
        this.armed--;
        if (this.alive) callback();
      },
      'timer',
    );
  }

  clearTimer(handle: TimerHandle): void {
    const ev = handle as { cancelled: boolean };
    if (!ev.cancelled) {
      ev.cancelled = true;
      this.armed--;
    }
  }

  /** Timers armed on this clock and not yet fired or cleared. */
  get activeTimers(): number {
    return this.armed;
  }

  private armed = 0;

  kill(): void {
    this.alive = false;
  }

  get offset(): number {
    return this.offsetMs;
  }
}
