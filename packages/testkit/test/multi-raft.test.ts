import { ErrorCode, RaftError } from '@kontiki/core';
import { electionAdmissionOf } from '@kontiki/core/internal';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

const T = 100;
const groups = Array.from({ length: 10 }, (_, i) => `group-${i}`);

describe('multi-raft: many groups on one endpoint', () => {
  it('ten groups share three endpoints; each elects, commits and survives a crash on its own', async () => {
    const c = new SimCluster({ seed: 71, peers: 3, groups, electionTimeoutMs: T });
    await c.start();
    for (const g of groups) await c.waitForLeader(g);
    for (const g of groups) {
      const r = await c.propose(`hello-${g}`, g);
      expect(r.result).toBe(`${r.index}:hello-${g}`);
    }
    // Leadership is spread by the random election timers, not all on one peer.
    const leaders = new Set(groups.map((g) => c.leader(g)?.id));
    expect(leaders.size).toBeGreaterThan(1);
    const victim = c.leader(groups[0])?.id as string;
    c.crash(victim);
    for (const g of groups) {
      await c.waitForLeader(g, 10 * T);
      await c.propose(`after-${g}`, g);
    }
    await c.boot(victim);
    for (const g of groups) {
      const last = c.leader(g)?.commitIndex ?? 0;
      await c.runUntil(
        () => (c.node(victim, g)?.appliedIndex ?? 0) >= last,
        `${victim} to catch up on ${g}`,
      );
      // Each group's log holds only its own entries.
      expect(c.appliedKeys(victim, g)).toEqual([`hello-${g}`, `after-${g}`]);
    }
    await c.stop();
  });

  it('a message for a group the endpoint does not host fails with UNKNOWN_GROUP and harms nothing', async () => {
    const c = new SimCluster({ seed: 72, peers: 3, groups: ['a', 'b'], electionTimeoutMs: T });
    await c.start();
    await c.waitForLeader('a');
    const call = c.network.endpoint('n1').call('requestVote', {
      groupId: 'nope',
      from: 'n1',
      to: 'n2',
      term: 99,
      preVote: false,
      lastLogIndex: 0,
      lastLogTerm: 0,
    });
    const e = await c.settle(call).catch((err: unknown) => err);
    expect(RaftError.is(e, ErrorCode.UNKNOWN_GROUP)).toBe(true);
    const r = await c.propose('still-fine', 'a');
    expect(r.index).toBeGreaterThan(0);
    for (const m of c.members('a')) expect(m.node.term).toBeLessThan(99);
    await c.stop();
  });

  it('groups whose timers fire together: each endpoint runs at most its cap of elections at once, and every group gets a leader', async () => {
    // Six times the cap of groups (a small cap, set before the nodes take it), started at the
    // same moment, on a network slow enough that rounds overlap: without the cap every
    // group's pre-vote would be in flight at once.
    const cap = 6;
    const many = Array.from({ length: 6 * cap }, (_, i) => `m${i}`);
    const c = new SimCluster({
      seed: 73,
      peers: 3,
      groups: many,
      electionTimeoutMs: T,
      networkDelayMs: [5, 15],
    });
    const slots = c.peers.map((p) => electionAdmissionOf(c.network.endpoint(p), cap));
    await c.start();
    await c.runUntil(
      () => many.every((g) => c.leader(g) !== undefined),
      'every group to have a leader',
      100 * T,
    );
    for (const s of slots) {
      expect(s.maxActive).toBeGreaterThan(0);
      expect(s.maxActive).toBeLessThanOrEqual(cap);
    }
    // The cap throttled: at least one endpoint had more groups wanting to stand than slots.
    expect(Math.max(...slots.map((s) => s.maxActive))).toBe(cap);
    // Slots are given back: once elected, no endpoint holds one for long.
    await c.runFor(3 * T);
    for (const s of slots) expect(s.active).toBe(0);
    await c.stop();
  });
});
