import { describe, expect, it } from 'vitest';
import { runSimulation } from '../src/index.js';

const SEEDS = 30;
const FROM = 20_000;

// Multi-group clusters on RaftHosts with quiescence: clients that often go quiet, so that
// groups quiesce and the nemesis crashes, restarts and isolates peers whose groups are
// quiesced. Every invariant after every step, then the liveness phase (a quiesced group
// whose leader died must elect again). Replay: pnpm sim --seed N --steps 10000 --quiescence --groups 3
describe('simulation sweep with quiescence', () => {
  it(`${SEEDS} seeds x 10000 steps, three groups per peer, with faults`, async () => {
    const failures: string[] = [];
    let quiescedSteps = 0;
    let faultsWhileQuiesced = 0;
    let acknowledged = 0;
    for (let seed = FROM; seed < FROM + SEEDS; seed++) {
      try {
        const r = await runSimulation({
          seed,
          steps: 10_000,
          quiescence: true,
          groups: ['g0', 'g1', 'g2'],
        });
        quiescedSteps += r.quiescedSteps;
        faultsWhileQuiesced += r.faultsWhileQuiesced;
        acknowledged += r.acknowledged;
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    }
    expect(failures).toEqual([]);
    // The sweep really exercised quiescence, and faults really hit quiesced groups.
    expect(quiescedSteps).toBeGreaterThan(SEEDS * 100);
    expect(faultsWhileQuiesced).toBeGreaterThan(SEEDS / 5);
    expect(acknowledged).toBeGreaterThan(SEEDS * 5);
    // Three groups per peer cost about three times a single-group seed: a longer budget.
  }, 400_000);
});
