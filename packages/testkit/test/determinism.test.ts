import { describe, expect, it } from 'vitest';
import { runSimulation, SimCluster } from '../src/index.js';

describe('the simulator is deterministic', () => {
  it('one seed gives the same run twice', async () => {
    const a = await runSimulation({ seed: 4242, steps: 5000 });
    const b = await runSimulation({ seed: 4242, steps: 5000 });
    expect(b).toEqual(a);
    const c = await runSimulation({ seed: 4243, steps: 5000 });
    expect(c).not.toEqual(a);
  });

  it('one seed gives the same cluster state after the same steps', async () => {
    const states: string[] = [];
    for (let i = 0; i < 2; i++) {
      const c = new SimCluster({ seed: 77, peers: 5 });
      await c.start();
      await c.waitForLeader();
      for (let k = 0; k < 20; k++) await c.propose(`k${k}`);
      c.crash(c.leader()?.id as string);
      await c.runFor(500);
      states.push(c.describe());
      await c.stop();
    }
    expect(states[1]).toBe(states[0]);
  });
});
