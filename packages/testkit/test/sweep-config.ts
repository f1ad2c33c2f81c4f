import { describe, expect, it } from 'vitest';
import { runSimulation } from '../src/index.js';

/** The CI sweep: 4 parts (test files run in parallel) x 125 seeds = 500 seeds. */
export const SWEEP = { seedsPerPart: 125, steps: 10_000 } as const;

/**
 * Declares part `part` of the sweep: seeds [part * 125, (part + 1) * 125), every invariant
 * checked after every step, nemesis on, then the liveness phase. A failure names its seed;
 * replay it with `pnpm sim --seed N --steps 10000` and keep it in regression-seeds.test.ts.
 */
export function sweepPart(part: number): void {
  describe(`simulation sweep, part ${part}`, () => {
    it(`${SWEEP.seedsPerPart} seeds x ${SWEEP.steps} steps with faults`, async () => {
      const from = part * SWEEP.seedsPerPart;
      const failures: string[] = [];
      let acknowledged = 0;
      for (let seed = from; seed < from + SWEEP.seedsPerPart; seed++) {
        try {
          const r = await runSimulation({ seed, steps: SWEEP.steps });
          acknowledged += r.acknowledged;
        } catch (error) {
          failures.push(error instanceof Error ? error.message : String(error));
        }
      }
      expect(failures).toEqual([]);
      expect(acknowledged).toBeGreaterThan(SWEEP.seedsPerPart * 10);
    });
  });
}
