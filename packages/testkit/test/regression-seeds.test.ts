import { describe, expect, it } from 'vitest';
import { runSimulation } from '../src/index.js';

/**
 * Seeds that once failed, kept so that they keep passing. Each entry says what it found.
 * Replay one with `pnpm sim --seed N --steps S`.
 */
const SEEDS: ReadonlyArray<{ seed: number; steps: number; found: string }> = [
  {
    seed: 47,
    steps: 10_000,
    found:
      'log matching: a termChange listener proposed on a leader that had already learned a later term (events fired mid-transition)',
  },
  { seed: 55, steps: 10_000, found: 'same as 47, another shape (5 nodes)' },
  { seed: 70, steps: 10_000, found: 'same as 47, with leadership transfers' },
  {
    seed: 10_499,
    steps: 20_000,
    found:
      'the harness took a leader whose whole log was compacted into a snapshot for one that had not committed an entry of its term',
  },
];

/** Seeds of the quiescence mode (`pnpm sim --seed N --steps S --quiescence --groups 3`). */
const QUIESCENCE_SEEDS: ReadonlyArray<{ seed: number; steps: number; found: string }> = [
  {
    seed: 20_043,
    steps: 10_000,
    found:
      'the shared timer scheduler re-armed itself for a hair of time forever on a drifting clock (virtual time stood still)',
  },
];

describe('regression seeds', () => {
  for (const { seed, steps, found } of SEEDS) {
    it(`seed ${seed} (${found})`, async () => {
      const r = await runSimulation({ seed, steps });
      expect(r.steps).toBeGreaterThanOrEqual(steps);
      expect(r.acknowledged).toBeGreaterThan(0);
    });
  }
  for (const { seed, steps, found } of QUIESCENCE_SEEDS) {
    it(`seed ${seed}, quiescence, three groups (${found})`, async () => {
      const r = await runSimulation({ seed, steps, quiescence: true, groups: ['g0', 'g1', 'g2'] });
      expect(r.steps).toBeGreaterThanOrEqual(steps);
      expect(r.acknowledged).toBeGreaterThan(0);
    });
  }
});
