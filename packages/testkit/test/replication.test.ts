import { type AppendEntriesRequest, RaftError } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

const T = 100;

async function start(seed: number, peers = 3, nodeOptions = {}): Promise<SimCluster> {
  const c = new SimCluster({ seed, peers, electionTimeoutMs: T, nodeOptions });
  await c.start();
  await c.waitForLeader();
  return c;
}

/** Proposes without waiting; the outcome is recorded when it settles. */
function fire(c: SimCluster, leaderId: string, payload: string) {
  const out: { value?: { index: number; term: number }; error?: unknown } = {};
  c.node(leaderId)
    ?.apply(new TextEncoder().encode(payload))
    .then(
      (v) => {
        out.value = v;
      },
      (e: unknown) => {
        out.error = e;
      },
    );
  return out;
}

describe('log replication (Raft paper 5.3, 5.4)', () => {
  it('commits and applies a proposal on every node, and resolves with the state machine result', async () => {
    const c = await start(21);
    const r = await c.propose('x=1');
    expect(r.result).toBe(`${r.index}:x=1`);
    await c.runUntil(
      () => c.members().every((m) => m.node.appliedIndex >= r.index),
      'every node to apply',
    );
    for (const p of c.peers) expect(c.appliedKeys(p)).toEqual(['x=1']);
    await c.stop();
  });

  it('a leader cut off with a minority cannot commit; its entries are overwritten after the partition heals', async () => {
    const c = await start(22, 5);
    const old = c.leader();
    if (!old) throw new Error('no leader');
    const buddy = c.peers.find((p) => p !== old.id) as string;
    const majority = c.peers.filter((p) => p !== old.id && p !== buddy);
    c.network.partition([old.id, buddy], majority);
    const lost = fire(c, old.id, 'minority-write');
    await c.runFor(T / 2);
    const lostIndex = old.status().lastLogIndex;
    expect(old.commitIndex).toBeLessThan(lostIndex);
    // Check-quorum deposes it and the promise fails with a typed error, promptly.
    await c.runUntil(() => lost.error !== undefined, 'the minority proposal to fail', 3 * T);
    expect(RaftError.is(lost.error, 'LEADER_STEPPED_DOWN')).toBe(true);
    await c.runUntil(
      () => majority.some((p) => c.node(p)?.role === 'leader'),
      'a majority leader',
      6 * T,
    );
    const winner = await c.propose('majority-write');
    c.network.heal();
    c.network.setDelay(0.2, 1);
    await c.runUntil(
      () => c.members().every((m) => m.node.appliedIndex >= winner.index),
      'every node to apply the majority write',
    );
    for (const p of c.peers) {
      expect(c.appliedKeys(p)).not.toContain('minority-write');
      expect(c.appliedKeys(p)).toContain('majority-write');
    }
    await c.stop();
  });

  it('a follower that was down catches up on everything it missed, in many small rounds', async () => {
    const c = await start(23, 3, { maxEntriesPerRpc: 8, maxInflightRpcs: 2 });
    const leader = c.leader();
    if (!leader) throw new Error('no leader');
    const lagger = c.peers.find((p) => p !== leader.id) as string;
    c.crash(lagger);
    const results = Array.from({ length: 200 }, (_, i) => fire(c, leader.id, `v${i}`));
    await c.runUntil(
      () => results.every((r) => r.value),
      'the writes to commit without the lagger',
    );
    await c.boot(lagger);
    const last = leader.status().lastLogIndex;
    await c.runUntil(
      () => (c.node(lagger)?.appliedIndex ?? 0) >= last,
      'the lagger to catch up',
      30 * T,
    );
    expect(c.appliedKeys(lagger)).toEqual(c.appliedKeys(leader.id));
    expect(c.appliedKeys(lagger)).toHaveLength(200);
    await c.stop();
  });

  it('conflicting uncommitted entries on a follower are overwritten by the leader (5.3)', async () => {
    const c = await start(24, 3);
    const old = c.leader();
    if (!old) throw new Error('no leader');
    const [f1, f2] = c.peers.filter((p) => p !== old.id) as [string, string];
    // The old leader appends three entries that reach nobody.
    c.network.isolate(old.id, c.peers);
    fire(c, old.id, 'stale-1');
    fire(c, old.id, 'stale-2');
    fire(c, old.id, 'stale-3');
    await c.runFor(10);
    const staleLast = old.status().lastLogIndex;
    // The other two elect a leader and write at the same indexes.
    await c.runUntil(
      () => [f1, f2].some((p) => c.node(p)?.role === 'leader'),
      'a new leader',
      8 * T,
    );
    const fresh = await c.propose('fresh');
    expect(fresh.index).toBeLessThanOrEqual(staleLast);
    c.network.heal();
    c.network.setDelay(0.2, 1);
    await c.runUntil(
      () => (c.node(old.id)?.appliedIndex ?? 0) >= fresh.index,
      'the old leader to catch up',
    );
    const oldNode = c.node(old.id);
    expect(oldNode?.role).toBe('follower');
    expect(c.appliedKeys(old.id)).toEqual(['fresh']);
    expect(c.log(old.id)?.termAt(fresh.index)).toBe(fresh.term);
    await c.stop();
  });

  it('concurrent proposals all commit, in one order on every node', async () => {
    const c = await start(25, 5);
    const leader = c.leader();
    if (!leader) throw new Error('no leader');
    const out = Array.from({ length: 300 }, (_, i) => fire(c, leader.id, `c${i}`));
    await c.runUntil(() => out.every((o) => o.value), 'all proposals to commit');
    const indexes = out.map((o) => o.value?.index as number);
    expect(new Set(indexes).size).toBe(300);
    // Proposals made in one turn are appended in call order.
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    const last = Math.max(...indexes);
    await c.runUntil(
      () => c.members().every((m) => m.node.appliedIndex >= last),
      'every node to apply',
    );
    const order = c.appliedKeys(leader.id);
    expect(order).toHaveLength(300);
    for (const p of c.peers) expect(c.appliedKeys(p)).toEqual(order);
    await c.stop();
  });

  it('restarting every node keeps every committed entry', async () => {
    const c = await start(26, 3);
    const acked: Array<{ key: string; index: number }> = [];
    for (let i = 0; i < 20; i++) {
      const r = await c.propose(`k${i}`);
      acked.push({ key: `k${i}`, index: r.index });
    }
    for (const p of c.peers) c.crash(p);
    for (const p of c.peers) await c.boot(p);
    await c.waitForLeader();
    const after = await c.propose('after-restart');
    await c.runUntil(
      () => c.members().every((m) => m.node.appliedIndex >= after.index),
      'every node to apply',
    );
    for (const p of c.peers) {
      const keys = c.appliedKeys(p);
      expect(keys).toEqual([...acked.map((a) => a.key), 'after-restart']);
      const sm = c.stateMachine(p);
      for (const a of acked) expect(sm?.applied.find((x) => x.key === a.key)?.index).toBe(a.index);
    }
    await c.stop();
  });

  it('Figure 8: an entry of an earlier term on a majority is not committed by counting replicas', async () => {
    // 5 nodes. (a) L1 replicates X only to F2. (b) L5 wins without X and appends its entry
    // (only to itself). (c) L1 returns in a later term and copies X to a third node; X now sits
    // on a majority, but L1's own entry of its term does not: X must stay uncommitted.
    // (d) L5 returns and may win and overwrite X; nothing committed may be lost.
    const c = await start(27, 5, { maxEntriesPerRpc: 1 });
    const l1 = c.leader();
    if (!l1) throw new Error('no leader');
    const f2 = c.peers.find((p) => p !== l1.id) as string;
    const rest = c.peers.filter((p) => p !== l1.id && p !== f2);
    await c.runUntil(
      () => c.members().every((m) => m.node.appliedIndex >= 1),
      'the first entry everywhere',
    );
    const base = l1.status().lastLogIndex;

    // (a)
    c.network.partition([l1.id, f2], rest);
    fire(c, l1.id, 'X');
    await c.runUntil(
      () => [l1.id, f2].every((p) => (c.node(p)?.status().durableIndex ?? 0) > base),
      'X on the disks of L1 and F2',
    );
    const xIndex = base + 1;
    const xTerm = l1.term;
    c.crash(l1.id);
    c.crash(f2);

    // (b) One of the other three (call it L5) is elected; its entries reach nobody.
    c.network.heal();
    c.network.setDelay(0.2, 1);
    c.network.setFilter((m) =>
      m.kind === 'request' &&
      m.method === 'appendEntries' &&
      (m.payload as AppendEntriesRequest).entries.length > 0
        ? 'drop'
        : 'deliver',
    );
    await c.runUntil(
      () => rest.some((p) => c.node(p)?.role === 'leader'),
      'a leader among the other three',
      30 * T,
    );
    const l5 = rest.find((p) => c.node(p)?.role === 'leader') as string;
    const [f3, f4] = rest.filter((p) => p !== l5) as [string, string];
    expect(c.log(l5)?.termAt(xIndex)).toBeGreaterThan(xTerm);
    c.crash(l5);
    c.network.setFilter(undefined);

    // (c) L1 and F2 come back (both hold X); one of them (call it L1 again) wins with F3's
    // vote; only X, not the winner's own entry of its term, reaches F3.
    await c.boot(l1.id);
    await c.boot(f2);
    c.network.isolate(f4, c.peers);
    c.network.setFilter((m) => {
      if (m.kind !== 'request' || m.method !== 'appendEntries' || m.to !== f3) return 'deliver';
      const req = m.payload as AppendEntriesRequest;
      return req.entries.some((e) => e.index > xIndex) ? 'drop' : 'deliver';
    });
    const holders = [l1.id, f2];
    await c.runUntil(
      () => holders.some((p) => c.node(p)?.role === 'leader'),
      'L1 or F2 to lead',
      30 * T,
    );
    const winner = holders.find((p) => c.node(p)?.role === 'leader') as string;
    const l1b = c.node(winner);
    if (!l1b) throw new Error('the winner is down');
    expect(l1b.term).toBeGreaterThan(xTerm);
    await c.runUntil(() => c.log(f3)?.termAt(xIndex) === xTerm, 'X on F3');
    await c.runFor(3 * T);
    // X is on L1, F2 and F3 - a majority of five - but was written in an earlier term.
    expect(l1b.commitIndex).toBeLessThan(xIndex);

    // (d) L1 dies; L5 returns. Whatever wins, the invariant checker sees no committed entry lost.
    c.crash(winner);
    c.network.setFilter(undefined);
    c.network.heal();
    c.network.setDelay(0.2, 1);
    await c.boot(l5);
    await c.waitForLeader('g', 40 * T);
    const final = await c.propose('after');
    await c.runUntil(
      () => c.members().every((m) => m.node.appliedIndex >= final.index),
      'the survivors to agree',
      20 * T,
    );
    const keys = c.appliedKeys(f3);
    for (const m of c.members()) expect(c.appliedKeys(m.peer)).toEqual(keys);
    await c.stop();
  });
});
