import type {
  AppendEntriesRequest,
  InstallSnapshotRequest,
  LogEntry,
  LogStorage,
} from '@kontiki/core';
import { nodeInternals } from '@kontiki/core/internal';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

// Each of these failed before its fix (found by review).
const T = 100;
const enc = new TextEncoder();

describe('installing a leader snapshot on a follower', () => {
  it('a follower whose entries never reached its disk is not counted as holding them after a snapshot', async () => {
    let hang = false;
    let lagger = '';
    const c = new SimCluster({
      seed: 11,
      peers: 3,
      electionTimeoutMs: T,
      nodeOptions: { snapshotLogMargin: 0 },
      wrapLogStorage: (peer, _g, s): LogStorage => ({
        firstIndex: () => s.firstIndex(),
        lastIndex: () => s.lastIndex(),
        entries: (a, b, m) => s.entries(a, b, m),
        term: (i) => s.term(i),
        // The lagger's disk stops completing writes: they stay in memory only.
        append: (e: readonly LogEntry[]) =>
          hang && peer === lagger ? new Promise(() => {}) : s.append(e),
        truncateSuffix: (i) => s.truncateSuffix(i),
        truncatePrefix: (i) => s.truncatePrefix(i),
        reset: (i) => s.reset(i),
        close: () => s.close(),
      }),
    });
    await c.start();
    const leader = await c.waitForLeader();
    lagger = c.peers.find((p) => p !== leader.id) as string;
    for (let i = 0; i < 3; i++) await c.propose(`a${i}`);
    await c.runFor(T);
    hang = true;
    for (let i = 0; i < 10; i++) await c.propose(`b${i}`);
    await c.runFor(T);
    await c.settle(leader.snapshot());
    await c.runFor(3 * T);
    const view = leader.status().peers.find((p) => p.peerId === lagger);
    const durable = c.node(lagger)?.status().durableIndex ?? 0;
    expect(view?.matchIndex).toBeLessThanOrEqual(durable);
    c.crash(lagger);
    hang = false;
    await c.boot(lagger);
    const after = await c.propose('after');
    await c.runUntil(
      () => (c.node(lagger)?.appliedIndex ?? 0) >= after.index,
      'the lagger to catch up',
      30 * T,
    );
    await c.stop();
  });

  it('a follower read waiting for an index that a snapshot install covers is answered', async () => {
    const c = new SimCluster({
      seed: 21,
      peers: 3,
      electionTimeoutMs: T,
      nodeOptions: { snapshotLogMargin: 0 },
    });
    await c.start();
    const leader = await c.waitForLeader();
    const f = c.peers.find((p) => p !== leader.id) as string;
    c.crash(f);
    for (let i = 0; i < 20; i++) await c.propose(`k${i}`);
    await c.settle(leader.snapshot());
    c.network.setFilter((m) =>
      m.method === 'installSnapshot' && m.kind === 'request' ? { delayMs: 30 } : 'deliver',
    );
    await c.boot(f);
    await c.runUntil(() => c.node(f)?.leader === leader.id, 'f to know the leader');
    const started = c.now;
    const index = await c.settle(
      c.node(f)?.readIndex({ timeoutMs: 10 * T }) ?? Promise.reject(new Error('down')),
    );
    expect(index).toBeGreaterThanOrEqual(20);
    expect(c.now - started).toBeLessThan(5 * T);
    await c.stop();
  });

  it('a duplicated final snapshot chunk is written once; the published snapshot is intact', async () => {
    const c = new SimCluster({
      seed: 31,
      peers: 3,
      electionTimeoutMs: T,
      nodeOptions: { snapshotLogMargin: 0, maxBytesPerRpc: 256 },
    });
    await c.start();
    const leader = await c.waitForLeader();
    const f = c.peers.find((p) => p !== leader.id) as string;
    c.crash(f);
    for (let i = 0; i < 30; i++) await c.propose(`k${i}`);
    await c.settle(leader.snapshot());
    const leaderSnap = await c.disk(leader.id).snapshots.openLatest();
    let finalChunk: InstallSnapshotRequest | undefined;
    c.network.setFilter((m) => {
      if (m.kind === 'request' && m.method === 'installSnapshot' && m.to === f) {
        if (finalChunk) return 'drop';
        if ((m.payload as InstallSnapshotRequest).done) {
          finalChunk = m.payload as InstallSnapshotRequest;
          return 'drop';
        }
      }
      return 'deliver';
    });
    await c.boot(f);
    await c.runUntil(() => finalChunk !== undefined, 'the final chunk');
    const node = c.node(f);
    if (!node || !finalChunk) throw new Error('no node or chunk');
    await c.settle(
      Promise.all([
        nodeInternals(node).handleInstallSnapshot(finalChunk),
        nodeInternals(node).handleInstallSnapshot(finalChunk),
      ]),
    );
    const mine = await c.disk(f).snapshots.openLatest();
    expect(mine?.size).toBe(leaderSnap?.size);
    c.crash(f);
    await c.boot(f);
    expect(c.node(f)?.status().snapshotIndex).toBe(leaderSnap?.meta.lastIncludedIndex);
    await c.stop();
  });

  it('a snapshot install never moves a state machine backwards past entries it already applied', async () => {
    const slow = 1000;
    const c = new SimCluster({
      seed: 7,
      peers: 3,
      electionTimeoutMs: slow,
      nodeOptions: { snapshotLogMargin: 0, maxBytesPerRpc: 64, rpcTimeoutMs: 300 },
    });
    await c.start();
    const leader = await c.waitForLeader();
    const f3 = c.peers.filter((p) => p !== leader.id)[1] as string;
    for (let i = 0; i < 4; i++) await c.propose(`p${i}`);
    await c.runFor(50);
    const base = nodeInternals(leader).log.lastIndex;
    let stale = true;
    let sawChunk0 = false;
    c.network.setReorder(true);
    c.network.setFilter((m) => {
      if (m.kind !== 'request' || m.to !== f3 || m.from !== leader.id) return 'deliver';
      if (m.method === 'appendEntries') {
        const p = m.payload as AppendEntriesRequest;
        if (stale && p.entries.length > 0 && (p.entries[0]?.index ?? 0) > base)
          return { delayMs: 500 };
      }
      if (m.method === 'installSnapshot') {
        const p = m.payload as InstallSnapshotRequest;
        if (p.offset === 0) sawChunk0 = true;
        if (p.done) return { delayMs: 280 };
      }
      return 'deliver';
    });
    const fire = (k: string) => leader.apply(enc.encode(k)).catch(() => {});
    for (let i = 0; i < 7; i++) fire(`a${i}`);
    await c.runUntil(() => leader.appliedIndex >= base + 7, 'batch A applied');
    await c.settle(leader.snapshot());
    for (let i = 0; i < 8; i++) fire(`b${i}`);
    await c.runUntil(() => leader.appliedIndex >= base + 15, 'batch B applied');
    stale = false;
    await c.runUntil(() => sawChunk0, 'the snapshot stream to start', 2000);
    await c.runFor(2);
    await c.settle(leader.snapshot());
    await c.runUntil(
      () => (c.log(f3)?.lastIndex ?? 0) >= base + 15,
      'the stale AppendEntries to arrive',
      2000,
    );
    let maxApplied = 0;
    // The invariant checker fails the run if the state machine loads an older snapshot.
    await c
      .runUntil(
        () => {
          maxApplied = Math.max(maxApplied, c.node(f3)?.appliedIndex ?? 0);
          return false;
        },
        'nothing',
        1500,
      )
      .catch((e: unknown) => {
        if (!String(e).includes('timed out')) throw e;
      });
    expect(c.node(f3)?.appliedIndex).toBe(maxApplied);
    expect(c.node(f3)?.role).toBe('follower');
    await c.stop();
  });
});
