import { describe, expect, it } from 'vitest';
import {
  checkLinearizability,
  HistoryError,
  HistoryRecorder,
  type KvOperation,
} from '../src/index.js';
import {
  cas,
  del,
  notAppliedWrite,
  read,
  unknownCas,
  unknownWrite,
  write,
} from './support/history-builders.js';

const verdictOf = (history: readonly KvOperation[]): string =>
  checkLinearizability(history).verdict;

describe('checkLinearizability: linearizable histories', () => {
  it('accepts the empty history and a sequential one', () => {
    expect(verdictOf([])).toBe('linearizable');
    expect(
      verdictOf([
        read(1, [0, 1], null),
        write(1, [2, 3], 'a'),
        read(2, [4, 5], 'a'),
        write(2, [6, 7], 'b', 'x', 'a'),
        del(1, [8, 9]),
        read(1, [10, 11], null),
      ]),
    ).toBe('linearizable');
  });

  it('orders overlapping operations in whichever order their results need', () => {
    // Two reads inside a write's window, the later-invoked one seeing the older value: the
    // write takes effect between them.
    expect(verdictOf([write(1, [0, 10], 'a'), read(2, [1, 9], 'a'), read(3, [2, 8], null)])).toBe(
      'linearizable',
    );
    // Two concurrent writes; the read after both fixes their order.
    expect(
      verdictOf([write(1, [0, 10], 'a'), write(2, [0, 10], 'b'), read(3, [11, 12], 'a')]),
    ).toBe('linearizable');
    // Operations that touch in time (one returns when the other is invoked) may be reordered.
    expect(verdictOf([write(1, [0, 5], 'a'), read(2, [5, 6], null)])).toBe('linearizable');
  });

  it('accepts an indefinite write that took effect, late or not at all', () => {
    expect(verdictOf([unknownWrite(1, 0, 'a'), read(2, [5, 6], 'a'), read(2, [7, 8], 'a')])).toBe(
      'linearizable',
    );
    expect(verdictOf([unknownWrite(1, 0, 'a'), read(2, [5, 6], null), read(2, [7, 8], null)])).toBe(
      'linearizable',
    );
    // It takes effect long after its client gave up, after a later acknowledged write.
    expect(
      verdictOf([
        unknownWrite(1, 0, 'a'),
        write(2, [1, 2], 'b'),
        read(3, [3, 4], 'b'),
        read(3, [5, 6], 'a'),
      ]),
    ).toBe('linearizable');
  });

  it('accepts compare-and-set histories, sequential, concurrent and indefinite', () => {
    expect(
      verdictOf([
        cas(1, [0, 1], null, 'a', true),
        cas(1, [2, 3], 'a', 'b', true),
        cas(2, [4, 5], 'a', 'c', false),
        read(2, [6, 7], 'b'),
      ]),
    ).toBe('linearizable');
    // Two racing CAS from the same value: one wins, the read sees the winner.
    expect(
      verdictOf([
        write(1, [0, 1], 'a'),
        cas(2, [2, 10], 'a', 'b', false),
        cas(3, [3, 9], 'a', 'c', true),
        read(1, [11, 12], 'c'),
      ]),
    ).toBe('linearizable');
    // An indefinite CAS that happened, and one that did not.
    expect(
      verdictOf([write(1, [0, 1], 'a'), unknownCas(2, 2, 'a', 'b'), read(3, [5, 6], 'b')]),
    ).toBe('linearizable');
    expect(
      verdictOf([write(1, [0, 1], 'a'), unknownCas(2, 2, 'a', 'b'), read(3, [5, 6], 'a')]),
    ).toBe('linearizable');
  });

  it('checks keys independently: each needs its own order only', () => {
    // Across keys these reads would contradict a single register; per key they are fine.
    expect(
      verdictOf([
        write(1, [0, 1], 'a', 'x'),
        write(1, [2, 3], 'a', 'y'),
        read(2, [4, 5], 'a', 'x'),
        read(2, [4, 5], 'a', 'y'),
        read(3, [6, 7], null, 'z'),
      ]),
    ).toBe('linearizable');
    const result = checkLinearizability([write(1, [0, 1], 'a', 'x'), read(1, [2, 3], 'a', 'y')], {
      initialValue: (key) => (key === 'y' ? 'a' : null),
    });
    expect(result.verdict).toBe('linearizable');
    expect(result.keys.map((k) => k.key)).toEqual(['x', 'y']);
  });

  it('ignores not-applied operations and unanswered reads', () => {
    const history = [notAppliedWrite(1, [0, 1], 'a'), read(2, [2, 3], null)];
    const result = checkLinearizability(history);
    expect(result.verdict).toBe('linearizable');
    expect(result.stats).toMatchObject({ operations: 2, completed: 1, ignored: 1 });
  });
});

describe('checkLinearizability: violations', () => {
  it('finds a stale read after a completed write', () => {
    const history = [
      write(1, [0, 1], 'a'),
      write(1, [2, 3], 'b'),
      read(2, [4, 5], 'a'),
      read(2, [6, 7], 'b'),
    ];
    const result = checkLinearizability(history);
    expect(result.verdict).toBe('not-linearizable');
    const v = result.violations[0];
    expect(v?.key).toBe('x');
    expect(v?.culprit?.index).toBe(2);
    // The last read comes after the culprit: it is not part of the shortest failing prefix.
    expect(v?.prefixLength).toBe(3);
    expect(v?.impossibleIn).toEqual(['b']);
    expect(v?.explanation).toContain('read(x) = "a"');
    expect(v?.explanation).toContain('could hold "b"');
    expect(result.summary).toContain('not-linearizable');
  });

  it('finds a read of a value that was never written', () => {
    const result = checkLinearizability([write(1, [0, 1], 'a'), read(2, [2, 3], 'ghost')]);
    expect(result.verdict).toBe('not-linearizable');
    expect(result.violations[0]?.culprit?.index).toBe(1);
  });

  it('finds a value that a not-applied write should never have produced', () => {
    const result = checkLinearizability([notAppliedWrite(1, [0, 1], 'a'), read(2, [2, 3], 'a')]);
    expect(result.verdict).toBe('not-linearizable');
  });

  it('finds two reads going back in time during a slow write', () => {
    const history = [
      write(1, [0, 1], 'a'),
      write(2, [2, 20], 'b'),
      read(3, [3, 4], 'b'),
      read(3, [5, 6], 'a'),
    ];
    const result = checkLinearizability(history);
    expect(result.verdict).toBe('not-linearizable');
    const v = result.violations[0];
    expect(v?.culprit?.index).toBe(3);
    // The slow write and the first read overlap or precede it: both are shown.
    expect(v?.related.map((r) => r.index)).toEqual(expect.arrayContaining([1, 2]));
  });

  it('finds an impossible CAS success and an impossible CAS failure', () => {
    const success = checkLinearizability([
      write(1, [0, 1], 'a'),
      write(1, [2, 3], 'b'),
      cas(2, [4, 5], 'a', 'c', true),
    ]);
    expect(success.verdict).toBe('not-linearizable');
    expect(success.violations[0]?.culprit?.index).toBe(2);

    const failure = checkLinearizability([write(1, [0, 1], 'a'), cas(2, [2, 3], 'a', 'c', false)]);
    expect(failure.verdict).toBe('not-linearizable');
    // A CAS that read the key as absent when it could only hold "a".
    expect(
      verdictOf([write(1, [0, 1], 'a'), cas(2, [2, 3], null, 'c', true), read(2, [4, 5], 'c')]),
    ).toBe('not-linearizable');
  });

  it('finds a lost acknowledged write', () => {
    const result = checkLinearizability([
      write(1, [0, 1], 'a'),
      read(2, [2, 3], 'a'),
      write(1, [4, 5], 'b'),
      read(2, [6, 7], 'a'),
    ]);
    expect(result.verdict).toBe('not-linearizable');
    expect(result.violations[0]?.culprit?.index).toBe(3);
  });

  it('does not let an indefinite write explain a read that came before it', () => {
    expect(verdictOf([read(1, [0, 1], 'a'), unknownWrite(2, 2, 'a')])).toBe('not-linearizable');
  });

  it('finds a reported prev that the key cannot have held', () => {
    expect(verdictOf([write(1, [0, 1], 'a'), write(1, [2, 3], 'b', 'x', 'z')])).toBe(
      'not-linearizable',
    );
  });

  it('reports only the broken key, among linearizable ones', () => {
    const result = checkLinearizability([
      write(1, [0, 1], 'a', 'good'),
      read(1, [2, 3], 'a', 'good'),
      write(1, [0, 1], 'a', 'bad'),
      read(2, [2, 3], null, 'bad'),
    ]);
    expect(result.violations.map((v) => v.key)).toEqual(['bad']);
    expect(result.keys.find((k) => k.key === 'good')?.verdict).toBe('linearizable');
  });
});

describe('checkLinearizability: bounds and input', () => {
  // Many concurrent writes and a read no order explains: the search has to try every
  // subset of the writes before it can say no.
  const hard: KvOperation[] = [
    ...Array.from({ length: 14 }, (_, i) => write(i, [0, 100], `w${i}`)),
    read(99, [101, 102], 'never'),
  ];

  it('says "unknown" instead of searching past its step bound', () => {
    const result = checkLinearizability(hard, { maxStepsPerKey: 1000 });
    expect(result.verdict).toBe('unknown');
    expect(result.keys[0]?.reason).toContain('search steps');
    // With room, the same history is decided.
    expect(checkLinearizability(hard, { maxStepsPerKey: 10_000_000 }).verdict).toBe(
      'not-linearizable',
    );
  });

  it('says "unknown" for a key with more operations than allowed', () => {
    const result = checkLinearizability(hard, { maxOpsPerKey: 10 });
    expect(result.verdict).toBe('unknown');
    expect(result.keys[0]?.reason).toContain('maxOpsPerKey');
  });

  it('refuses a malformed history', () => {
    expect(() => checkLinearizability([write(1, [5, 4], 'a')])).toThrow(HistoryError);
    const mismatched: KvOperation = {
      process: 1,
      key: 'x',
      call: { op: 'read' },
      invokedAt: 0,
      outcome: 'completed',
      returnedAt: 1,
      output: { op: 'write' },
    };
    expect(() => checkLinearizability([mismatched])).toThrow(/read call with a write output/);
  });
});

describe('HistoryRecorder', () => {
  it('records invocations and fates on its clock; what is never resolved is indefinite', () => {
    let now = 0;
    const recorder = new HistoryRecorder(() => now++);
    const w = recorder.invoke('c1', 'x', { op: 'write', value: 'a' });
    const r = recorder.invoke('c2', 'x', { op: 'read' });
    const lost = recorder.invoke('c3', 'x', { op: 'write', value: 'b' });
    const refused = recorder.invoke('c4', 'x', { op: 'delete' });
    recorder.invoke('c5', 'x', { op: 'delete' });
    recorder.complete(w, { op: 'write', prev: null });
    recorder.complete(r, { op: 'read', value: 'a' });
    recorder.indefinite(lost, 'timeout');
    recorder.notApplied(refused, 'NOT_LEADER');
    expect(() => recorder.complete(w, { op: 'write' })).toThrow(/already resolved/);

    const history = recorder.history();
    expect(history.map((op) => op.outcome)).toEqual([
      'completed',
      'completed',
      'indefinite',
      'not-applied',
      'indefinite',
    ]);
    expect(history[0]).toMatchObject({ invokedAt: 0, returnedAt: 5 });
    expect(checkLinearizability(history).verdict).toBe('linearizable');
  });
});
