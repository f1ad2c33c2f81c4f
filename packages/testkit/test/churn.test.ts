import { describe, expect, it } from 'vitest';
import { runSimulation } from '../src/index.js';

describe('larger clusters under churn', () => {
  for (const peers of [5, 7]) {
    it(`a ${peers}-node cluster keeps every invariant and every acknowledged write through crashes, partitions and loss`, async () => {
      for (const seed of [1, 2, 3]) {
        const r = await runSimulation({ seed: 9000 + peers * 10 + seed, peers, steps: 40_000 });
        expect(r.peers).toBe(peers);
        // It went through real trouble: several elections, and crashes.
        expect(r.maxTerm).toBeGreaterThan(3);
        expect((r.faults.crash ?? 0) + (r.faults['crash-leader'] ?? 0)).toBeGreaterThan(0);
        // And still made progress.
        expect(r.acknowledged).toBeGreaterThan(100);
      }
    });
  }
});
