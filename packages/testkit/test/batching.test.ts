import type { AppendEntriesRequest, LogStorage } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

const T = 100;
const encoder = new TextEncoder();
const drainTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A 3-node simulated cluster whose AppendEntries (as the network carries them) and follower
 * log appends (as the storage is asked) are recorded: batching seen at the plugin boundary.
 */
async function observedCluster(seed: number, nodeOptions = {}) {
  const appends = new Map<string, number[]>();
  const c = new SimCluster({
    seed,
    peers: 3,
    electionTimeoutMs: T,
    // One fixed delay each way, and the simulated disk's latency: sends and writes take time.
    networkDelayMs: [1, 1],
    nodeOptions,
    wrapLogStorage: (peer, _group, storage): LogStorage => {
      const counted = Object.create(storage) as LogStorage;
      counted.append = (entries) => {
        const list = appends.get(peer) ?? [];
        list.push(entries.length);
        appends.set(peer, list);
        return storage.append(entries);
      };
      return counted;
    },
  });
  await c.start();
  const leader = await c.waitForLeader();
  // Let the election's own entries settle, so that the pipeline is idle.
  await c.runFor(5 * T);
  const follower = c.peers.find((p) => p !== leader.id) as string;
  const sent: Array<{ at: number; entries: number[] }> = [];
  c.network.setFilter((m) => {
    if (m.kind === 'request' && m.method === 'appendEntries' && m.to === follower) {
      const req = m.payload as AppendEntriesRequest;
      if (req.entries.length > 0)
        sent.push({ at: c.now, entries: req.entries.map((e) => e.index) });
    }
    return 'deliver';
  });
  appends.clear();
  return { c, leader, follower, sent, appends };
}

describe('batching: what piles up while a send or a write is in progress goes together', () => {
  it('a lone proposal on an idle cluster is sent at once, at the same virtual instant', async () => {
    const { c, leader, sent } = await observedCluster(701);
    const at = c.now;
    const pending = leader.apply(encoder.encode('alone'));
    // Only this turn's microtasks and the next macrotask run: no virtual time passes.
    await drainTurn();
    expect(sent).toEqual([{ at, entries: [leader.status().lastLogIndex] }]);
    await c.settle(pending);
    await c.stop();
  });

  it('proposals arriving in separate turns while an AppendEntries is in flight leave as one AppendEntries, and the follower writes them at once', async () => {
    const { c, leader, follower, sent, appends } = await observedCluster(702);
    const first = leader.status().lastLogIndex + 1;
    const results: Array<Promise<unknown>> = [leader.apply(encoder.encode('p0'))];
    await drainTurn();
    // Four more, each in an event of its own (a macrotask), while the first is in flight.
    for (let i = 1; i <= 4; i++) {
      c.time.schedule(0.1 * i, () => {
        results.push(leader.apply(encoder.encode(`p${i}`)));
      });
    }
    await c.runUntil(
      () => results.length === 5 && (c.node(follower)?.status().lastLogIndex ?? 0) >= first + 4,
      'the follower to hold all five',
    );
    await c.settle(Promise.all(results));
    expect(sent.map((s) => s.entries)).toEqual([
      [first],
      [first + 1, first + 2, first + 3, first + 4],
    ]);
    expect(appends.get(follower)).toEqual([1, 4]);
    await c.stop();
  });

  it('with maxPartialInflightRpcs = 2, the second proposal does not wait for the first answer', async () => {
    const { c, leader, sent } = await observedCluster(703, { maxPartialInflightRpcs: 2 });
    const first = leader.status().lastLogIndex + 1;
    const results: Array<Promise<unknown>> = [leader.apply(encoder.encode('p0'))];
    await drainTurn();
    for (let i = 1; i <= 2; i++) {
      c.time.schedule(0.1 * i, () => {
        results.push(leader.apply(encoder.encode(`p${i}`)));
      });
    }
    await c.runUntil(() => results.length === 3, 'all three proposed');
    await c.settle(Promise.all(results));
    // The second leaves on its own (one partial request in flight), the third waits behind two.
    expect(sent.map((s) => s.entries).slice(0, 2)).toEqual([[first], [first + 1]]);
    expect(sent.at(2)?.entries).toEqual([first + 2]);
    expect(sent.at(2)?.at).toBeGreaterThan(sent.at(1)?.at ?? Number.POSITIVE_INFINITY);
    await c.stop();
  });
});
