import { RaftError } from '@kontiki/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WriteDeadlines } from '../src/write-deadline.js';

describe('write deadlines', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a write that does not settle in time fails with TIMEOUT; the ones that settle keep their outcome', async () => {
    vi.useFakeTimers();
    const deadlines = new WriteDeadlines(100);
    let settle: (v: string) => void = () => {};
    const slow = deadlines.race(new Promise<string>(() => {})).catch((e: unknown) => e);
    const fast = deadlines.race(Promise.resolve('applied'));
    const failed = deadlines.race(Promise.reject(new Error('refused'))).catch((e: unknown) => e);
    const late = deadlines.race(
      new Promise<string>((resolve) => {
        settle = resolve;
      }),
    );
    await expect(fast).resolves.toBe('applied');
    expect(await failed).toMatchObject({ message: 'refused' });
    await vi.advanceTimersByTimeAsync(50);
    settle('in time');
    await expect(late).resolves.toBe('in time');
    await vi.advanceTimersByTimeAsync(60);
    const e = await slow;
    expect(RaftError.is(e, 'TIMEOUT')).toBe(true);
    // Nothing waits any more: no timer is left armed.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a thousand writes share one timer', async () => {
    vi.useFakeTimers();
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const deadlines = new WriteDeadlines(1000);
    const writes = Array.from({ length: 1000 }, (_, i) => deadlines.race(Promise.resolve(i)));
    expect(await Promise.all(writes)).toHaveLength(1000);
    expect(timers).toHaveBeenCalledTimes(1);
    timers.mockRestore();
    deadlines.close();
  });
});
