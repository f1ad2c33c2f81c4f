import { describe, expect, it } from 'vitest';
import { checkLinearizability, type KvOperation, Rng } from '../src/index.js';
import { randomLinearizableHistory, writesOf } from './support/random-kv-history.js';

const SEEDS = 150;

/** The completed reads of a history, by index. */
function completedReads(history: readonly KvOperation[]): number[] {
  return history.flatMap((op, i) =>
    op.outcome === 'completed' && op.call.op === 'read' ? [i] : [],
  );
}

/** A copy of the history in which read `at` returned `value`. */
function withReadResult(history: readonly KvOperation[], at: number, value: string): KvOperation[] {
  return history.map((op, i) =>
    i === at && op.outcome === 'completed' ? { ...op, output: { op: 'read', value } } : op,
  );
}

describe('checkLinearizability on random histories of a simulated sequential store', () => {
  it(`accepts ${SEEDS} linearizable-by-construction histories, and finds one impossible read planted in each`, () => {
    let checkedReads = 0;
    let indefinite = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const rng = new Rng(seed).fork('shape');
      const history = randomLinearizableHistory({
        seed,
        processes: rng.int(2, 6),
        operations: rng.int(10, 120),
        keys: rng.int(1, 3),
        indefiniteRate: rng.pick([0, 0.05, 0.2]),
      });
      const result = checkLinearizability(history);
      expect(result.verdict, `seed ${seed}\n${result.summary}`).toBe('linearizable');
      indefinite += result.stats.indefinite;

      const reads = completedReads(history);
      if (reads.length === 0) continue;
      const at = rng.pick(reads);
      const victim = history[at] as KvOperation;
      // A value no write ever wrote.
      const ghost = checkLinearizability(withReadResult(history, at, 'never-written'));
      expect(ghost.verdict, `seed ${seed}: ghost value`).toBe('not-linearizable');
      expect(ghost.violations[0]?.culprit?.index, `seed ${seed}`).toBe(at);
      // A value written only by writes invoked after the read returned: from the future.
      const future = [...writesOf(history, victim.key)].find(
        ([, invokedAt]) => victim.outcome === 'completed' && invokedAt > victim.returnedAt,
      );
      if (future !== undefined) {
        const planted = checkLinearizability(withReadResult(history, at, future[0]));
        expect(planted.verdict, `seed ${seed}: value from the future`).toBe('not-linearizable');
        expect(planted.violations[0]?.culprit?.index, `seed ${seed}`).toBe(at);
      }
      checkedReads++;
    }
    // The generator produced what the test is about.
    expect(checkedReads).toBeGreaterThan(SEEDS * 0.9);
    expect(indefinite).toBeGreaterThan(100);
  });

  it('decides a long history with many clients and lost answers within the default bounds', () => {
    const history = randomLinearizableHistory({
      seed: 99,
      processes: 8,
      operations: 8000,
      keys: 4,
      indefiniteRate: 0.03,
    });
    const result = checkLinearizability(history);
    expect(result.verdict, result.summary).toBe('linearizable');
    expect(result.stats.indefinite).toBeGreaterThan(100);
    const reads = completedReads(history);
    expect(reads.length).toBeGreaterThan(2000);
    const at = reads[Math.floor(reads.length / 2)] as number;
    const broken = checkLinearizability(withReadResult(history, at, 'never-written'));
    expect(broken.verdict).toBe('not-linearizable');
    expect(broken.violations[0]?.culprit?.index).toBe(at);
  });
});
