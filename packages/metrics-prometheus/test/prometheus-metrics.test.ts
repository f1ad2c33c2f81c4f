import { readFileSync } from 'node:fs';
import { InvalidOptionError, type NodeOptions, RaftNode } from '@kontiki/core';
import { MemoryLogStorage, MemoryMetaStorage } from '@kontiki/storage-memory';
import { MemoryNetwork } from '@kontiki/transport-memory';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { PrometheusMetrics } from '../src/index.js';

const enc = new TextEncoder();
const nodes: RaftNode[] = [];

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});

function node(
  network: MemoryNetwork,
  id: string,
  voters: string[],
  metrics: PrometheusMetrics,
  extra: Partial<NodeOptions> = {},
): RaftNode {
  const n = new RaftNode({
    groupId: 'g',
    peerId: id,
    initialConfiguration: { voters },
    transport: network.endpoint(id),
    logStorage: new MemoryLogStorage(),
    metaStorage: new MemoryMetaStorage(),
    stateMachine: { onApply: (entries) => entries.map((e) => e.index) },
    electionTimeoutMs: 200,
    metrics,
    ...extra,
  });
  nodes.push(n);
  return n;
}

/** The value of one sample line of the exposition text (undefined when absent). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('PrometheusMetrics', () => {
  it("puts a node's series into the registry under kontiki_ names, with a group label", async () => {
    const registry = new Registry();
    const n = node(new MemoryNetwork(), 'n1', ['n1'], new PrometheusMetrics({ registry }));
    await n.start();
    await n.waitForLeader({ timeoutMs: 10_000 });
    for (let i = 0; i < 5; i++) await n.apply(enc.encode(`k${i}`));
    await expect(n.apply(new Uint8Array(0), { expectedTerm: n.term + 1 })).rejects.toMatchObject({
      code: 'TERM_MISMATCH',
    });
    const text = await registry.metrics();
    expect(sample(text, 'kontiki_raft_has_leader{group="g"}')).toBe(1);
    expect(sample(text, 'kontiki_raft_leader_changes_seen_total{group="g"}')).toBe(1);
    expect(sample(text, 'kontiki_raft_term{group="g"}')).toBe(n.term);
    expect(sample(text, 'kontiki_raft_commit_index{group="g"}')).toBe(n.commitIndex);
    expect(sample(text, 'kontiki_raft_proposals_committed_total{group="g"}')).toBe(n.commitIndex);
    expect(sample(text, 'kontiki_raft_proposals_applied_total{group="g"}')).toBe(n.appliedIndex);
    expect(sample(text, 'kontiki_raft_proposals_pending{group="g"}')).toBe(0);
    expect(
      sample(text, 'kontiki_raft_proposals_failed_total{group="g",reason="term_mismatch"}'),
    ).toBe(1);
    // Every reason is there from the start, at 0.
    expect(sample(text, 'kontiki_raft_proposals_failed_total{group="g",reason="busy"}')).toBe(0);
    const syncs = sample(text, 'kontiki_disk_log_sync_duration_seconds_count{group="g"}');
    expect(syncs).toBeGreaterThan(0);
    expect(text).toMatch(/^# TYPE kontiki_disk_log_sync_duration_seconds histogram$/m);
    expect(text).toMatch(
      /^kontiki_disk_log_sync_duration_seconds_bucket\{le="0\.0001",group="g"\} \d+$/m,
    );
    // Every line is a comment or "name{labels} value".
    for (const line of text.trim().split('\n')) {
      if (line !== '' && !line.startsWith('#'))
        expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? [-+0-9.eInfNa]+$/);
    }
  });

  it('keeps counters as plain numbers: what the node added since the last scrape shows in the next', async () => {
    const registry = new Registry();
    const n = node(new MemoryNetwork(), 'n1', ['n1'], new PrometheusMetrics({ registry }));
    await n.start();
    await n.waitForLeader({ timeoutMs: 10_000 });
    const before = sample(
      await registry.metrics(),
      'kontiki_raft_proposals_applied_total{group="g"}',
    );
    for (let i = 0; i < 3; i++) await n.apply(enc.encode(`k${i}`));
    const after = sample(
      await registry.metrics(),
      'kontiki_raft_proposals_applied_total{group="g"}',
    );
    expect((after ?? 0) - (before ?? 0)).toBe(3);
  });

  it("times each follower's round trips on the leader, and keeps three in-process nodes apart by a label", async () => {
    const registry = new Registry();
    const network = new MemoryNetwork();
    const ids = ['n1', 'n2', 'n3'];
    const all = ids.map((id) =>
      node(network, id, ids, new PrometheusMetrics({ registry, labels: { node: id } })),
    );
    for (const n of all) await n.start();
    const leaderId = await all[0]?.waitForLeader({ timeoutMs: 10_000 });
    const leader = all.find((n) => n.id === leaderId) as RaftNode;
    for (let i = 0; i < 10; i++) await leader.apply(enc.encode(`k${i}`));
    const text = await registry.metrics();
    for (const id of ids) {
      expect({ id, has: sample(text, `kontiki_raft_has_leader{node="${id}",group="g"}`) }).toEqual({
        id,
        has: 1,
      });
    }
    for (const peer of ids.filter((id) => id !== leaderId)) {
      const count = sample(
        text,
        `kontiki_network_peer_round_trip_time_seconds_count{node="${leaderId}",group="g",peer="${peer}"}`,
      );
      expect({ peer, answered: (count ?? 0) > 0 }).toEqual({ peer, answered: true });
    }
  });

  it('refuses two sinks that give one registry different label names, and says why', () => {
    const registry = new Registry();
    const a = new PrometheusMetrics({ registry, labels: { node: 'n1' } });
    const b = new PrometheusMetrics({ registry });
    const d = { name: 'raft_term', help: 'term', labels: { group: 'g' } };
    a.gauge(d).set(1);
    expect(() => b.gauge(d)).toThrow(
      /kontiki_raft_term is already registered as "gauge group,node"/,
    );
    expect(() => a.counter(d)).toThrow(InvalidOptionError);
    // The same series asked for again is the same series.
    expect(a.gauge(d)).toBe(a.gauge(d));
  });

  it('refuses options a registry could not use, with an InvalidOptionError that says which', () => {
    expect(() => new PrometheusMetrics({ prefix: 'my-app ' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'prefix' }),
    );
    expect(() => new PrometheusMetrics({ registry: {} as Registry })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'registry' }),
    );
  });

  it('takes a prefix of the caller', async () => {
    const registry = new Registry();
    const m = new PrometheusMetrics({ registry, prefix: 'myapp_' });
    m.counter({ name: 'raft_x_total', help: 'x', labels: { group: 'g' } }).inc(2);
    expect(sample(await registry.metrics(), 'myapp_raft_x_total{group="g"}')).toBe(2);
  });

  it('has every series a node reports named in the README', async () => {
    const registry = new Registry();
    const network = new MemoryNetwork();
    const ids = ['n1', 'n2'];
    const all = ids.map((id) =>
      node(network, id, ids, new PrometheusMetrics({ registry, labels: { node: id } })),
    );
    for (const n of all) await n.start();
    await all[0]?.waitForLeader({ timeoutMs: 10_000 });
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
    expect(names).toContain('kontiki_network_peer_round_trip_time_seconds');
    expect(names).toContain('kontiki_snapshot_save_duration_seconds');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(names.filter((name) => !readme.includes(`\`${name}\``))).toEqual([]);
  });
});
