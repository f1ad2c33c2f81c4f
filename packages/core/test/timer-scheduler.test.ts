import { describe, expect, it } from 'vitest';
import { TimerScheduler } from '../src/index.js';
import { ManualClock } from './fakes.js';

describe('TimerScheduler: many timers on one', () => {
  it('a thousand timers cost one timer underneath; none fires early, each fires once', () => {
    const base = new ManualClock();
    const s = new TimerScheduler(base, 5);
    const firedAt: number[] = [];
    const due: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const delay = (i * 7) % 300;
      due.push(delay);
      s.setTimer(() => firedAt.push(base.now() - delay), delay);
    }
    expect(base.armed).toBe(1);
    expect(s.size).toBe(1000);
    base.advance(400);
    expect(firedAt).toHaveLength(1000);
    // Never early, at most one bucket late.
    for (const lateness of firedAt) {
      expect(lateness).toBeGreaterThanOrEqual(0);
      expect(lateness).toBeLessThan(5);
    }
    expect(s.size).toBe(0);
    expect(base.armed).toBe(0);
  });

  it('a cleared timer never fires; the others of its bucket do', () => {
    const base = new ManualClock();
    const s = new TimerScheduler(base, 10);
    const fired: string[] = [];
    const a = s.setTimer(() => fired.push('a'), 20);
    s.setTimer(() => fired.push('b'), 21);
    s.clearTimer(a);
    s.clearTimer(a);
    expect(s.size).toBe(1);
    base.advance(100);
    expect(fired).toEqual(['b']);
  });

  it('a timer armed earlier than the armed one re-arms the timer underneath', () => {
    const base = new ManualClock();
    const s = new TimerScheduler(base, 1);
    const fired: string[] = [];
    s.setTimer(() => fired.push('late'), 500);
    s.setTimer(() => fired.push('early'), 10);
    base.advance(11);
    expect(fired).toEqual(['early']);
    base.advance(500);
    expect(fired).toEqual(['early', 'late']);
  });

  it('a timer armed by a callback for a tick that has come runs in the same pass', () => {
    const base = new ManualClock();
    const s = new TimerScheduler(base, 5);
    const fired: string[] = [];
    s.setTimer(() => {
      fired.push('first');
      s.setTimer(() => fired.push('chained'), 0);
    }, 5);
    base.advance(5);
    expect(fired).toEqual(['first', 'chained']);
  });

  it('a callback that throws does not stop the others; the error surfaces after them', () => {
    const base = new ManualClock();
    const s = new TimerScheduler(base, 5);
    const fired: string[] = [];
    s.setTimer(() => {
      throw new Error('boom');
    }, 5);
    s.setTimer(() => fired.push('after'), 5);
    s.setTimer(() => fired.push('next bucket'), 50);
    expect(() => base.advance(10)).toThrow('boom');
    expect(fired).toEqual(['after']);
    base.advance(100);
    expect(fired).toEqual(['after', 'next bucket']);
  });

  it('a clock that reads a hair early when its timer fires does not make it spin (seed 20043)', () => {
    const manual = new ManualClock();
    // A drifting clock's view, as float rounding makes it: its timers fire a hair before the
    // time they were set for, as it reads that time.
    const drifting = {
      now: () => manual.now(),
      setTimer: (fn: () => void, ms: number) => manual.setTimer(fn, ms - 1e-9),
      clearTimer: (h: unknown) => manual.clearTimer(h),
    };
    const s = new TimerScheduler(drifting, 5);
    let fired = 0;
    s.setTimer(() => fired++, 5);
    manual.advance(20);
    expect(fired).toBe(1);
  });

  it('refuses a resolution that is not above 0', () => {
    expect(() => new TimerScheduler(new ManualClock(), 0)).toThrow(RangeError);
  });
});
