import type { RequestVoteRequest, Role } from '@kontiki/core';
import type { FilterVerdict, NetworkMessage } from '@kontiki/transport-memory';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

// T = 100 virtual ms: rpcTimeoutMs = 50, heartbeat 10. A jitter of 0.001 makes every
// follower's timer fire within 0.1 ms of T after the leader's last word, and pre-vote
// requests take 5 ms: followers always fire together and their pre-votes cross, each
// granting the other's. Without standing aside, each would then vote for itself.
const T = 100;
const CROSSING_MS = 5;

/** Pre-vote requests take CROSSING_MS, so that pre-votes sent together cross. */
function crossing(m: NetworkMessage): FilterVerdict {
  const preVote =
    m.kind === 'request' && m.method === 'requestVote' && (m.payload as RequestVoteRequest).preVote;
  return preVote ? { delayMs: CROSSING_MS } : 'deliver';
}

interface RoleLine {
  readonly at: number;
  readonly id: string;
  readonly role: Role;
  readonly term: number;
}

async function crossingCluster(
  seed: number,
  peers: number,
): Promise<{
  c: SimCluster;
  roles: RoleLine[];
}> {
  const c = new SimCluster({
    seed,
    peers,
    electionTimeoutMs: T,
    nodeOptions: { electionJitter: 0.001 },
  });
  const roles: RoleLine[] = [];
  c.onBoot((id, _group, node) => {
    node.on('roleChange', (e) => roles.push({ at: c.now, id, role: e.role, term: e.term }));
  });
  c.network.setFilter(crossing);
  await c.start();
  return { c, roles };
}

describe('followers that notice a dead leader together do not split the vote', () => {
  it('three nodes whose timers fire together: the two with greater ids stand aside and n1 leads in term 1', async () => {
    const { c, roles } = await crossingCluster(21, 3);
    const leader = await c.waitForLeader('g', 5 * T);
    expect({ id: leader.id, term: leader.term }).toEqual({ id: 'n1', term: 1 });
    expect(roles.filter((r) => r.role === 'candidate').map((r) => r.id)).toEqual(['n1']);
    await c.stop();
  });

  it('the leader dies; of the two followers whose pre-votes cross, the greater id votes for the smaller, which leads in the next term', async () => {
    const { c, roles } = await crossingCluster(22, 3);
    const old = await c.waitForLeader('g', 5 * T);
    await c.runFor(3 * T);
    c.crash(old.id);
    const crashedAt = c.now;
    const next = await c.waitForLeader('g', 10 * T);
    const survivors = c.peers.filter((p) => p !== old.id).sort();
    expect({ id: next.id, term: next.term }).toEqual({ id: survivors[0], term: old.term + 1 });
    const candidates = roles.filter((r) => r.role === 'candidate' && r.at >= crashedAt);
    expect(candidates.map((r) => r.id)).toEqual([survivors[0]]);
    // Detection (T after the last heartbeat), crossing pre-votes, one vote round: no vote
    // timer was lost to a split.
    expect(c.now - crashedAt).toBeLessThan(T + T / 2);
    await c.stop();
  });

  it('a node stands aside once per term: when the smaller id it waited for cannot win, it stands rpcTimeoutMs later and leads', async () => {
    const { c } = await crossingCluster(23, 3);
    const old = await c.waitForLeader('g', 5 * T);
    await c.runFor(3 * T);
    const [low, high] = c.peers.filter((p) => p !== old.id).sort() as [string, string];
    // Every answer to the smaller id's (pre-)votes is lost: it asks again every rpcTimeoutMs,
    // and the greater id keeps granting, but it can never win.
    c.network.setFilter((m) =>
      m.kind === 'response' && m.method === 'requestVote' && m.to === low ? 'drop' : crossing(m),
    );
    c.crash(old.id);
    const crashedAt = c.now;
    const next = await c.waitForLeader('g', 10 * T);
    expect({ id: next.id, term: next.term }).toEqual({ id: high, term: old.term + 1 });
    // It waited rpcTimeoutMs (T/2) after its first won pre-vote, once.
    expect(c.now - crashedAt).toBeGreaterThanOrEqual(T + T / 2);
    expect(c.now - crashedAt).toBeLessThan(2 * T);
    await c.stop();
  });
});
