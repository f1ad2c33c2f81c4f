/** An opaque handle returned by `Clock.setTimer`. */
export type TimerHandle = unknown;

/**
 * Time, injected. Core never reads the wall clock or arms a timer itself: the simulator
 * passes a virtual clock, which is what makes one seed give one run.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (only differences matter). */
  now(): number;
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
  /**
   * Keeps the process alive until the returned function is called (optional: a virtual
   * clock has no process to keep). A started node holds it unless `keepAlive` is false.
   */
  hold?(): () => void;
}

/**
 * The real clock: `performance.now()` and the host's timers. Timers never keep the process
 * alive (they are unref'd); `hold` does, with one long interval that does nothing.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(callback, delayMs) {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    if (typeof handle === 'object' && handle !== null && 'unref' in handle) handle.unref();
    return handle;
  },
  clearTimer(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
  hold() {
    const handle = setInterval(() => {}, 0x7fffffff);
    return () => clearInterval(handle);
  },
};

/** Randomness, injected: a function returning a float in [0, 1). */
export type RandomSource = () => number;

export const systemRandom: RandomSource = () => Math.random();
