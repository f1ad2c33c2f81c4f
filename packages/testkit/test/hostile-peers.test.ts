import {
  EntryType,
  ErrorCode,
  type InstallSnapshotRequest,
  RaftError,
  type RaftNode,
  type RpcHandler,
} from '@kontiki/core';
import { nodeInternals } from '@kontiki/core/internal';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

// Each of these is an attack that worked before the request gate (issue: hostile peers).
const T = 100;
const enc = new TextEncoder();

async function cluster(seed: number) {
  const c = new SimCluster({ seed, peers: 3, electionTimeoutMs: T });
  await c.start();
  const leader = await c.waitForLeader();
  await c.propose('a');
  await c.propose('b');
  await c.runFor(2 * T);
  const followers = c.peers.filter((p) => p !== leader.id);
  const follower = c.node(followers[0] as string) as RaftNode<string>;
  return { c, leader, follower };
}

/** What the transport would call on `node`: the gate runs first, as for any request. */
function door(node: RaftNode<string>): RpcHandler {
  return nodeInternals(node).rpcHandler();
}

/** Everything an attack must leave as it was. */
function state(c: SimCluster, node: RaftNode<string>) {
  const s = node.status();
  return {
    role: s.role,
    term: s.term,
    votedFor: s.votedFor,
    leaderId: s.leaderId,
    lastLogIndex: s.lastLogIndex,
    commitIndex: s.commitIndex,
    configuration: s.configuration,
    applied: c.stateMachine(node.id)?.keys(),
  };
}

async function refused(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => new Error('accepted'),
    (err: unknown) => err,
  );
  expect(RaftError.is(e, code as RaftError['code'])).toBe(true);
}

describe('requests from peers that are not members are refused at the door', () => {
  it('an AppendEntries from a stranger, in the current term, appends nothing', async () => {
    const { c, follower } = await cluster(201);
    const before = state(c, follower);
    const last = follower.status().lastLogIndex;
    await refused(
      door(follower).appendEntries({
        groupId: 'g0',
        from: 'mallory',
        to: follower.id,
        term: follower.term,
        prevLogIndex: last,
        prevLogTerm: follower.status().lastLogTerm,
        entries: [
          { index: last + 1, term: follower.term, type: EntryType.Data, data: enc.encode('pwned') },
        ],
        leaderCommit: last + 1,
      }),
      ErrorCode.NOT_MEMBER,
    );
    await c.runFor(2 * T);
    expect(state(c, follower).applied).not.toContain('pwned');
    expect(state(c, follower)).toEqual({ ...before, applied: state(c, follower).applied });
    expect(c.node(follower.id)?.status().lastLogIndex).toBe(before.lastLogIndex);
    await c.stop();
  });

  it('a vote, a pre-vote or a TimeoutNow from a stranger changes no term and forces no election', async () => {
    const { c, leader, follower } = await cluster(202);
    const before = state(c, follower);
    const leaderBefore = state(c, leader);
    const ask = { groupId: 'g0', from: 'mallory', lastLogIndex: 1e6, lastLogTerm: 1 };
    await refused(
      door(follower).requestVote({
        ...ask,
        to: follower.id,
        term: follower.term + 7,
        preVote: false,
      }),
      ErrorCode.NOT_MEMBER,
    );
    await refused(
      door(leader).requestVote({ ...ask, to: leader.id, term: leader.term + 7, preVote: true }),
      ErrorCode.NOT_MEMBER,
    );
    await refused(
      door(follower).timeoutNow({
        groupId: 'g0',
        from: 'mallory',
        to: follower.id,
        term: follower.term,
      }),
      ErrorCode.NOT_MEMBER,
    );
    expect(state(c, follower)).toEqual(before);
    expect(state(c, leader)).toEqual(leaderBefore);
    await c.stop();
  });

  it('an InstallSnapshot from a stranger installs nothing', async () => {
    const { c, follower } = await cluster(203);
    const before = state(c, follower);
    const req: InstallSnapshotRequest = {
      groupId: 'g0',
      from: 'mallory',
      to: follower.id,
      term: follower.term + 1,
      meta: { lastIncludedIndex: 500, lastIncludedTerm: 1, configuration: { voters: ['mallory'] } },
      offset: 0,
      data: enc.encode('[]'),
      done: true,
    };
    await refused(door(follower).installSnapshot(req), ErrorCode.NOT_MEMBER);
    expect(state(c, follower)).toEqual(before);
    expect(follower.status().snapshotIndex).toBe(0);
    await c.stop();
  });

  it('a term of 2^53 - 1, even from a member, is refused: elections stay possible', async () => {
    const { c, leader, follower } = await cluster(204);
    const before = state(c, follower);
    for (const from of ['mallory', leader.id]) {
      await refused(
        door(follower).requestVote({
          groupId: 'g0',
          from,
          to: follower.id,
          term: Number.MAX_SAFE_INTEGER,
          preVote: false,
          lastLogIndex: 1e6,
          lastLogTerm: 5,
        }),
        ErrorCode.BAD_REQUEST,
      );
    }
    expect(state(c, follower)).toEqual(before);
    // The group still elects: kill the leader and a new one takes over in a normal term.
    c.crash(leader.id);
    const next = await c.waitForLeader();
    expect(next.term).toBeLessThan(before.term + 10);
    await c.propose('after');
    await c.stop();
  });
});

describe('bad input from the leader itself never stops a node', () => {
  it('a snapshot its state machine cannot load is refused; the follower keeps following and restarts fine', async () => {
    const { c, leader, follower } = await cluster(205);
    const before = state(c, follower);
    const garbage: InstallSnapshotRequest = {
      groupId: 'g0',
      from: leader.id,
      to: follower.id,
      term: leader.term,
      meta: {
        lastIncludedIndex: before.lastLogIndex + 50,
        lastIncludedTerm: leader.term,
        configuration: leader.status().configuration,
      },
      offset: 0,
      data: enc.encode('this is not a snapshot of the simulator state machine'),
      done: true,
    };
    await refused(door(follower).installSnapshot(garbage), ErrorCode.BAD_REQUEST);
    expect(follower.role).toBe('follower');
    expect(follower.status().snapshotIndex).toBe(0);
    expect(await c.disk(follower.id).snapshots.openLatest()).toBeNull();
    // It still takes entries, and a restart starts from what it had.
    const after = await c.propose('after-garbage');
    await c.runUntil(
      () => (c.node(follower.id)?.appliedIndex ?? 0) >= after.index,
      'follower applies',
    );
    await c.restart(follower.id);
    await c.runUntil(
      () => c.node(follower.id)?.status().appliedIndex === c.node(leader.id)?.status().appliedIndex,
      'the restarted follower to catch up',
    );
    expect(c.node(follower.id)?.role).toBe('follower');
    expect(c.stateMachine(follower.id)?.keys()).toContain('after-garbage');
    await c.stop();
  });

  it('a configuration entry that is not valid is refused with BAD_REQUEST; the node stays a follower', async () => {
    const { c, leader, follower } = await cluster(206);
    const before = state(c, follower);
    const s = follower.status();
    await refused(
      door(follower).appendEntries({
        groupId: 'g0',
        from: leader.id,
        to: follower.id,
        term: leader.term,
        prevLogIndex: s.lastLogIndex,
        prevLogTerm: s.lastLogTerm,
        entries: [
          {
            index: s.lastLogIndex + 1,
            term: leader.term,
            type: EntryType.Configuration,
            data: enc.encode('{"v":[]}'),
          },
        ],
        leaderCommit: s.commitIndex,
      }),
      ErrorCode.BAD_REQUEST,
    );
    expect(state(c, follower)).toEqual(before);
    await c.propose('still-replicating');
    await c.stop();
  });

  it('an AppendEntries that would overwrite a committed entry is refused, and the node keeps it', async () => {
    const { c, leader, follower } = await cluster(207);
    const s = follower.status();
    const log = () => c.log(follower.id);
    const committedTerm = log()?.termAt(s.commitIndex);
    expect(s.commitIndex).toBeGreaterThan(1);
    // As if from a leader of a later term whose log disagrees at a committed index: only a
    // broken safety rule, or a forged request, can send this.
    const term = leader.term + 1;
    await refused(
      door(follower).appendEntries({
        groupId: 'g0',
        from: leader.id,
        to: follower.id,
        term,
        prevLogIndex: s.commitIndex - 1,
        prevLogTerm: log()?.termAt(s.commitIndex - 1) ?? 0,
        entries: [
          { index: s.commitIndex, term, type: EntryType.Data, data: enc.encode('rewrite') },
        ],
        leaderCommit: s.commitIndex,
      }),
      ErrorCode.BAD_REQUEST,
    );
    expect(follower.role).toBe('follower');
    expect(log()?.termAt(s.commitIndex)).toBe(committedTerm);
    // The group goes on (the real leader meets the later term and a new election follows).
    await c.runFor(5 * T);
    await c.waitForLeader();
    await c.propose('still-serving');
    expect(c.stateMachine(follower.id)?.keys()).not.toContain('rewrite');
    await c.stop();
  });
});

describe('members the node does not know yet', () => {
  it('an authenticated sender it does not know is admitted; credentials naming another peer are not', async () => {
    const { c, leader, follower } = await cluster(208);
    const s = follower.status();
    const append = (from: string) => ({
      groupId: 'g0',
      from,
      to: follower.id,
      term: follower.term,
      prevLogIndex: s.lastLogIndex,
      prevLogTerm: s.lastLogTerm,
      entries: [],
      leaderCommit: s.commitIndex,
    });
    await refused(
      door(follower).appendEntries(append(leader.id), { authenticated: true, peerId: 'mallory' }),
      ErrorCode.UNAUTHENTICATED,
    );
    await refused(door(follower).appendEntries(append('newcomer')), ErrorCode.NOT_MEMBER);
    // With the transport's word that it holds the cluster's credentials, it is a member this
    // node has not heard of yet (added while it was away).
    const r = await door(follower).appendEntries(append('newcomer'), { authenticated: true });
    expect(r.term).toBe(s.term);
    await c.stop();
  });

  it('without authentication, a voter that missed the change adding the leader learns of it from a member', async () => {
    const c = new SimCluster({
      seed: 209,
      peers: 4,
      initialVoters: ['n1', 'n2', 'n3'],
      electionTimeoutMs: T,
      authenticated: false,
    });
    await c.start();
    let leader = await c.waitForLeader();
    // n3 is away while n4 joins and takes over the lead.
    const away = leader.id === 'n3' ? 'n1' : 'n3';
    c.network.isolate(
      away,
      c.peers.filter((p) => p !== away),
    );
    await c.settle(leader.changeConfiguration({ voters: ['n1', 'n2', 'n3', 'n4'] }));
    await c.settle(leader.transferLeadership('n4'));
    leader = await c.waitForLeader();
    expect(leader.id).toBe('n4');
    const written = await c.propose('while-away');
    expect(c.log(away)?.lastIndex ?? 0).toBeLessThan(written.index);
    c.network.heal();
    // The returning voter refuses n4 at first (a stranger to it), asks for votes, hears
    // from the members it knows who leads, and from then on follows n4.
    await c.runUntil(
      () => (c.node(away)?.appliedIndex ?? 0) >= written.index,
      'the returning voter to catch up',
      60 * T,
    );
    expect(c.node(away)?.leader).toBe('n4');
    expect(c.stateMachine(away)?.keys()).toContain('while-away');
    await c.stop();
  });
});
