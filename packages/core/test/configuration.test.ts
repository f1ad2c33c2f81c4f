import { describe, expect, it } from 'vitest';
import { BadRequestError, validateConfiguration } from '../src/index.js';
import {
  Ballot,
  ConfigurationManager,
  decodeConfiguration,
  encodeConfiguration,
  hasQuorum,
  quorumMatchIndex,
} from '../src/internal.js';

describe('quorums (Raft paper 5.3 and section 6)', () => {
  const match: Record<string, number> = { a: 10, b: 7, c: 5, d: 3, e: 1 };
  const m = (p: string) => match[p] ?? 0;

  it('the commit point is what a majority holds', () => {
    expect(quorumMatchIndex({ voters: ['a', 'b', 'c'] }, m)).toBe(7);
    expect(quorumMatchIndex({ voters: ['a', 'b', 'c', 'd', 'e'] }, m)).toBe(5);
    expect(quorumMatchIndex({ voters: ['a', 'b', 'c', 'd'] }, m)).toBe(5);
    expect(quorumMatchIndex({ voters: ['a'] }, m)).toBe(10);
  });

  it('the commit point is the majority-th highest match index, for any voters and indexes', () => {
    // Against the definition written out: sort descending, take the majority-th.
    const reference = (voters: string[], of: (p: string) => number) =>
      voters.length === 0
        ? Number.POSITIVE_INFINITY
        : (voters.map(of).sort((x, y) => y - x)[Math.floor(voters.length / 2)] as number);
    let seed = 12345;
    const next = (k: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % k;
    };
    for (let round = 0; round < 3000; round++) {
      const n = 1 + next(7);
      const oldN = next(3) === 0 ? 1 + next(7) : 0;
      const values = new Map<string, number>();
      const ids = (count: number, prefix: string) =>
        Array.from({ length: count }, (_, i) => `${prefix}${i}`);
      const voters = ids(n, next(2) === 0 ? 'p' : 'q');
      const oldVoters = ids(oldN, 'p');
      // Mostly small ranges, so that ties are common.
      const range = next(4) === 0 ? 1_000_000 : 1 + next(6);
      for (const p of [...voters, ...oldVoters]) values.set(p, next(range));
      const of = (p: string) => values.get(p) ?? 0;
      const conf = oldN > 0 ? { voters, oldVoters } : { voters };
      const expected =
        oldN > 0
          ? Math.min(reference(voters, of), reference(oldVoters, of))
          : reference(voters, of);
      expect(quorumMatchIndex(conf, of)).toBe(expected);
    }
  });

  it('a joint configuration needs a majority of both the old and the new voters', () => {
    const joint = { voters: ['a', 'b', 'c'], oldVoters: ['c', 'd', 'e'] };
    expect(quorumMatchIndex(joint, m)).toBe(3);
    expect(hasQuorum(joint, (p) => ['a', 'b'].includes(p))).toBe(false);
    expect(hasQuorum(joint, (p) => ['a', 'b', 'd', 'e'].includes(p))).toBe(true);
  });

  it('learners never count', () => {
    const conf = { voters: ['a', 'b', 'c'], learners: ['x', 'y', 'z'] };
    expect(hasQuorum(conf, (p) => ['a', 'x', 'y', 'z'].includes(p))).toBe(false);
    const ballot = new Ballot(conf);
    ballot.grant('x');
    ballot.grant('y');
    ballot.grant('a');
    expect(ballot.isGranted()).toBe(false);
    ballot.grant('b');
    expect(ballot.isGranted()).toBe(true);
  });

  it('a ballot counts each voter once', () => {
    const ballot = new Ballot({ voters: ['a', 'b', 'c', 'd', 'e'] });
    ballot.grant('a');
    ballot.grant('a');
    ballot.grant('b');
    expect(ballot.isGranted()).toBe(false);
    ballot.grant('c');
    expect(ballot.isGranted()).toBe(true);
  });
});

describe('configuration entries', () => {
  it('round-trip through their encoding', () => {
    const conf = { voters: ['a', 'b'], oldVoters: ['a', 'c'], learners: ['l'] };
    expect(decodeConfiguration(encodeConfiguration(conf))).toEqual(conf);
    expect(decodeConfiguration(encodeConfiguration({ voters: ['x'] }))).toEqual({ voters: ['x'] });
  });

  it('garbage is a typed BAD_REQUEST, not a crash', () => {
    for (const bad of ['{', '[]', '{"v":[1]}', '{"v":[]}', '{"v":["a","a"]}']) {
      expect(() => decodeConfiguration(new TextEncoder().encode(bad))).toThrow(BadRequestError);
    }
    expect(() => validateConfiguration({ voters: ['a'], learners: ['a'] })).toThrow(
      BadRequestError,
    );
    expect(() => validateConfiguration({} as never)).toThrow(BadRequestError);
  });

  it('the manager rolls back to the previous configuration when its entry is truncated', () => {
    const mgr = new ConfigurationManager({ index: 0, term: 0, configuration: { voters: ['a'] } });
    mgr.add({ index: 3, term: 1, configuration: { voters: ['a', 'b'] } });
    mgr.add({ index: 8, term: 2, configuration: { voters: ['a', 'b', 'c'] } });
    expect(mgr.latest().index).toBe(8);
    expect(mgr.at(5).index).toBe(3);
    mgr.truncateSuffix(7);
    expect(mgr.latest().configuration.voters).toEqual(['a', 'b']);
    mgr.truncateSuffix(0);
    expect(mgr.latest().configuration.voters).toEqual(['a']);
  });
});

describe('joint configurations that demote a voter', () => {
  it('accept the demoted voter as a learner of the new half (found by the simulator, seed 13)', () => {
    const joint = { voters: ['a', 'b', 'c'], oldVoters: ['a', 'b', 'c', 'd'], learners: ['d'] };
    expect(() => validateConfiguration(joint)).not.toThrow();
    expect(decodeConfiguration(encodeConfiguration(joint))).toEqual(joint);
    expect(() => validateConfiguration({ voters: ['a', 'd'], learners: ['d'] })).toThrow(
      BadRequestError,
    );
  });
});
