import { type Configuration, ErrorCode, RaftError, type RaftNode } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

const T = 100;

function watch<V>(p: Promise<V>) {
  const out: { value?: V; error?: unknown; settled: boolean } = { settled: false };
  p.then(
    (v) => {
      out.value = v;
      out.settled = true;
    },
    (e: unknown) => {
      out.error = e;
      out.settled = true;
    },
  );
  return out;
}

const voters = (n: RaftNode<string> | undefined) =>
  [...(n?.status().configuration.voters ?? [])].sort();

describe('membership changes (joint consensus, Raft paper section 6)', () => {
  it('adds two voters: they catch up, pass through C(old,new), and end up voting', async () => {
    const c = new SimCluster({
      seed: 121,
      peers: 5,
      initialVoters: ['n1', 'n2', 'n3'],
      electionTimeoutMs: T,
    });
    await c.start();
    const leader = await c.waitForLeader();
    for (let i = 0; i < 20; i++) await c.propose(`k${i}`);
    const seen: Configuration[] = [];
    const change = watch(leader.changeConfiguration({ voters: ['n1', 'n2', 'n3', 'n4', 'n5'] }));
    await c.runUntil(
      () => {
        const conf = leader.status().configuration;
        if (seen.length === 0 || JSON.stringify(seen[seen.length - 1]) !== JSON.stringify(conf))
          seen.push(conf);
        return change.settled;
      },
      'the change to finish',
      20 * T,
    );
    expect(change.error).toBeUndefined();
    expect(seen.some((conf) => (conf.oldVoters?.length ?? 0) > 0)).toBe(true);
    for (const p of c.peers) {
      await c.runUntil(() => voters(c.node(p)).length === 5, `${p} to see five voters`);
    }
    expect(c.appliedKeys('n5')).toEqual(c.appliedKeys('n1'));
    // The new voters count: with two of the old ones down, the group still commits.
    c.crash(leader.id === 'n2' ? 'n3' : 'n2');
    c.crash(leader.id === 'n1' ? 'n3' : 'n1');
    await c.waitForLeader('g', 10 * T);
    const r = await c.propose('with-new-voters');
    expect(r.index).toBeGreaterThan(0);
    await c.stop();
  });

  it('removes a follower; the rest go on without it and it stops campaigning', async () => {
    const c = new SimCluster({ seed: 122, peers: 3, electionTimeoutMs: T });
    await c.start();
    const leader = await c.waitForLeader();
    const gone = c.peers.find((p) => p !== leader.id) as string;
    await c.settle(leader.changeConfiguration({ voters: c.peers.filter((p) => p !== gone) }));
    expect(voters(leader)).toEqual(c.peers.filter((p) => p !== gone).sort());
    const goneNode = c.node(gone);
    const termBefore = leader.term;
    await c.runFor(10 * T);
    expect(leader.role).toBe('leader');
    expect(leader.term).toBe(termBefore);
    expect(goneNode?.role).not.toBe('candidate');
    await c.propose('two-of-two');
    await c.stop();
  });

  it('removing the leader: it commits C(new) without counting itself, then steps down', async () => {
    const c = new SimCluster({ seed: 123, peers: 3, electionTimeoutMs: T });
    await c.start();
    const leader = await c.waitForLeader();
    const rest = c.peers.filter((p) => p !== leader.id);
    await c.settle(leader.changeConfiguration({ voters: rest }), 'the change', 20 * T);
    await c.runUntil(() => leader.role !== 'leader', 'the removed leader to step down');
    await c.runUntil(
      () => rest.some((p) => c.node(p)?.role === 'leader'),
      'a new leader among the rest',
      10 * T,
    );
    const r = await c.propose('after-removing-the-leader');
    expect(r.index).toBeGreaterThan(0);
    await c.stop();
  });

  it('adds a learner that receives the log but never votes', async () => {
    const c = new SimCluster({
      seed: 124,
      peers: 4,
      initialVoters: ['n1', 'n2', 'n3'],
      electionTimeoutMs: T,
    });
    await c.start();
    const leader = await c.waitForLeader();
    await c.settle(leader.changeConfiguration({ voters: ['n1', 'n2', 'n3'], learners: ['n4'] }));
    const r = await c.propose('for-the-learner');
    await c.runUntil(() => (c.node('n4')?.appliedIndex ?? 0) >= r.index, 'the learner to apply');
    expect(c.appliedKeys('n4')).toContain('for-the-learner');
    // Two voters down: the learner does not make a quorum.
    for (const p of ['n1', 'n2', 'n3'].filter((x) => x !== leader.id).slice(0, 2)) c.crash(p);
    const stuck = watch(leader.apply(new TextEncoder().encode('no-quorum')));
    await c.runFor(T / 2);
    expect(stuck.value).toBeUndefined();
    expect(c.node('n4')?.role).toBe('follower');
    await c.stop();
  });

  it('refuses a second change while one is in progress, and a bad target', async () => {
    const c = new SimCluster({
      seed: 125,
      peers: 5,
      initialVoters: ['n1', 'n2', 'n3'],
      electionTimeoutMs: T,
    });
    await c.start();
    const leader = await c.waitForLeader();
    const first = watch(leader.changeConfiguration({ voters: ['n1', 'n2', 'n3', 'n4'] }));
    const second = await leader
      .changeConfiguration({ voters: ['n1', 'n2', 'n3', 'n5'] })
      .catch((e: unknown) => e);
    expect(RaftError.is(second, ErrorCode.BUSY)).toBe(true);
    const bad = await leader.changeConfiguration({ voters: [] }).catch((e: unknown) => e);
    expect(RaftError.is(bad, ErrorCode.BAD_REQUEST)).toBe(true);
    const follower = c.node(
      c.peers.find((p) => p !== leader.id && ['n1', 'n2', 'n3'].includes(p)) as string,
    );
    const notLeader = await follower
      ?.changeConfiguration({ voters: ['n1'] })
      .catch((e: unknown) => e);
    expect(RaftError.is(notLeader, ErrorCode.NOT_LEADER)).toBe(true);
    await c.runUntil(() => first.settled, 'the first change');
    expect(first.error).toBeUndefined();
    await c.stop();
  });

  it('a new peer that cannot be reached times out in catch-up and leaves the membership unchanged', async () => {
    const c = new SimCluster({
      seed: 126,
      peers: 4,
      initialVoters: ['n1', 'n2', 'n3'],
      electionTimeoutMs: T,
    });
    await c.start();
    const leader = await c.waitForLeader();
    c.crash('n4');
    const change = watch(
      leader.changeConfiguration({ voters: ['n1', 'n2', 'n3', 'n4'] }, { timeoutMs: 5 * T }),
    );
    await c.runUntil(() => change.settled, 'the change to give up', 10 * T);
    expect(RaftError.is(change.error, ErrorCode.TIMEOUT)).toBe(true);
    expect(voters(leader)).toEqual(['n1', 'n2', 'n3']);
    await c.propose('still-three');
    await c.stop();
  });

  it('a leader that dies in the joint configuration is replaced by one that completes the change', async () => {
    const c = new SimCluster({
      seed: 127,
      peers: 5,
      initialVoters: ['n1', 'n2', 'n3'],
      electionTimeoutMs: T,
    });
    await c.start();
    const leader = await c.waitForLeader();
    const change = watch(leader.changeConfiguration({ voters: ['n1', 'n2', 'n3', 'n4', 'n5'] }));
    await c.runUntil(
      () => (leader.status().configuration.oldVoters?.length ?? 0) > 0,
      'the joint configuration',
    );
    await c.runUntil(
      () => leader.commitIndex >= leader.status().lastLogIndex,
      'C(old,new) to commit',
    );
    c.crash(leader.id);
    await c.runUntil(() => change.settled, 'the old promise to settle');
    await c.waitForLeader('g', 20 * T);
    await c.runUntil(
      () =>
        c
          .members()
          .every(
            (m) =>
              m.peer === leader.id ||
              (voters(m.node).length === 5 && !m.node.status().configuration.oldVoters),
          ),
      'everyone to reach C(new)',
      20 * T,
    );
    await c.stop();
  });
});

describe('membership changes meeting transfers and dead learners', () => {
  it('a membership change completes even when C(old,new) commits during a failed leadership transfer', async () => {
    const c = new SimCluster({ seed: 3, peers: 3, electionTimeoutMs: T });
    await c.start();
    const leader = await c.waitForLeader();
    await c.propose('x');
    await c.runFor(T);
    const [fa] = c.peers.filter((p) => p !== leader.id) as [string];
    c.network.setFilter((m) => (m.method === 'timeoutNow' ? 'drop' : 'deliver'));
    let outcome = 'pending';
    leader.changeConfiguration({ voters: [leader.id, fa] }).then(
      () => {
        outcome = 'resolved';
      },
      (e: unknown) => {
        outcome = `rejected ${String(e)}`;
      },
    );
    leader.transferLeadership(fa).catch(() => {});
    // An idle group: nothing else commits to nudge the change along.
    await c.runFor(20 * T);
    expect(outcome).toBe('resolved');
    expect(leader.status().configuration).toEqual({ voters: [leader.id, fa] });
    await c.stop();
  });

  it('promoting learners that have been down fails in catch-up and leaves the membership as it was', async () => {
    const c = new SimCluster({
      seed: 41,
      peers: 5,
      initialVoters: ['n1', 'n2', 'n3'],
      electionTimeoutMs: T,
    });
    await c.start();
    const leader = await c.waitForLeader();
    await c.settle(
      leader.changeConfiguration({ voters: ['n1', 'n2', 'n3'], learners: ['n4', 'n5'] }),
    );
    await c.propose('x');
    await c.runFor(2 * T);
    c.crash('n4');
    c.crash('n5');
    await c.runFor(2 * T);
    const e = await c
      .settle(
        leader.changeConfiguration({ voters: [leader.id, 'n4', 'n5'] }, { timeoutMs: 20 * T }),
        'the change',
        30 * T,
      )
      .catch((err: unknown) => err);
    expect(RaftError.is(e, 'TIMEOUT')).toBe(true);
    expect(leader.status().configuration.voters).toEqual(['n1', 'n2', 'n3']);
    expect(c.stableLeader()).toBeDefined();
    await c.propose('still-serving');
    await c.stop();
  });
});
