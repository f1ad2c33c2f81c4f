import {
  type Clock,
  ErrorCode,
  RaftError,
  RaftNode,
  type RequestVoteResponse,
  type Transport,
} from '@kontiki/core';
import { nodeInternals } from '@kontiki/core/internal';
import { MemoryLogStorage, MemoryMetaStorage } from '@kontiki/storage-memory';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

// Each of these reproduced a bug found by review of the core; each failed before its fix.
const T = 100;

describe('state changes are atomic, durable and final', () => {
  it('a termChange listener never sees a leader in a term it does not lead (events fire after the transition)', async () => {
    const c = new SimCluster({ seed: 81, peers: 3, electionTimeoutMs: T });
    await c.start();
    const leader = await c.waitForLeader();
    const seen: Array<{ role: string; term: number; attempt?: unknown }> = [];
    leader.on('termChange', (e) => {
      const record: { role: string; term: number; attempt?: unknown } = {
        role: leader.role,
        term: e.term,
      };
      if (leader.isLeader) record.attempt = 'accepted';
      else
        leader.apply(new TextEncoder().encode('evil')).catch((err: unknown) => {
          record.attempt = err;
        });
      seen.push(record);
    });
    const lastBefore = leader.status().lastLogIndex;
    // Another node of a later term speaks as leader.
    const other = c.peers.find((p) => p !== leader.id) as string;
    await c.settle(
      nodeInternals(leader).handleAppendEntries({
        groupId: 'g',
        from: other,
        to: leader.id,
        term: leader.term + 1,
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [],
        leaderCommit: 0,
      }),
    );
    await c.runFor(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.role).toBe('follower');
    expect(RaftError.is(seen[0]?.attempt, ErrorCode.NOT_LEADER)).toBe(true);
    expect(leader.status().lastLogIndex).toBe(lastBefore);
    await c.stop();
  });

  it('two votes one microtask apart both reach the disk before they are answered', async () => {
    const clock: Clock = { now: () => 0, setTimer: () => ({}), clearTimer: () => {} };
    const transport: Transport = {
      call: () => new Promise(() => {}),
      serve: () => () => {},
      close: async () => {},
    };
    const hop = (n: number, fn: () => void): Promise<void> =>
      n === 0 ? Promise.resolve(fn()) : Promise.resolve().then(() => hop(n - 1, fn));
    for (let depth = 0; depth <= 6; depth++) {
      const meta = new MemoryMetaStorage();
      const node = new RaftNode({
        groupId: 'g',
        peerId: 'n1',
        initialConfiguration: { voters: ['n1', 'n2', 'n3', 'n4', 'n5'] },
        transport,
        logStorage: new MemoryLogStorage(),
        metaStorage: meta,
        stateMachine: { onApply: () => undefined },
        clock,
        random: () => 0.5,
      });
      await node.start();
      const vote = (from: string, term: number) =>
        nodeInternals(node).handleRequestVote({
          groupId: 'g',
          from,
          to: 'n1',
          term,
          preVote: false,
          lastLogIndex: 0,
          lastLogTerm: 0,
        });
      const first = vote('n2', 1);
      let second: Promise<RequestVoteResponse> | undefined;
      await hop(depth, () => {
        second = vote('n3', 2);
      });
      const b = await (second as Promise<RequestVoteResponse>);
      await first;
      // Answered granted means durable: the disk holds the term-2 vote when the answer exists.
      expect(b.granted).toBe(true);
      expect(await meta.load()).toEqual({ term: 2, votedFor: 'n3' });
    }
  });

  it('a late answer from a later term does not bring a shut-down node back to life', async () => {
    const c = new SimCluster({ seed: 3, peers: 3, electionTimeoutMs: T });
    await c.start();
    c.crash('n2');
    c.crash('n3');
    let held: ((r: RequestVoteResponse) => void) | undefined;
    const fake = c.network.endpoint('n3');
    const no = () => Promise.reject(new Error('no'));
    fake.serve('g', {
      requestVote: (req) =>
        req.preVote
          ? Promise.resolve({ term: req.term - 1, granted: true })
          : new Promise((resolve) => {
              held = resolve;
            }),
      appendEntries: no,
      installSnapshot: no,
      timeoutNow: no,
      readIndex: no,
    });
    const n1 = c.node('n1');
    if (!n1) throw new Error('n1 is down');
    await c.runUntil(() => held !== undefined, 'n1 to ask n3 for its vote', 5 * T);
    await c.settle(n1.shutdown());
    held?.({ term: 7, granted: false });
    await c.runFor(10 * T);
    expect(n1.role).toBe('shutdown');
    expect(n1.term).toBeLessThan(7);
    expect(c.clock('n1')?.activeTimers).toBe(0);
    await c.stop();
  });

  it('an AppendEntries whose entries are truncated before they are durable is answered, not stranded', async () => {
    const c = new SimCluster({ seed: 84, peers: 3, electionTimeoutMs: T, diskLatencyMs: 50 });
    await c.start();
    for (const p of ['n2', 'n3']) c.crash(p);
    const n1 = c.node('n1');
    if (!n1) throw new Error('n1 is down');
    const entry = (index: number, term: number) => ({
      index,
      term,
      type: 1 as const,
      data: new Uint8Array([index]),
    });
    const first = nodeInternals(n1).handleAppendEntries({
      groupId: 'g',
      from: 'n2',
      to: 'n1',
      term: 5,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [entry(1, 5), entry(2, 5)],
      leaderCommit: 0,
    });
    let settled = false;
    void first.finally(() => {
      settled = true;
    });
    await c.runFor(0);
    // Before 1..2 reach the disk, a leader of term 6 replaces index 1.
    const second = nodeInternals(n1).handleAppendEntries({
      groupId: 'g',
      from: 'n3',
      to: 'n1',
      term: 6,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [entry(1, 6)],
      leaderCommit: 0,
    });
    await c.runUntil(() => settled, 'the first AppendEntries to be answered', 5 * T);
    expect((await first).success).toBe(false);
    expect((await c.settle(second)).success).toBe(true);
    await c.stop();
  });
});
