import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitForLeader } from '../src/cluster-observer.js';
import { requestJson } from '../src/http-json.js';
import { KvClient } from '../src/kv-client.js';
import type { ServerEvent } from '../src/kv-server.js';
import { LocalCluster } from '../src/local-cluster.js';
import { sampleOf } from './support/prometheus-text.js';
import { tempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

const ELECTION_TIMEOUT_MS = 300;

describe('the metrics of three kv-server processes (gRPC, SQLite)', () => {
  const data = tempDir('kv-metrics');
  let cluster: LocalCluster | undefined;
  let client: KvClient | undefined;
  /** Ground truth from the nodes' own event lines: every (leader, term) that happened... */
  const leaderships = new Set<string>();
  /** ...and, by node, every (leader, term) it followed or led. */
  const seen = new Map<string, Set<string>>();

  const c = () => cluster as LocalCluster;
  const metricsOf = async (id: string): Promise<string> => {
    const res = await requestJson('GET', `http://${c().member(id).http}/metrics`);
    expect(res.status).toBe(200);
    return res.text;
  };
  const metric = async (id: string, name: string, labels: Record<string, string> = {}) =>
    sampleOf(await metricsOf(id), name, { node: id, ...labels });

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      serverScript: inject('serverScript'),
      transport: 'grpc',
      storage: 'sqlite',
      dataDir: data.dir,
      electionTimeoutMs: ELECTION_TIMEOUT_MS,
      onEvent: (e: ServerEvent) => {
        if (e.event === 'role' && e.role === 'leader') leaderships.add(`${e.id}@${e.term}`);
        if (e.event === 'leader' && e.leaderId !== null) {
          const s = seen.get(e.id) ?? new Set();
          s.add(`${e.leaderId}@${e.term}`);
          seen.set(e.id, s);
        }
      },
    });
    client = new KvClient(cluster.httpEndpoints(), { token: cluster.token });
  });

  afterAll(async () => {
    client?.close();
    await cluster?.stop();
    data.remove();
  });

  it('after three leaderships, every node counts each leadership it saw once', async () => {
    const kv = client as KvClient;
    const endpoints = c().httpEndpoints();
    let leader = await waitForLeader(endpoints, { timeoutMs: 10_000 });
    await kv.put('before', 'transfers');
    for (let i = 0; i < 2; i++) {
      const target = c()
        .members()
        .find((m) => m.id !== leader.id)?.id;
      await kv.transferLeader(target);
      leader = await waitForLeader(endpoints, { timeoutMs: 10_000, afterTerm: leader.term });
      const id = leader.id;
      await waitUntil(
        `every node to follow ${id}`,
        async () =>
          (await Promise.all(endpoints.map((e) => kv.status(e)))).every((s) => s.leaderId === id),
        10_000,
      );
    }
    expect(leaderships.size).toBeGreaterThanOrEqual(3);
    for (const m of c().members()) {
      const counted = await metric(m.id, 'kontiki_raft_leader_changes_seen_total');
      const truth = seen.get(m.id)?.size;
      expect({ node: m.id, counted }).toEqual({ node: m.id, counted: truth });
      // It followed every leadership there was (no other election came between).
      expect({ node: m.id, counted }).toEqual({ node: m.id, counted: leaderships.size });
      expect(await metric(m.id, 'kontiki_raft_has_leader')).toBe(1);
    }
  }, 60_000);

  it('counts a write sent to a follower as NOT_LEADER there (the HTTP API redirects it)', async () => {
    const leader = await waitForLeader(c().httpEndpoints(), { timeoutMs: 10_000 });
    const follower = c()
      .members()
      .find((m) => m.id !== leader.id) as { id: string; http: string };
    const before =
      (await metric(follower.id, 'kontiki_raft_proposals_failed_total', {
        reason: 'not_leader',
      })) ?? 0;
    const res = await requestJson('PUT', `http://${follower.http}/kv/redirected`, {
      body: { value: 'v' },
    });
    expect(res.status).toBe(307);
    const after = await metric(follower.id, 'kontiki_raft_proposals_failed_total', {
      reason: 'not_leader',
    });
    expect(after).toBe(before + 1);
  });

  it('times disk syncs on every node and round trips from the leader to each follower', async () => {
    const kv = client as KvClient;
    for (let i = 0; i < 20; i++) await kv.put(`k${i}`, `v${i}`);
    const leader = await waitForLeader(c().httpEndpoints(), { timeoutMs: 10_000 });
    for (const m of c().members()) {
      const syncs = await metric(m.id, 'kontiki_disk_log_sync_duration_seconds_count');
      expect({ node: m.id, synced: (syncs ?? 0) > 0 }).toEqual({ node: m.id, synced: true });
    }
    const text = await metricsOf(leader.id);
    for (const f of c()
      .members()
      .filter((m) => m.id !== leader.id)) {
      const rtt = sampleOf(text, 'kontiki_network_peer_round_trip_time_seconds_count', {
        peer: f.id,
      });
      expect({ peer: f.id, answered: (rtt ?? 0) > 0 }).toEqual({ peer: f.id, answered: true });
      const sum = sampleOf(text, 'kontiki_network_peer_round_trip_time_seconds_sum', {
        peer: f.id,
      });
      // Loopback round trips: well under an election timeout on average.
      expect((sum ?? 0) / (rtt ?? 1)).toBeLessThan(ELECTION_TIMEOUT_MS / 1000);
    }
  });

  it('has_leader drops to 0 on the last node standing once the quorum is gone', async () => {
    const leader = await waitForLeader(c().httpEndpoints(), { timeoutMs: 10_000 });
    expect(await metric(leader.id, 'kontiki_raft_has_leader')).toBe(1);
    for (const m of c().members()) if (m.id !== leader.id) await c().kill(m.id, 'SIGKILL');
    // Check-quorum: the leader hears no answer for two election timeouts and steps down.
    await waitUntil(
      'the lone leader to know no leader',
      async () => (await metric(leader.id, 'kontiki_raft_has_leader')) === 0,
      20 * ELECTION_TIMEOUT_MS,
    );
    expect(await metric(leader.id, 'kontiki_raft_is_leader')).toBe(0);
  }, 30_000);
});
