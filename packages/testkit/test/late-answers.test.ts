import type { RequestVoteRequest } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

// T = 100 virtual ms, so rpcTimeoutMs = 50 and the heartbeat interval 10.
const T = 100;

async function cluster(seed: number, peers: number): Promise<SimCluster> {
  const c = new SimCluster({ seed, peers, electionTimeoutMs: T });
  await c.start();
  return c;
}

describe('answers that arrive after rpcTimeoutMs still count (issue 9)', () => {
  it('votes answered after rpcTimeoutMs, but within the round, elect the candidate', async () => {
    const c = new SimCluster({ seed: 11, peers: 5, electionTimeoutMs: T });
    // Every answer to a pre-vote or a vote takes 0.8 T: past rpcTimeoutMs (T/2), within the round.
    c.network.setFilter((m) =>
      m.kind === 'response' && m.method === 'requestVote'
        ? { delayMs: 0.8 * T, overtake: true }
        : 'deliver',
    );
    await c.start();
    const leader = await c.waitForLeader('g', 20 * T);
    expect(leader.role).toBe('leader');
    await c.stop();
  });

  it('a lost vote request is asked again within its round: the candidate wins its first term', async () => {
    const c = new SimCluster({ seed: 12, peers: 5, electionTimeoutMs: T });
    const asked = new Set<string>();
    c.network.setFilter((m) => {
      if (m.kind !== 'request' || m.method !== 'requestVote') return 'deliver';
      const req = m.payload as RequestVoteRequest;
      // Only n1 may stand (the others' pre-votes are lost), and its first RequestVote to each
      // peer is lost too.
      if (req.from !== 'n1') return 'drop';
      if (req.preVote || asked.has(req.to)) return 'deliver';
      asked.add(req.to);
      return 'drop';
    });
    await c.start();
    const leader = await c.waitForLeader('g', 20 * T);
    expect(asked.size).toBe(4);
    expect({ id: leader.id, term: leader.term }).toEqual({ id: 'n1', term: 1 });
    await c.stop();
  });

  it('a leader whose followers all answer 1.5 T late keeps leading and commits (check-quorum counts late answers)', async () => {
    const c = await cluster(13, 3);
    const leader = await c.waitForLeader();
    const term = leader.term;
    c.network.setFilter((m) =>
      m.kind === 'response' && m.method === 'appendEntries'
        ? { delayMs: 1.5 * T, overtake: true }
        : 'deliver',
    );
    await c.runFor(20 * T);
    expect(leader.role).toBe('leader');
    expect(leader.term).toBe(term);
    const r = await c.propose('slow but steady', 'g', 10 * T);
    expect(r.result).toBe(`${r.index}:slow but steady`);
    await c.stop();
  });

  it('a leader that hears nothing for two election timeouts steps down, late answers or not', async () => {
    const c = await cluster(14, 3);
    const leader = await c.waitForLeader();
    // Answers are held back for 10 T: nothing arrives within the check-quorum window.
    c.network.setFilter((m) =>
      m.kind === 'response' ? { delayMs: 10 * T, overtake: true } : 'deliver',
    );
    const from = c.now;
    await c.runUntil(() => leader.role !== 'leader', 'the leader to step down', 5 * T);
    expect(c.now - from).toBeLessThanOrEqual(3 * T + 1);
    await c.stop();
  });
});
