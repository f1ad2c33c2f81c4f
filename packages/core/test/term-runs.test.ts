import { describe, expect, it } from 'vitest';
import { TermRuns } from '../src/term-runs.js';

describe('TermRuns', () => {
  const runs = () => {
    const r = new TermRuns();
    for (let i = 1; i <= 3; i++) r.push(i, 1);
    for (let i = 4; i <= 6; i++) r.push(i, 3);
    for (let i = 7; i <= 9; i++) r.push(i, 4);
    return r;
  };

  it('answers the term of any index from a few runs', () => {
    const r = runs();
    expect([1, 3, 4, 6, 7, 9].map((i) => r.termAt(i))).toEqual([1, 1, 3, 3, 4, 4]);
    expect(r.termAt(0)).toBeUndefined();
  });

  it('finds the first and last index of a term, for fast back-off', () => {
    const r = runs();
    expect(r.firstIndexOfTerm(3)).toBe(4);
    expect(r.lastIndexOfTerm(3, 9)).toBe(6);
    expect(r.lastIndexOfTerm(4, 9)).toBe(9);
    expect(r.lastIndexOfTerm(2, 9)).toBeUndefined();
    expect(r.firstIndexOfTerm(2)).toBeUndefined();
  });

  it('keeps a log of many term changes in order (past the short lists copied at their size)', () => {
    const r = new TermRuns();
    for (let t = 1; t <= 20; t++) r.push(t * 10, t);
    expect([10, 19, 80, 95, 200, 1000].map((i) => r.termAt(i))).toEqual([1, 1, 8, 9, 20, 20]);
    r.truncateSuffix(95);
    r.push(96, 30);
    expect([95, 96, 500].map((i) => r.termAt(i))).toEqual([9, 30, 30]);
  });

  it('forgets a truncated suffix and a compacted prefix', () => {
    const r = runs();
    r.truncateSuffix(5);
    expect(r.termAt(5)).toBe(3);
    r.push(6, 5);
    expect(r.termAt(6)).toBe(5);
    expect(r.lastIndexOfTerm(4, 6)).toBeUndefined();
    r.truncatePrefix(5);
    expect(r.termAt(5)).toBe(3);
    expect(r.firstIndexOfTerm(1)).toBeUndefined();
  });
});
