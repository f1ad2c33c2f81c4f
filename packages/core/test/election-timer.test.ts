import { describe, expect, it } from 'vitest';
import { ElectionTimer } from '../src/election-timer.js';
import { ManualClock } from './fakes.js';

const T = 1000;

function timer(jitter: number, draws: number[]) {
  const clock = new ManualClock();
  let fired = 0;
  let next = 0;
  const t = new ElectionTimer(
    {
      clock,
      random: () => draws[next++ % draws.length] ?? 0,
      electionTimeoutMs: T,
      electionJitter: jitter,
      rpcTimeoutMs: T / 2,
      heartbeatIntervalMs: T / 10,
    },
    () => fired++,
  );
  return { clock, t, fired: () => fired };
}

describe('ElectionTimer', () => {
  it('fires T plus a random part of electionJitter·T after the moment it is armed from', () => {
    // The largest draw just below 1: the timer fires just before T + jitter·T, never after.
    const { clock, t, fired } = timer(0.3, [0.999]);
    t.arm();
    expect(t.dueAt).toBeCloseTo(T + 0.999 * 0.3 * T, 6);
    clock.advance(T + 0.29 * T);
    expect(fired()).toBe(0);
    clock.advance(0.01 * T);
    expect(fired()).toBe(1);
  });

  it("counts from the leader's last contact when re-armed from it, at least 1 ms from now", () => {
    const { clock, t, fired } = timer(1, [0.5]);
    clock.advance(1_400);
    t.arm(200);
    // 200 + T + 0.5·T = 1700: 300 ms from now.
    expect(t.dueAt).toBe(1_700);
    t.arm(-5_000);
    expect(t.dueAt).toBe(1_401);
    clock.advance(1);
    expect(fired()).toBe(1);
  });

  describe('standing aside after a won pre-vote', () => {
    it('a node that granted a pre-vote to a smaller id within rpcTimeoutMs stands aside, once per term, and fires again rpcTimeoutMs later', () => {
      const { clock, t, fired } = timer(1, [0]);
      t.arm();
      clock.advance(T);
      expect(fired()).toBe(1);
      t.preVoteGranted('n1');
      clock.advance(T / 2 - 1);
      expect(t.standAside('n2', 7)).toBe(true);
      expect(t.dueAt).toBe(clock.now() + T / 2);
      // Once in term 7: the next won pre-vote of the same term stands.
      expect(t.standAside('n2', 7)).toBe(false);
      clock.advance(T / 2);
      expect(fired()).toBe(2);
    });

    it('does not stand aside for a greater id, for a grant older than rpcTimeoutMs, or without a grant', () => {
      const { clock, t } = timer(1, [0]);
      expect(t.standAside('n2', 1)).toBe(false);
      t.preVoteGranted('n3');
      expect(t.standAside('n2', 1)).toBe(false);
      t.preVoteGranted('n1');
      clock.advance(T / 2);
      expect(t.standAside('n2', 1)).toBe(false);
      // A fresh grant in a later term: it stands aside again.
      t.preVoteGranted('n1');
      expect(t.standAside('n2', 2)).toBe(true);
    });
  });
});
