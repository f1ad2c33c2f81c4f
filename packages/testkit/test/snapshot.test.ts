import { ErrorCode, type InstallSnapshotRequest, RaftError } from '@kontiki/core';
import { nodeInternals } from '@kontiki/core/internal';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

const T = 100;

async function cluster(seed: number, nodeOptions = {}) {
  const c = new SimCluster({ seed, peers: 3, electionTimeoutMs: T, nodeOptions });
  await c.start();
  const leader = await c.waitForLeader();
  return { c, leader };
}

describe('snapshots (Raft paper section 7)', () => {
  it('a snapshot compacts the log, keeping the configured margin behind it', async () => {
    const { c, leader } = await cluster(101, { snapshotLogMargin: 10 });
    for (let i = 0; i < 60; i++) await c.propose(`k${i}`);
    const meta = await c.settle(leader.snapshot());
    expect(meta?.lastIncludedIndex).toBe(leader.appliedIndex);
    const s = leader.status();
    expect(s.snapshotIndex).toBe(meta?.lastIncludedIndex);
    expect(s.firstLogIndex).toBe((meta?.lastIncludedIndex ?? 0) - 10 + 1);
    // Nothing new applied: a second call has nothing to do.
    expect(await c.settle(leader.snapshot())).toBeUndefined();
    await c.stop();
  });

  it('a follower that missed compacted entries catches up through InstallSnapshot, in chunks', async () => {
    const { c, leader } = await cluster(102, { snapshotLogMargin: 0, maxBytesPerRpc: 256 });
    const lagger = c.peers.find((p) => p !== leader.id) as string;
    c.crash(lagger);
    for (let i = 0; i < 80; i++) await c.propose(`v${i}`);
    await c.settle(leader.snapshot());
    expect(leader.status().firstLogIndex).toBeGreaterThan(1);
    const chunks: InstallSnapshotRequest[] = [];
    c.network.setFilter((m) => {
      if (m.kind === 'request' && m.method === 'installSnapshot')
        chunks.push(m.payload as InstallSnapshotRequest);
      return 'deliver';
    });
    await c.boot(lagger);
    let installed = 0;
    c.node(lagger)?.on('snapshotInstalled', () => installed++);
    const after = await c.propose('after-snapshot');
    await c.runUntil(
      () => (c.node(lagger)?.appliedIndex ?? 0) >= after.index,
      'the lagger to catch up',
      20 * T,
    );
    expect(installed).toBe(1);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks[0]?.offset).toBe(0);
    expect(chunks[chunks.length - 1]?.done).toBe(true);
    expect(c.appliedKeys(lagger)).toEqual(c.appliedKeys(leader.id));
    expect(c.appliedKeys(lagger)).toHaveLength(81);
    await c.stop();
  });

  it('a node restarts from its snapshot plus the log after it', async () => {
    const { c, leader } = await cluster(103, { snapshotLogMargin: 5 });
    for (let i = 0; i < 30; i++) await c.propose(`a${i}`);
    for (const p of c.peers) await c.settle(c.node(p)?.snapshot() ?? Promise.resolve(undefined));
    for (let i = 0; i < 10; i++) await c.propose(`b${i}`);
    const expected = c.appliedKeys(leader.id);
    for (const p of c.peers) c.crash(p);
    for (const p of c.peers) await c.boot(p);
    const restarted = await c.waitForLeader();
    const final = await c.propose('after-restart');
    await c.runUntil(
      () => c.members().every((m) => m.node.appliedIndex >= final.index),
      'everyone to apply',
    );
    for (const p of c.peers) {
      expect(c.appliedKeys(p)).toEqual([...expected, 'after-restart']);
      expect(c.node(p)?.status().snapshotIndex).toBeGreaterThan(0);
    }
    expect(restarted.status().firstLogIndex).toBeGreaterThan(1);
    await c.stop();
  });

  it('a leader whose whole log went into a snapshot still counts as a working leader', async () => {
    const { c, leader } = await cluster(107, { snapshotLogMargin: 0 });
    await c.propose('only');
    await c.settle(leader.snapshot());
    const s = leader.status();
    expect(s.firstLogIndex).toBe(s.lastLogIndex + 1);
    expect(c.stableLeader()).toBe(leader);
    await c.stop();
  });

  it('the snapshot timer takes snapshots on its own', async () => {
    const { c, leader } = await cluster(104, { snapshotIntervalMs: 1000, snapshotLogMargin: 0 });
    let saved = 0;
    leader.on('snapshotSaved', () => saved++);
    for (let i = 0; i < 10; i++) await c.propose(`t${i}`);
    await c.runFor(3000);
    expect(saved).toBeGreaterThan(0);
    expect(leader.status().snapshotIndex).toBeGreaterThan(0);
    await c.stop();
  });

  it('asking for a snapshot without snapshot support is a BAD_REQUEST', async () => {
    const c = new SimCluster({
      seed: 105,
      peers: 1,
      electionTimeoutMs: T,
      wrapStateMachine: (_p, _g, sm) => ({ onApply: (e) => sm.onApply(e) }),
    });
    await c.start();
    const leader = await c.waitForLeader();
    await c.propose('x');
    const e = await c.settle(leader.snapshot()).catch((err: unknown) => err);
    expect(RaftError.is(e, ErrorCode.BAD_REQUEST)).toBe(true);
    await c.stop();
  });

  it('a stale or out-of-order chunk is refused and changes nothing', async () => {
    const { c, leader } = await cluster(106);
    const follower = c.node(c.peers.find((p) => p !== leader.id) as string);
    if (!follower) throw new Error('no follower');
    const before = follower.status();
    const meta = {
      lastIncludedIndex: 50,
      lastIncludedTerm: leader.term,
      configuration: { voters: c.peers },
    };
    const r = await c.settle(
      nodeInternals(follower).handleInstallSnapshot({
        groupId: 'g',
        from: leader.id,
        to: follower.id,
        term: leader.term,
        meta,
        offset: 100,
        data: new Uint8Array(10),
        done: true,
      }),
    );
    expect(r.success).toBe(false);
    expect(follower.status().appliedIndex).toBe(before.appliedIndex);
    expect(follower.status().snapshotIndex).toBe(0);
    await c.stop();
  });
});
