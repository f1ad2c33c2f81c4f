import { describe, expect, it } from 'vitest';
import {
  checkLinearizability,
  describeOperation,
  type KvCall,
  type KvOperation,
  type KvOutput,
  type KvValue,
  Rng,
} from '../src/index.js';
import { bruteForceLinearizable } from './support/brute-force-linearizability.js';
import { randomLinearizableHistory } from './support/random-kv-history.js';

const CASES = 2500;

/** A small history with arbitrary results: a few values, integer times (so ties happen). */
function arbitraryHistory(rng: Rng): KvOperation[] {
  const values: KvValue[] = [null, 'a', 'b', 'c'];
  const value = (): string => rng.pick(['a', 'b', 'c']);
  const keys = rng.pick([['x'], ['x', 'y']]);
  return Array.from({ length: rng.int(1, 7) }, (_, i): KvOperation => {
    const key = rng.pick(keys);
    const invokedAt = rng.int(0, 12);
    const roll = rng.next();
    const call: KvCall =
      roll < 0.35
        ? { op: 'read' }
        : roll < 0.65
          ? { op: 'write', value: value() }
          : roll < 0.75
            ? { op: 'delete' }
            : { op: 'cas', expected: rng.pick(values), value: value() };
    if (rng.chance(0.2)) return { process: i, key, call, invokedAt, outcome: 'indefinite' };
    const prev = rng.chance(0.5) ? { prev: rng.pick(values) } : {};
    const output: KvOutput =
      call.op === 'read'
        ? { op: 'read', value: rng.pick(values) }
        : call.op === 'cas'
          ? { op: 'cas', succeeded: rng.chance(0.5), ...prev }
          : { op: call.op, ...prev };
    const returnedAt = invokedAt + rng.int(0, 6);
    return { process: i, key, call, invokedAt, outcome: 'completed', returnedAt, output };
  });
}

/** A linearizable history over few values, with one result changed at random half the time. */
function perturbedHistory(rng: Rng, seed: number): KvOperation[] {
  const history = randomLinearizableHistory({
    seed,
    processes: rng.int(2, 4),
    operations: rng.int(2, 8),
    keys: 1,
    indefiniteRate: rng.pick([0, 0.3]),
    valuePool: rng.int(1, 3),
    reportPrev: rng.chance(0.5),
  });
  if (history.length === 0 || rng.chance(0.5)) return history;
  const at = rng.int(0, history.length - 1);
  return history.map((op, i) => {
    if (i !== at || op.outcome !== 'completed') return op;
    const out = op.output;
    const other = rng.pick<KvValue>([null, 'a', 'b', 'c']);
    const changed: KvOutput =
      out.op === 'read'
        ? { op: 'read', value: other }
        : out.op === 'cas'
          ? { ...out, succeeded: !out.succeeded }
          : { op: out.op, prev: other };
    return { ...op, output: changed };
  });
}

describe('checkLinearizability agrees with a brute-force reference', () => {
  it(`on ${CASES} small arbitrary histories and ${CASES} perturbed linearizable ones`, () => {
    const rng = new Rng(20_240_601);
    const seen = { linearizable: 0, 'not-linearizable': 0 };
    for (let i = 0; i < 2 * CASES; i++) {
      const history = i < CASES ? arbitraryHistory(rng) : perturbedHistory(rng, i);
      const expected = bruteForceLinearizable(history) ? 'linearizable' : 'not-linearizable';
      const result = checkLinearizability(history);
      const shown = history.map((op, j) => `#${j} ${describeOperation(op)}`).join('\n');
      expect(result.verdict, `case ${i}:\n${shown}\n${result.summary}`).toBe(expected);
      seen[expected]++;
    }
    // Both answers are well represented: the comparison means something either way.
    expect(seen.linearizable).toBeGreaterThan(CASES / 2);
    expect(seen['not-linearizable']).toBeGreaterThan(CASES / 2);
  });
});
