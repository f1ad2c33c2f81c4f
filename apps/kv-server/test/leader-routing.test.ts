import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ErrorBody,
  MembershipBody,
  SnapshotBody,
  StatusBody,
  TransferBody,
} from '../src/api-types.js';
import { waitForLeader } from '../src/cluster-observer.js';
import { requestJson } from '../src/http-json.js';
import { KvClient } from '../src/kv-client.js';
import {
  type InProcessServers,
  startInProcessServers,
  TEST_TOKEN,
} from './support/in-process-servers.js';

const admin = { authorization: `Bearer ${TEST_TOKEN}` };

describe('three nodes: writes go to the leader, any node reads', () => {
  let cluster: InProcessServers;
  let client: KvClient;

  beforeAll(async () => {
    cluster = await startInProcessServers(3);
    client = new KvClient(cluster.endpoints, { token: TEST_TOKEN });
  });
  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('a follower answers a write with 307 to the leader, naming it', async () => {
    const leader = await waitForLeader(cluster.endpoints, { timeoutMs: 10_000 });
    const follower = cluster.endpoints.find((e) => e !== leader.http) as string;
    const res = await requestJson('PUT', `http://${follower}/kv/x?y=1`, { body: { value: '1' } });
    expect(res.status).toBe(307);
    expect(res.headers.location).toBe(`http://${leader.http}/kv/x?y=1`);
    expect((res.body as ErrorBody).error).toMatchObject({
      code: 'NOT_LEADER',
      leaderId: leader.id,
      leaderHttp: leader.http,
      outcome: 'not-applied',
    });
    // Nothing was written by the refused request.
    expect(await client.get('x')).toBeNull();
  });

  it('the client follows the redirect; every node then reads the write (linearizable)', async () => {
    const leader = await waitForLeader(cluster.endpoints, { timeoutMs: 10_000 });
    const follower = cluster.endpoints.find((e) => e !== leader.http) as string;
    const viaFollower = new KvClient([follower]);
    try {
      const put = await viaFollower.put('routed', 'yes');
      expect(put.prev).toBeNull();
    } finally {
      viaFollower.close();
    }
    // A read right after the acknowledged write sees it on every node, followers
    // included: each confirms the leader's commit index before answering.
    for (const endpoint of cluster.endpoints) {
      expect(await client.get('routed', { endpoint })).toMatchObject({ value: 'yes' });
    }
  });

  it('transfers leadership on request, to a named peer', async () => {
    const leader = await waitForLeader(cluster.endpoints, { timeoutMs: 10_000 });
    const target = (['n1', 'n2', 'n3'] as const).find((id) => id !== leader.id) as string;
    const res = await requestJson('POST', `http://${cluster.endpoints[0]}/admin/transfer-leader`, {
      body: { peer: target },
      headers: admin,
    });
    // Sent to a follower, the request is redirected like a write.
    const answered =
      res.status === 307
        ? await requestJson('POST', String(res.headers.location), {
            body: { peer: target },
            headers: admin,
          })
        : res;
    expect(answered.status).toBe(200);
    const body = answered.body as TransferBody;
    expect(body).toMatchObject({ from: leader.id, requested: target, leaderId: target });
    const next = await waitForLeader(cluster.endpoints, {
      timeoutMs: 10_000,
      afterTerm: leader.term,
    });
    expect(next.id).toBe(target);
    // The cluster keeps taking writes under the new leader.
    expect((await client.put('after-transfer', '1')).term).toBe(next.term);
  });

  it('refuses a transfer to a peer that is not a voter', async () => {
    const leader = await waitForLeader(cluster.endpoints, { timeoutMs: 10_000 });
    const res = await requestJson('POST', `http://${leader.http}/admin/transfer-leader`, {
      body: { peer: 'n9' },
      headers: admin,
    });
    expect(res.status).toBe(400);
    expect((res.body as ErrorBody).error.code).toBe('BAD_REQUEST');
    const s = (await requestJson('GET', `http://${leader.http}/status`)).body as StatusBody;
    expect(s.role).toBe('leader');
  });

  it('snapshots any node on request; status shows the snapshot and the compacted log', async () => {
    for (let i = 0; i < 20; i++) await client.put(`snap/${i}`, String(i));
    for (const endpoint of cluster.endpoints) {
      // A follower may not have applied the last writes yet: a read there waits for them.
      await client.get('snap/19', { endpoint });
      const first = await client.snapshot(endpoint);
      expect(first.taken).toBe(true);
      const meta = first.meta as NonNullable<SnapshotBody['meta']>;
      expect(meta.lastIncludedIndex).toBeGreaterThanOrEqual(20);
      expect([...meta.configuration.voters].sort()).toEqual(['n1', 'n2', 'n3']);
      expect(first.snapshotIndex).toBe(meta.lastIncludedIndex);
      const status = await client.status(endpoint);
      expect(status.snapshotIndex).toBe(meta.lastIncludedIndex);
      expect(status.firstLogIndex).toBe(1); // 1000 entries are kept behind a snapshot by default
      // Nothing applied since: no new snapshot.
      const again = await client.snapshot(endpoint);
      if (again.taken) {
        expect((again.meta as NonNullable<SnapshotBody['meta']>).lastIncludedIndex).toBeGreaterThan(
          meta.lastIncludedIndex,
        );
      } else {
        expect(again).toMatchObject({ meta: null, snapshotIndex: meta.lastIncludedIndex });
      }
    }
  });

  it('membership: a follower redirects, bad requests are refused, an unknown member needs its address', async () => {
    const leader = await waitForLeader(cluster.endpoints, { timeoutMs: 10_000 });
    const follower = cluster.endpoints.find((e) => e !== leader.http) as string;
    const voters = ['n1', 'n2', 'n3'];
    const redirected = await requestJson('POST', `http://${follower}/admin/membership`, {
      body: { voters },
      headers: admin,
    });
    expect(redirected.status).toBe(307);
    expect(redirected.headers.location).toBe(`http://${leader.http}/admin/membership`);
    expect((redirected.body as ErrorBody).error).toMatchObject({
      code: 'NOT_LEADER',
      outcome: 'not-applied',
    });
    const bad: Array<[unknown, string]> = [
      [{}, '"voters" must be a non-empty list'],
      [{ voters: [] }, '"voters" must be a non-empty list'],
      [{ voters: ['n1', 'n1'] }, 'lists a peer twice'],
      [{ voters, learners: 'n4' }, '"learners" must be a list'],
      [{ voters, peers: { n4: { raft: '127.0.0.1:1' } } }, 'neither a voter nor a learner'],
      [{ voters: [...voters, 'n4'], peers: { n4: { raft: 'nope' } } }, 'needs "raft"'],
      [{ voters, timeoutMs: 0 }, '"timeoutMs" must be'],
    ];
    for (const [body, message] of bad) {
      const res = await requestJson('POST', `http://${leader.http}/admin/membership`, {
        body,
        headers: admin,
      });
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect((res.body as ErrorBody).error.message).toContain(message);
    }
    const unknown = await requestJson('POST', `http://${leader.http}/admin/membership`, {
      body: { voters: [...voters, 'n9'] },
      headers: admin,
    });
    expect(unknown.status).toBe(400);
    expect((unknown.body as ErrorBody).error).toMatchObject({
      code: 'UNKNOWN_PEER',
      peers: ['n9'],
    });
    // The same membership: nothing to change, but the members' addresses get recorded.
    const same = await client.setMembers({ voters });
    expect(same.configuration.voters).toEqual(expect.arrayContaining(voters));
    expect([...same.recorded].sort()).toEqual(voters);
    for (const endpoint of cluster.endpoints) {
      await client.get('snap/0', { endpoint });
      const d = await client.digest(endpoint);
      expect(d.sha256).toBe((await client.digest(leader.http)).sha256);
    }
    const again: MembershipBody = await client.setMembers({ voters });
    expect(again.recorded).toEqual([]);
  });

  it('a learner joins, receives the data, and leaves again', async () => {
    const leader = await waitForLeader(cluster.endpoints, { timeoutMs: 10_000 });
    const joiner = await startInProcessServers(1, { join: true }, 'n4');
    try {
      const n4 = joiner.servers[0] as (typeof joiner.servers)[number];
      const added = await client.setMembers({
        voters: ['n1', 'n2', 'n3'],
        learners: ['n4'],
        peers: { n4: { raft: n4.raftAddress, http: n4.httpAddress } },
      });
      expect(added.configuration.learners).toEqual(['n4']);
      expect(added.leaderId).toBe(leader.id);
      await client.put('for-the-learner', 'yes');
      // A learner reads linearizably too (it asks the leader for the read index).
      expect(await client.get('for-the-learner', { endpoint: n4.httpAddress })).toMatchObject({
        value: 'yes',
      });
      const s = await client.status(n4.httpAddress);
      expect(s.configuration.learners).toEqual(['n4']);
      expect(s.peers.map((p) => p.id).sort()).toEqual(['n1', 'n2', 'n3', 'n4']);
      const removed = await client.setMembers({ voters: ['n1', 'n2', 'n3'] });
      expect(removed.configuration.learners ?? []).toEqual([]);
    } finally {
      await joiner.stop();
    }
  });
});
