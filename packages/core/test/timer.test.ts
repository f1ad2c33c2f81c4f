import { describe, expect, it } from 'vitest';
import { RaftTimer } from '../src/timer.js';
import { ManualClock } from './fakes.js';

describe('RaftTimer', () => {
  it('fires once after its delay; re-arming replaces the earlier deadline; stop disarms', () => {
    const clock = new ManualClock();
    let fired = 0;
    const t = new RaftTimer(clock, () => fired++);
    t.start(100);
    clock.advance(50);
    t.start(100);
    clock.advance(60);
    expect(fired).toBe(0);
    clock.advance(40);
    expect(fired).toBe(1);
    expect(t.armed).toBe(false);
    t.start(10);
    t.stop();
    clock.advance(100);
    expect(fired).toBe(1);
    expect(clock.armed).toBe(0);
  });
});
