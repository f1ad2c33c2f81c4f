import { describe, expect, it } from 'vitest';
import { runSimulation } from '../src/index.js';
import { SWEEP } from './sweep-config.js';

// Part 1 of the CI sweep: seeds [1 * SEEDS_PER_PART, (1 + 1) * SEEDS_PER_PART), every invariant
// checked after every step, nemesis on, then the liveness phase. A failure names its seed;
// replay it with `pnpm sim --seed N --steps ${SWEEP.steps}` and keep it in regression-seeds.test.ts.
describe('simulation sweep, part 1', () => {
  it(`${SWEEP.seedsPerPart} seeds x ${SWEEP.steps} steps with faults`, async () => {
    const from = 1 * SWEEP.seedsPerPart;
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
