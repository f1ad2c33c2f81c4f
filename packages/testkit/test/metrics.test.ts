import { ErrorCode, RaftError, type StateMachine } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { MemoryMetrics, SimCluster, type SimClusterOptions } from '../src/index.js';

const T = 100;
const g = { group: 'g' };
const enc = new TextEncoder();

/** A simulated cluster whose every node reports to its own MemoryMetrics (kept across restarts). */
async function cluster(seed: number, options: Partial<SimClusterOptions> = {}) {
  const sinks = new Map<string, MemoryMetrics>();
  const c = new SimCluster({
    seed,
    peers: 3,
    electionTimeoutMs: T,
    ...options,
    metrics: (peer) => {
      let m = sinks.get(peer);
      if (m === undefined) {
        m = new MemoryMetrics();
        sinks.set(peer, m);
      }
      return m;
    },
  });
  // Ground truth: every leadership (a leader and its term) that happened.
  const leaderships = new Set<string>();
  const leaderEvents = new Map<string, number>();
  c.onBoot((peer, _group, node) => {
    node.on('roleChange', ({ role, term }) => {
      if (role === 'leader') leaderships.add(`${peer}@${term}`);
    });
    node.on('leaderChange', () => leaderEvents.set(peer, (leaderEvents.get(peer) ?? 0) + 1));
  });
  await c.start();
  const sink = (peer: string): MemoryMetrics => {
    const m = sinks.get(peer);
    if (m === undefined) throw new Error(`no metrics for ${peer}`);
    return m;
  };
  const value = (peer: string, name: string, labels: Record<string, string> = {}) =>
    sink(peer).value(name, { ...g, ...labels });
  return { c, sink, value, leaderships, leaderEvents };
}

describe('metrics a node reports through NodeOptions.metrics', () => {
  it('three leaderships read three on every node, though each node saw more leaderChange events', async () => {
    const { c, value, leaderships, leaderEvents } = await cluster(1);
    let leader = await c.waitForLeader();
    for (let i = 0; i < 2; i++) {
      const target = c.peers.find((p) => p !== leader.id) as string;
      await c.settle(leader.transferLeadership(target));
      leader = await c.waitForLeader();
      const id = leader.id;
      await c.runUntil(
        () => c.members().every((m) => m.node.leader === id),
        'every node to follow the new leader',
      );
    }
    expect(leaderships.size).toBe(3);
    for (const p of c.peers) {
      expect({ p, seen: value(p, 'raft_leader_changes_seen_total') }).toEqual({ p, seen: 3 });
      expect(value(p, 'raft_has_leader')).toBe(1);
      expect(value(p, 'raft_term')).toBe(leader.term);
    }
    // What the kv-server used to count: a leaderChange event also fires when a node loses
    // sight of its leader (leaderId undefined), so these read more than 3 somewhere.
    expect(Math.max(...c.peers.map((p) => leaderEvents.get(p) ?? 0))).toBeGreaterThan(3);
    await c.stop();
  });

  it('a follower that loses its leader and hears from it again in the same term counts no new leadership', async () => {
    const { c, value } = await cluster(2);
    const leader = await c.waitForLeader();
    const follower = c.peers.find((p) => p !== leader.id) as string;
    expect(value(follower, 'raft_leader_changes_seen_total')).toBe(1);
    c.network.isolate(follower, c.peers);
    // Alone, its election timer clears the leader it knew; its pre-votes cannot win.
    await c.runUntil(() => value(follower, 'raft_has_leader') === 0, 'the follower to lose it');
    expect(c.node(follower)?.leader).toBeUndefined();
    c.network.heal();
    await c.runUntil(() => value(follower, 'raft_has_leader') === 1, 'the follower to find it');
    expect(c.node(follower)?.leader).toBe(leader.id);
    expect(c.node(follower)?.term).toBe(leader.term);
    expect(value(follower, 'raft_leader_changes_seen_total')).toBe(1);
    // A real change: the leader dies, the two others elect one of them.
    c.crash(leader.id);
    const next = await c.waitForLeader();
    for (const p of c.peers.filter((p) => p !== leader.id)) {
      await c.runUntil(() => c.node(p)?.leader === next.id, `${p} to follow ${next.id}`);
      expect({ p, seen: value(p, 'raft_leader_changes_seen_total') }).toEqual({ p, seen: 2 });
    }
    await c.stop();
  });

  it('has_leader drops to 0 on every node left once the quorum is gone', async () => {
    const { c, value } = await cluster(3);
    const leader = await c.waitForLeader();
    const follower = c.peers.find((p) => p !== leader.id) as string;
    for (const p of c.peers) expect(value(p, 'raft_has_leader')).toBe(1);
    // The leader alone on one side, a follower alone on the other: nobody has a quorum.
    c.crash(c.peers.find((p) => p !== leader.id && p !== follower) as string);
    c.network.isolate(follower, c.peers);
    await c.runUntil(
      () => value(leader.id, 'raft_has_leader') === 0 && value(follower, 'raft_has_leader') === 0,
      'both to know no leader',
      5 * T,
    );
    expect(leader.role).toBe('follower');
    await c.stop();
  });

  it('counts proposals committed, applied, pending and failed by reason', async () => {
    const { c, value } = await cluster(4, { nodeOptions: { maxPendingProposals: 3 } });
    const leader = await c.waitForLeader();
    for (let i = 0; i < 10; i++) await c.propose(`k${i}`);
    await c.runUntil(
      () => c.members().every((m) => m.node.appliedIndex === leader.commitIndex),
      'every node to apply everything',
    );
    for (const p of c.peers) {
      const node = c.node(p);
      expect(value(p, 'raft_commit_index')).toBe(node?.commitIndex);
      expect(value(p, 'raft_applied_index')).toBe(node?.appliedIndex);
      // Nothing came from a snapshot: every entry was counted as it committed and applied.
      expect(value(p, 'raft_proposals_committed_total')).toBe(node?.commitIndex);
      expect(value(p, 'raft_proposals_applied_total')).toBe(node?.appliedIndex);
    }
    expect(value(leader.id, 'raft_proposals_pending')).toBe(0);
    const failed = (p: string, reason: string) =>
      value(p, 'raft_proposals_failed_total', { reason });
    for (const reason of ['not_leader', 'busy', 'leader_stepped_down', 'aborted', 'timeout']) {
      expect({ reason, failed: failed(leader.id, reason) }).toEqual({ reason, failed: 0 });
    }

    const follower = c.peers.find((p) => p !== leader.id) as string;
    expect(await codeOf(c, c.node(follower)?.apply(enc.encode('x')))).toBe(ErrorCode.NOT_LEADER);
    expect(failed(follower, 'not_leader')).toBe(1);

    // Cut off, the leader keeps proposals pending until check-quorum makes it step down.
    c.network.isolate(leader.id, c.peers);
    const aborted = new AbortController();
    const timedOut = new AbortController();
    const a = leader.apply(enc.encode('a'), { signal: aborted.signal });
    const b = leader.apply(enc.encode('b'), { signal: timedOut.signal });
    for (const p of [a, b]) p.catch(() => {});
    aborted.abort();
    // What AbortSignal.timeout() aborts with.
    timedOut.abort(new DOMException('the operation timed out', 'TimeoutError'));
    expect(await codeOf(c, a)).toBe(ErrorCode.ABORTED);
    expect(await codeOf(c, b)).toBe(ErrorCode.ABORTED);
    expect(failed(leader.id, 'aborted')).toBe(1);
    expect(failed(leader.id, 'timeout')).toBe(1);
    const pending = [0, 1, 2].map((i) => leader.apply(enc.encode(`p${i}`)));
    for (const p of pending) p.catch(() => {});
    await c.step();
    expect(value(leader.id, 'raft_proposals_pending')).toBe(3);
    expect(await codeOf(c, leader.apply(enc.encode('over')))).toBe(ErrorCode.BUSY);
    expect(failed(leader.id, 'busy')).toBe(1);
    await c.runUntil(() => leader.role !== 'leader', 'the cut-off leader to step down', 5 * T);
    for (const p of pending) expect(await codeOf(c, p)).toBe(ErrorCode.LEADER_STEPPED_DOWN);
    expect(failed(leader.id, 'leader_stepped_down')).toBe(3);
    expect(value(leader.id, 'raft_proposals_pending')).toBe(0);
    await c.stop();
    expect(await codeOf(c, leader.apply(enc.encode('late')))).toBe(ErrorCode.SHUTDOWN);
    expect(failed(leader.id, 'shutdown')).toBe(1);
  });

  it('times disk syncs on every node and round trips to each follower, late answers included', async () => {
    const { c, sink } = await cluster(5, { diskLatencyMs: 2, networkDelayMs: [0.2, 1] });
    const leader = await c.waitForLeader();
    for (let i = 0; i < 20; i++) await c.propose(`k${i}`);
    for (const p of c.peers) {
      const syncs = sink(p).observations('disk_log_sync_duration_seconds', g);
      expect(syncs.length).toBeGreaterThan(0);
      // Virtual time: each write takes at most the simulated disk latency.
      expect(Math.max(...syncs)).toBeLessThanOrEqual(0.002 + 1e-9);
      expect(syncs.reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
    }
    const followers = c.peers.filter((p) => p !== leader.id);
    const rtt = (peer: string) =>
      sink(leader.id).observations('network_peer_round_trip_time_seconds', { ...g, peer });
    for (const f of followers) {
      // Two trips of 0.2-1 ms, plus the follower's own disk write when it got entries.
      expect(rtt(f).length).toBeGreaterThan(10);
      expect(Math.min(...rtt(f))).toBeGreaterThanOrEqual(0.0004 - 1e-9);
      expect(Math.max(...rtt(f))).toBeLessThanOrEqual(0.004 + 1e-9);
    }
    // One follower's answers now arrive 3 T late: past the resend interval, but still counted.
    const slow = followers[0] as string;
    c.network.setFilter((m) =>
      m.kind === 'response' && m.from === slow && m.method === 'appendEntries'
        ? { delayMs: 3 * T }
        : 'deliver',
    );
    // Answers already on the wire when the filter was set arrive on time (one-way delay at
    // most 1 ms): let them land before counting.
    await c.runFor(5);
    const before = rtt(slow).length;
    await c.propose('while slow');
    await c.runFor(5 * T);
    const late = rtt(slow).slice(before);
    expect(late.length).toBeGreaterThan(0);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(0.3);
    await c.stop();
  });

  it('times snapshot saves and installs, and counts snapshots a follower could not load', async () => {
    let lagger = '';
    let refuseLoads = false;
    const { c, sink, value } = await cluster(6, {
      nodeOptions: { snapshotLogMargin: 0 },
      wrapStateMachine: (peer, _group, sm): StateMachine<string> => ({
        onApply: (entries) => sm.onApply(entries),
        onSnapshotSave: (w) => sm.onSnapshotSave(w),
        onSnapshotLoad: async (r) => {
          if (refuseLoads && peer === lagger) throw new Error('not today');
          return sm.onSnapshotLoad(r);
        },
      }),
    });
    const leader = await c.waitForLeader();
    lagger = c.peers.find((p) => p !== leader.id) as string;
    c.crash(lagger);
    for (let i = 0; i < 30; i++) await c.propose(`k${i}`);
    await c.settle(leader.snapshot());
    expect(sink(leader.id).observations('snapshot_save_duration_seconds', g)).toHaveLength(1);

    refuseLoads = true;
    await c.boot(lagger);
    await c.runUntil(
      () => (value(lagger, 'snapshot_install_refused_total', { reason: 'unloadable' }) ?? 0) > 0,
      'the lagger to refuse the snapshot',
    );
    expect(sink(lagger).observations('snapshot_install_duration_seconds', g)).toHaveLength(0);
    refuseLoads = false;
    await c.runUntil(
      () => sink(lagger).observations('snapshot_install_duration_seconds', g).length === 1,
      'the lagger to install the snapshot',
    );
    await c.runUntil(
      () => c.node(lagger)?.appliedIndex === leader.appliedIndex,
      'the lagger to catch up',
    );
    // Restored from a snapshot: the indexes jump, the counters count only what came after.
    expect(value(lagger, 'raft_applied_index')).toBe(leader.appliedIndex);
    expect(value(lagger, 'raft_proposals_applied_total')).toBeLessThan(leader.appliedIndex);
    await c.stop();
  });

  it('asks its sink for each series once, never while it works', async () => {
    const { c, sink } = await cluster(7);
    let leader = await c.waitForLeader();
    for (let i = 0; i < 20; i++) await c.propose(`k${i}`);
    const target = c.peers.find((p) => p !== leader.id) as string;
    await c.settle(leader.transferLeadership(target));
    leader = await c.waitForLeader();
    for (let i = 0; i < 20; i++) await c.propose(`j${i}`);
    for (const p of c.peers) {
      const asked = sink(p)
        .series()
        .filter((s) => s.requests !== 1)
        .map((s) => `${s.name} ${JSON.stringify(s.labels)} x${s.requests}`);
      expect(asked).toEqual([]);
      expect(
        sink(p)
          .series()
          .every((s) => s.labels.group === 'g'),
      ).toBe(true);
    }
    await c.stop();
  });
});

/** Runs the simulation until `promise` settles; the code it failed with (undefined: it did not). */
async function codeOf(
  c: SimCluster,
  promise: Promise<unknown> | undefined,
): Promise<string | undefined> {
  if (promise === undefined) throw new Error('no node to ask');
  try {
    await c.settle(promise);
    return undefined;
  } catch (error) {
    if (!RaftError.is(error)) throw error;
    return error.code;
  }
}
