import { preferredLeaderOf } from '@kontiki/core';
import type { NetworkMessage } from '@kontiki/transport-memory';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

const T = 100;
const groups = ['a', 'b', 'c', 'd'];

/** Counts the messages of each method that the network carries from now on. */
function countMessages(c: SimCluster): Map<string, number> {
  const counts = new Map<string, number>();
  c.network.setFilter((m: NetworkMessage) => {
    if (m.kind === 'request') counts.set(m.method, (counts.get(m.method) ?? 0) + 1);
    return 'deliver';
  });
  return counts;
}

function allQuiesced(c: SimCluster, gs: readonly string[] = groups): boolean {
  return gs.every((g) => {
    const members = c.members(g);
    return members.length > 0 && members.every((m) => m.node.status().quiesced);
  });
}

describe('quiescence: idle groups on a RaftHost stop heartbeating', () => {
  it('idle groups go quiet: no AppendEntries, no elections, only one beat per pair of endpoints', async () => {
    const c = new SimCluster({ seed: 801, peers: 3, groups, electionTimeoutMs: T, host: true });
    await c.start();
    for (const g of groups) await c.waitForLeader(g);
    for (const g of groups) await c.propose(`x-${g}`, g);
    await c.runUntil(() => allQuiesced(c), 'every group to quiesce', 20 * T);
    const terms = groups.map((g) => c.leader(g)?.term);
    const counts = countMessages(c);
    await c.runFor(50 * T);
    // Fifty election timeouts of silence: no group heartbeats, no group elects.
    expect(counts.get('appendEntries') ?? 0).toBe(0);
    expect(counts.get('requestVote') ?? 0).toBe(0);
    expect(groups.map((g) => c.leader(g)?.term)).toEqual(terms);
    // One beat per ordered pair of endpoints per heartbeat interval (T / 10), whatever the
    // number of groups.
    const beats = counts.get('hostHeartbeat') ?? 0;
    expect(beats).toBeGreaterThan(0);
    expect(beats).toBeLessThanOrEqual((6 * (50 * T)) / (T / 10) + 6);
    expect(allQuiesced(c)).toBe(true);
    await c.stop();
  });

  it('a proposal wakes its group and commits; the group quiesces again afterwards', async () => {
    const c = new SimCluster({ seed: 802, peers: 3, groups, electionTimeoutMs: T, host: true });
    await c.start();
    for (const g of groups) await c.waitForLeader(g);
    await c.runUntil(() => allQuiesced(c), 'every group to quiesce', 20 * T);
    const r = await c.propose('wake-up', 'b');
    expect(r.result).toBe(`${r.index}:wake-up`);
    await c.runUntil(
      () => c.members('b').every((m) => m.node.appliedIndex >= r.index),
      'every member of b to apply the proposal',
    );
    // The other groups stayed quiet meanwhile.
    expect(allQuiesced(c, ['a', 'c', 'd'])).toBe(true);
    await c.runUntil(() => allQuiesced(c), 'b to quiesce again', 20 * T);
    await c.stop();
  });

  it('a quiesced group whose leader dies elects a new leader within a bound', async () => {
    const c = new SimCluster({ seed: 803, peers: 3, groups, electionTimeoutMs: T, host: true });
    await c.start();
    for (const g of groups) await c.waitForLeader(g);
    for (const g of groups) await c.propose(`before-${g}`, g);
    await c.runUntil(() => allQuiesced(c), 'every group to quiesce', 20 * T);
    const victim = c.leader('a')?.id as string;
    const led = groups.filter((g) => c.leader(g)?.id === victim);
    const crashedAt = c.now;
    c.crash(victim);
    // The survivors notice the silent endpoint within T (plus a beat), then stand within
    // (1 + jitter)·T of its last beat: 3 T is generous, 2 T would be Raft's own bound.
    await c.runUntil(
      () => led.every((g) => c.leader(g) !== undefined && c.leader(g)?.id !== victim),
      `new leaders for ${led.join(', ')}`,
      4 * T,
    );
    expect(c.now - crashedAt).toBeLessThan(4 * T);
    for (const g of groups) {
      const r = await c.propose(`after-${g}`, g);
      expect(r.index).toBeGreaterThan(0);
    }
    // Back: it catches up on every group and everything quiesces again, it included.
    await c.boot(victim);
    for (const g of groups) {
      const last = c.leader(g)?.commitIndex ?? 0;
      await c.runUntil(
        () => (c.node(victim, g)?.appliedIndex ?? 0) >= last,
        `${victim} to catch up on ${g}`,
      );
      expect(c.appliedKeys(victim, g)).toEqual([`before-${g}`, `after-${g}`]);
    }
    await c.runUntil(() => allQuiesced(c), 'every group to quiesce again', 40 * T);
    await c.stop();
  });

  it('a quiesced follower refuses votes while the leader endpoint beats, so a restarted peer cannot depose the leader', async () => {
    const c = new SimCluster({
      seed: 804,
      peers: 3,
      groups: ['a'],
      electionTimeoutMs: T,
      host: true,
    });
    await c.start();
    const leader = await c.waitForLeader('a');
    await c.runUntil(() => allQuiesced(c, ['a']), 'a to quiesce', 20 * T);
    const term = leader.term;
    const follower = c.members('a').find((m) => m.peer !== leader.id)?.peer as string;
    // A restarted follower starts with its election timer running; its pre-vote wakes the
    // leader, which heartbeats it back into line: same leader, same term.
    await c.restart(follower);
    await c.runFor(20 * T);
    expect(c.leader('a')?.id).toBe(leader.id);
    expect(c.leader('a')?.term).toBe(term);
    await c.runUntil(() => allQuiesced(c, ['a']), 'a to quiesce again', 20 * T);
    await c.stop();
  });

  it('a leader cut off from both followers: they elect a new leader; the old one steps down when woken', async () => {
    const c = new SimCluster({
      seed: 805,
      peers: 3,
      groups: ['a'],
      electionTimeoutMs: T,
      host: true,
    });
    await c.start();
    const old = await c.waitForLeader('a');
    await c.runUntil(() => allQuiesced(c, ['a']), 'a to quiesce', 20 * T);
    const others = c.peers.filter((p) => p !== old.id);
    c.network.isolate(old.id, others);
    await c.runUntil(
      () => {
        const l = c.leader('a');
        return l !== undefined && l.id !== old.id;
      },
      'a new leader among the majority',
      5 * T,
    );
    // The old leader's host finds its followers silent, wakes the group, and check-quorum
    // steps it down.
    await c.runUntil(() => !old.isLeader, 'the old leader to step down', 5 * T);
    c.network.heal();
    const r = await c.propose('after-heal', 'a');
    expect(r.index).toBeGreaterThan(0);
    await c.stop();
  });

  it('without quiescence the host still shares one scheduler and beat, and groups heartbeat as before', async () => {
    const c = new SimCluster({
      seed: 806,
      peers: 3,
      groups,
      electionTimeoutMs: T,
      host: { quiesce: false },
    });
    await c.start();
    for (const g of groups) await c.waitForLeader(g);
    const counts = countMessages(c);
    await c.runFor(10 * T);
    expect(allQuiesced(c)).toBe(false);
    expect(counts.get('appendEntries') ?? 0).toBeGreaterThan(0);
    expect(counts.get('hostHeartbeat') ?? 0).toBeGreaterThan(0);
    await c.stop();
  });

  it('leaders spread over the nodes by preference, and return to a node that comes back', async () => {
    const many = Array.from({ length: 12 }, (_, i) => `s${i}`);
    const c = new SimCluster({
      seed: 807,
      peers: 3,
      groups: many,
      electionTimeoutMs: T,
      host: true,
    });
    const preferred = (g: string) => preferredLeaderOf(g, c.peers);
    const atPreference = () => many.every((g) => c.leader(g)?.id === preferred(g));
    await c.start();
    await c.runUntil(atPreference, 'every group led by its preferred voter', 30 * T);
    // Every node is preferred by some groups (the hash spreads them).
    expect(new Set(many.map(preferred)).size).toBe(3);
    const victim = 'n2';
    c.crash(victim);
    await c.runUntil(
      () => many.every((g) => c.leader(g) !== undefined && c.leader(g)?.id !== victim),
      'the survivors to lead every group',
      10 * T,
    );
    await c.boot(victim);
    // Back and caught up, it gets its groups back by leadership transfer; all quiesce again.
    await c.runUntil(atPreference, 'the groups preferring n2 to be led by it again', 60 * T);
    await c.runUntil(() => allQuiesced(c, many), 'every group to quiesce', 40 * T);
    await c.stop();
  });

  it('a follower that restarts while its groups are quiesced rejoins them quiet: no election, no wake-up of the leaders', async () => {
    const c = new SimCluster({ seed: 808, peers: 3, groups, electionTimeoutMs: T, host: true });
    await c.start();
    for (const g of groups) await c.waitForLeader(g);
    for (const g of groups) await c.propose(`x-${g}`, g);
    await c.runUntil(() => allQuiesced(c), 'every group to quiesce', 20 * T);
    const leaders = new Set(groups.map((g) => c.leader(g)?.id));
    const follower = c.peers.find((p) => !leaders.has(p));
    if (follower === undefined) throw new Error('seed 808 must leave one peer leading nothing');
    const terms = groups.map((g) => c.leader(g)?.term);
    c.crash(follower);
    await c.runFor(3 * T);
    const counts = countMessages(c);
    await c.boot(follower);
    // The leaders' endpoints offer it quiescence as soon as they hear it: its log matches,
    // so it follows them quietly; nobody stands, nothing is re-sent.
    await c.runUntil(() => allQuiesced(c), 'every group quiesced with it again', 10 * T);
    expect(counts.get('requestVote') ?? 0).toBe(0);
    expect(counts.get('appendEntries') ?? 0).toBe(0);
    expect(groups.map((g) => c.leader(g)?.term)).toEqual(terms);
    for (const g of groups) expect(c.node(follower, g)?.leader).toBe(c.leader(g)?.id);
    await c.stop();
  });
  it('fresh groups are first led by their preferred voters: the others let their first elections pass while it beats', async () => {
    const many = Array.from({ length: 12 }, (_, i) => `f${i}`);
    const c = new SimCluster({
      seed: 809,
      peers: 3,
      groups: many,
      electionTimeoutMs: T,
      host: true,
    });
    const preferred = (g: string) => preferredLeaderOf(g, c.peers);
    // No vote of any kind gets through for the first 3 T: every node's first election
    // timeouts pass (the others' at T..1.3 T and again) before anyone can win.
    let votesPass = false;
    c.network.setFilter((m: NetworkMessage) =>
      m.kind === 'request' && m.method === 'requestVote' && !votesPass ? 'drop' : 'deliver',
    );
    await c.start();
    await c.runFor(3 * T);
    votesPass = true;
    await c.runUntil(
      () => many.every((g) => c.leader(g) !== undefined),
      'every group to have a leader',
      20 * T,
    );
    // Each group's first leader is its preferred voter, in the first term: nobody else stood,
    // so no leadership transfer was needed to balance.
    expect(many.map((g) => [g, c.leader(g)?.id, c.leader(g)?.term])).toEqual(
      many.map((g) => [g, preferred(g), 1]),
    );
    for (const p of c.peers) {
      expect(c.host(p)?.stats().wakes['leader: a leadership transfer'] ?? 0).toBe(0);
    }
    await c.stop();
  });

  it('an idle, balanced host does not pass over its groups again until one quiesces or a peer comes back', async () => {
    const many = Array.from({ length: 12 }, (_, i) => `s${i}`);
    const c = new SimCluster({
      seed: 810,
      peers: 3,
      groups: many,
      electionTimeoutMs: T,
      host: true,
    });
    const preferred = (g: string) => preferredLeaderOf(g, c.peers);
    await c.start();
    await c.runUntil(
      () => many.every((g) => c.leader(g)?.id === preferred(g)) && allQuiesced(c, many),
      'every group led by its preferred voter and quiet',
      40 * T,
    );
    // One more pass may still be due (the last quiescence set it up); then nothing.
    await c.runFor(3 * T);
    const visits = () => c.peers.map((p) => c.host(p)?.stats().balancerVisits ?? 0);
    const before = visits();
    await c.runFor(30 * T);
    expect(visits()).toEqual(before);
    // A proposal wakes a group; once it quiesces again, its leader's balancer looks again.
    const g = many[0] as string;
    const leader = c.leader(g)?.id as string;
    await c.propose('wake', g);
    await c.runUntil(() => allQuiesced(c, many), 'every group to quiesce again', 20 * T);
    await c.runFor(2 * T);
    const after = visits();
    expect(after[c.peers.indexOf(leader)]).toBeGreaterThan(
      before[c.peers.indexOf(leader)] as number,
    );
    await c.stop();
  });
});
