import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, StatusBody, TransferBody } from '../src/api-types.js';
import { waitForLeader } from '../src/cluster-observer.js';
import { requestJson } from '../src/http-json.js';
import { KvClient } from '../src/kv-client.js';
import { type InProcessServers, startInProcessServers } from './support/in-process-servers.js';

describe('three nodes: writes go to the leader, any node reads', () => {
  let cluster: InProcessServers;
  let client: KvClient;

  beforeAll(async () => {
    cluster = await startInProcessServers(3);
    client = new KvClient(cluster.endpoints);
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
    });
    // Sent to a follower, the request is redirected like a write.
    const answered =
      res.status === 307
        ? await requestJson('POST', String(res.headers.location), { body: { peer: target } })
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
    });
    expect(res.status).toBe(400);
    expect((res.body as ErrorBody).error.code).toBe('BAD_REQUEST');
    const s = (await requestJson('GET', `http://${leader.http}/status`)).body as StatusBody;
    expect(s.role).toBe('leader');
  });
});
