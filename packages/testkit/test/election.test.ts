import { RaftError, type RequestVoteRequest } from '@kontiki/core';
import { nodeInternals } from '@kontiki/core/internal';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

const T = 100;

async function cluster3(seed: number, peers = 3): Promise<SimCluster> {
  const c = new SimCluster({ seed, peers, electionTimeoutMs: T });
  await c.start();
  return c;
}

describe('leader election (Raft paper 5.2, braft node)', () => {
  it('elects one leader that every follower recognises, within a few election timeouts', async () => {
    const c = await cluster3(1);
    const leader = await c.waitForLeader('g', 5 * T);
    await c.runUntil(
      () => c.members().every((m) => m.node.leader === leader.id && m.node.term === leader.term),
      'every node to follow the leader',
      2 * T,
    );
    expect(c.members().filter((m) => m.node.role === 'leader')).toHaveLength(1);
    expect(leader.term).toBe(1);
    await c.stop();
  });

  it('a single-node group elects itself at once', async () => {
    const c = await cluster3(2, 1);
    const leader = await c.waitForLeader('g', 3 * T);
    expect(leader.id).toBe('n1');
    const r = await c.propose('alone');
    expect(r.result).toBe(`${r.index}:alone`);
    await c.stop();
  });

  it('holds no new election while the leader is healthy: the term stays put for 10 election timeouts', async () => {
    const c = await cluster3(3, 5);
    const leader = await c.waitForLeader();
    const term = leader.term;
    await c.runFor(10 * T);
    for (const m of c.members()) {
      expect(m.node.term).toBe(term);
      expect(m.node.leader).toBe(leader.id);
    }
    await c.stop();
  });

  it('re-elects within a few election timeouts after the leader dies', async () => {
    const c = await cluster3(4, 5);
    const old = await c.waitForLeader();
    c.crash(old.id);
    const crashedAt = c.now;
    const next = await c.waitForLeader('g', 6 * T);
    expect(next.id).not.toBe(old.id);
    expect(next.term).toBeGreaterThan(old.term);
    // Election timer in [T, 1.3 T) from the last contact, then a pre-vote and a vote round.
    expect(c.now - crashedAt).toBeLessThan(4 * T);
    await c.stop();
  });

  it('a partitioned follower that rejoins neither raises the term nor deposes the leader (pre-vote + lease)', async () => {
    const c = await cluster3(5, 5);
    const leader = await c.waitForLeader();
    const term = leader.term;
    const follower = c.peers.find((p) => p !== leader.id) as string;
    c.network.isolate(follower, c.peers);
    await c.runFor(10 * T);
    // Alone, it keeps pre-voting and never wins a pre-vote, so it never bumps its term.
    expect(c.node(follower)?.term).toBe(term);
    expect(c.node(follower)?.role).toBe('follower');
    c.network.heal();
    c.network.setDelay(0.2, 1);
    await c.runFor(5 * T);
    expect(c.leader()?.id).toBe(leader.id);
    for (const m of c.members()) expect(m.node.term).toBe(term);
    expect(c.node(follower)?.leader).toBe(leader.id);
    await c.stop();
  });

  it('within the lease of a live leader, a follower refuses a RequestVote of a later term and keeps its term (section 6)', async () => {
    const c = await cluster3(6);
    const leader = await c.waitForLeader();
    const follower = c.node(c.peers.find((p) => p !== leader.id) as string);
    if (!follower) throw new Error('no follower');
    const term = follower.term;
    const request: RequestVoteRequest = {
      groupId: 'g',
      from: 'intruder',
      to: follower.id,
      term: term + 5,
      preVote: false,
      lastLogIndex: 1_000,
      lastLogTerm: term + 4,
    };
    const response = await nodeInternals(follower).handleRequestVote(request);
    // Refused, naming the leader whose lease it keeps (a lagging member learns of it so).
    expect(response).toEqual({ term, granted: false, leaderId: follower.leader });
    expect(follower.term).toBe(term);
    // Once the leader is gone for an election timeout, the same request wins the vote.
    // (The third node goes down too, so that no new leader's lease starts meanwhile.)
    for (const p of c.peers) if (p !== follower.id) c.crash(p);
    await c.runFor(T + 1);
    const later = await c.settle(
      nodeInternals(follower).handleRequestVote({ ...request, term: follower.term + 5 }),
    );
    expect(later.granted).toBe(true);
    await c.stop();
  });

  it('an isolated leader steps down once no quorum answered for two election timeouts (check-quorum)', async () => {
    const c = await cluster3(7, 5);
    const leader = await c.waitForLeader();
    c.network.isolate(leader.id, c.peers);
    const isolatedAt = c.now;
    await c.runUntil(() => leader.role !== 'leader', 'the isolated leader to step down', 4 * T);
    // Answers are counted when they arrive, over a window of 2 T, checked every T.
    expect(c.now - isolatedAt).toBeLessThanOrEqual(3 * T + 1);
    expect(c.now - isolatedAt).toBeGreaterThanOrEqual(2 * T - T / 10);
    expect(leader.role).toBe('follower');
    // The majority side elects a new leader meanwhile.
    await c.runUntil(
      () => c.members().some((m) => m.peer !== leader.id && m.node.role === 'leader'),
      'a new leader on the majority side',
      6 * T,
    );
    await c.stop();
  });

  it('elect-self persists the new term and the self-vote before any RequestVote leaves', async () => {
    const c = await cluster3(8, 3);
    const checked: string[] = [];
    const problems: string[] = [];
    c.network.setFilter((m) => {
      if (m.kind === 'request' && m.method === 'requestVote') {
        const req = m.payload as RequestVoteRequest;
        if (!req.preVote) {
          void c
            .disk(m.from)
            .meta.load()
            .then((meta) => {
              checked.push(m.from);
              if (meta.term < req.term || meta.votedFor !== m.from) {
                problems.push(
                  `${m.from} asked for votes in term ${req.term} with ${JSON.stringify(meta)} on disk`,
                );
              }
            });
        }
      }
      return 'deliver';
    });
    await c.waitForLeader();
    c.crash(c.leader()?.id as string);
    await c.waitForLeader();
    expect(checked.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    await c.stop();
  });

  it('a candidate whose log is behind gets no vote (election restriction, 5.4.1)', async () => {
    const c = await cluster3(9, 3);
    const leader = await c.waitForLeader();
    await c.propose('a');
    await c.propose('b');
    const follower = c.node(c.peers.find((p) => p !== leader.id) as string);
    if (!follower) throw new Error('no follower');
    for (const p of c.peers) if (p !== follower.id) c.crash(p);
    await c.runFor(T + 1);
    const stale = await c.settle(
      nodeInternals(follower).handleRequestVote({
        groupId: 'g',
        from: 'stale',
        to: follower.id,
        term: follower.term + 1,
        preVote: false,
        lastLogIndex: 1,
        lastLogTerm: 1,
      }),
    );
    expect(stale.granted).toBe(false);
    // It still adopted the later term (the request was not refused for the lease).
    expect(stale.term).toBe(follower.term);
    const preVote = await nodeInternals(follower).handleRequestVote({
      groupId: 'g',
      from: 'stale',
      to: follower.id,
      term: follower.term + 1,
      preVote: true,
      lastLogIndex: 1,
      lastLogTerm: 1,
    });
    expect(preVote.granted).toBe(false);
    await c.stop();
  });

  it('grants at most one vote per term, and remembers it across a restart', async () => {
    const c = await cluster3(10, 3);
    await c.waitForLeader();
    const leader = c.leader();
    if (!leader) throw new Error('no leader');
    const voterId = c.peers.find((p) => p !== leader.id) as string;
    for (const p of c.peers) if (p !== voterId) c.crash(p);
    await c.runFor(T + 1);
    const voter = c.node(voterId);
    if (!voter) throw new Error('no voter');
    const term = voter.term + 3;
    const ask = (from: string) =>
      nodeInternals(c.node(voterId) ?? voter).handleRequestVote({
        groupId: 'g',
        from,
        to: voterId,
        term,
        preVote: false,
        lastLogIndex: 100,
        lastLogTerm: term - 1,
      });
    expect((await c.settle(ask('x'))).granted).toBe(true);
    // Let the vote reach the disk, then restart: the second candidate is still refused.
    await c.runFor(10);
    await c.restart(voterId);
    expect((await c.settle(ask('y'))).granted).toBe(false);
    expect((await c.settle(ask('x'))).granted).toBe(true);
    await c.stop();
  });

  it('a stopped node answers RPCs with SHUTDOWN', async () => {
    const c = await cluster3(11, 3);
    const leader = await c.waitForLeader();
    const follower = c.node(c.peers.find((p) => p !== leader.id) as string);
    if (!follower) throw new Error('no follower');
    await c.settle(follower.shutdown());
    await expect(
      nodeInternals(follower).handleAppendEntries({
        groupId: 'g',
        from: leader.id,
        to: follower.id,
        term: leader.term,
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [],
        leaderCommit: 0,
      }),
    ).rejects.toSatisfy((e: unknown) => RaftError.is(e, 'SHUTDOWN'));
    await c.stop();
  });
});
