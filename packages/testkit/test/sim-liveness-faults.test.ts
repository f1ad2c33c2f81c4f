import { describe, expect, it } from 'vitest';
import { runLivenessFaults } from '../src/index.js';

/**
 * The liveness-under-faults sweep: per seed, a cluster on a network that stays hostile (silent
 * loss each way, jitter, long-delayed replies that overtake, duplicates), crashes and
 * partitions first anywhere, then only outside a majority that stays up and connected; every
 * command proposed in that window must commit within 30 election timeouts of its proposal.
 * A missed seed replays with `pnpm sim --liveness-faults --seed N` (latencies and trace).
 */
const SEEDS = 200;

describe('liveness under faults that do not stop', () => {
  it(`${SEEDS} seeds: every command commits within 30 T while a majority is connected`, async () => {
    const missed: string[] = [];
    let commands = 0;
    for (let seed = 0; seed < SEEDS; seed++) {
      const r = await runLivenessFaults({ seed });
      commands += r.commands;
      if (r.violations.length > 0) {
        const worst = r.violations.some((v) => v.latencyMs === null)
          ? 'some never committed'
          : `worst ${r.latencyMs.max} ms`;
        missed.push(
          `seed ${seed} (${r.peers} peers): ${r.violations.length}/${r.commands} over ${r.boundMs} ms, ${worst}`,
        );
      }
    }
    expect(missed).toEqual([]);
    // The window really measured something: about one command per 2 T over 100 T per seed.
    expect(commands).toBeGreaterThan(SEEDS * 30);
  });
});
