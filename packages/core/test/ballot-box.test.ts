import { describe, expect, it } from 'vitest';
import type { Configuration } from '../src/index.js';
import { BallotBox } from '../src/internal.js';

function box(conf: Configuration, match: Record<string, number>) {
  return new BallotBox({
    latestConfiguration: () => conf,
    matchIndexOf: (p) => match[p] ?? 0,
  });
}

describe('BallotBox (Raft paper 5.3, 5.4.2)', () => {
  it('a leader commits what a majority holds, from its first entry of the term on', () => {
    const match = { a: 7, b: 5, c: 2 };
    const b = box({ voters: ['a', 'b', 'c'] }, match);
    b.resetPendingIndex(4);
    expect(b.recount()).toBe(5);
    expect(b.commitIndex).toBe(5);
    // Nothing new: no move, and undefined says so.
    expect(b.recount()).toBeUndefined();
  });

  it('never commits an entry of an earlier term by counting replicas (Figure 8)', () => {
    const match = { a: 3, b: 3, c: 1 };
    const b = box({ voters: ['a', 'b', 'c'] }, match);
    // This leader's first entry of its term is at 4: index 3, held by a majority, is of an
    // earlier term and must wait until 4 commits.
    b.resetPendingIndex(4);
    expect(b.recount()).toBeUndefined();
    expect(b.commitIndex).toBe(0);
    match.b = 4;
    match.a = 4;
    expect(b.recount()).toBe(4);
  });

  it('in a joint configuration both the old and the new voters must hold an entry', () => {
    const match = { a: 9, b: 9, c: 1, d: 1, e: 1 };
    const b = box({ voters: ['a', 'd', 'e'], oldVoters: ['a', 'b', 'c'] }, match);
    b.resetPendingIndex(1);
    // The old majority (a, b) holds 9, the new one (a, d, e) only 1.
    expect(b.recount()).toBe(1);
    match.d = 9;
    expect(b.recount()).toBe(9);
  });

  it('a node that stopped leading counts nothing; the commit index never moves back', () => {
    const b = box({ voters: ['a'] }, { a: 5 });
    expect(b.recount()).toBeUndefined();
    expect(b.advanceTo(6)).toBe(true);
    expect(b.advanceTo(3)).toBe(false);
    expect(b.commitIndex).toBe(6);
    b.resetPendingIndex(7);
    b.clearPendingIndex();
    expect(b.recount()).toBeUndefined();
  });
});
