import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { StatusBody } from '../src/api-types.js';
import { fetchStatus, waitForBalance, waitForConvergence } from '../src/cluster-observer.js';
import { EtcdClient, text } from '../src/etcd/etcd-client.js';
import { groupIds, groupIndexOf } from '../src/groups.js';
import { KvClient } from '../src/kv-client.js';
import { LocalCluster } from '../src/local-cluster.js';
import { tempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

const GROUPS = 8;
const KEYS = Array.from({ length: 64 }, (_, i) => `shard/${String(i).padStart(2, '0')}`);

/** Every endpoint's status, each one answering. */
async function statuses(endpoints: readonly string[]): Promise<StatusBody[]> {
  const all = await Promise.all(endpoints.map((e) => fetchStatus(e, 1000)));
  return all.filter((s): s is StatusBody => s !== undefined);
}

/** Every node answers and knows a leader for every group, none of them `excluded`. */
async function allLed(endpoints: readonly string[], excluded?: string): Promise<boolean> {
  const all = await statuses(endpoints);
  return (
    all.length === endpoints.length &&
    all.every(
      (s) =>
        s.groups?.withLeader === GROUPS &&
        (excluded === undefined || s.groups.leadersPerNode[excluded] === undefined),
    )
  );
}

describe(`three kv-server processes with --groups ${GROUPS} on SQLite`, () => {
  const data = tempDir('kv-sharded');
  let cluster: LocalCluster | undefined;
  let client: KvClient;

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      serverScript: inject('serverScript'),
      storage: 'sqlite',
      sqliteSync: 'normal',
      dataDir: data.dir,
      electionTimeoutMs: 300,
      groups: GROUPS,
    });
    client = new KvClient(cluster.httpEndpoints());
  });
  afterAll(async () => {
    client?.close();
    await cluster?.stop();
    data.remove();
  });

  it('elects a leader in every group; the groups led per node add up to the group count', async () => {
    const c = cluster as LocalCluster;
    await waitUntil('every group led', () => allLed(c.httpEndpoints()), 20_000);
    await waitUntil(
      'each group counted once among the nodes that lead',
      async () => {
        const all = await statuses(c.httpEndpoints());
        return all.reduce((a, s) => a + (s.groups?.ledHere ?? 0), 0) === GROUPS;
      },
      10_000,
    );
    // The leaders settle on their preferred voters (RaftHost balancing), spread over the nodes.
    const ids = c.members().map((m) => m.id);
    await waitForBalance(c.httpEndpoints(), {
      ids,
      groups: groupIds('kv', GROUPS),
      timeoutMs: 30_000,
    });
  });

  it('writes keys of every group through any node; every node reads them (HTTP and etcd)', async () => {
    const c = cluster as LocalCluster;
    expect(new Set(KEYS.map((k) => groupIndexOf(k, GROUPS))).size).toBe(GROUPS);
    for (const k of KEYS) await client.put(k, `v-${k}`);
    for (const endpoint of c.httpEndpoints()) {
      for (const k of KEYS) {
        expect(await client.get(k, { endpoint })).toMatchObject({ value: `v-${k}` });
      }
    }
    for (const e of c.etcdEndpoints()) {
      const etcd = new EtcdClient(e);
      try {
        const r = await etcd.get('shard/', { prefix: true });
        expect(r.kvs.map((kv) => text(kv.key))).toEqual(KEYS);
      } finally {
        etcd.close();
      }
    }
  });

  it('a killed node: its groups elect leaders among the others, writes to every group go on, and it catches up on restart', async () => {
    const c = cluster as LocalCluster;
    // A node that leads at least one group.
    const all = await statuses(c.httpEndpoints());
    const victim = all.find((s) => (s.groups?.ledHere ?? 0) > 0);
    if (victim === undefined) throw new Error('no node leads a group');
    await c.kill(victim.id);
    const survivors = c
      .members()
      .filter((m) => m.running)
      .map((m) => m.http);
    await waitUntil(
      `every group led by a survivor of ${victim.id}`,
      () => allLed(survivors, victim.id),
      20_000,
    );
    const survivorClient = new KvClient(survivors);
    try {
      for (const k of KEYS) await survivorClient.put(k, `after-${k}`);
    } finally {
      survivorClient.close();
    }
    await c.restart(victim.id);
    const digests = await waitForConvergence(c.httpEndpoints(), 30_000);
    expect(digests.map((d) => d.keys)).toEqual([KEYS.length, KEYS.length, KEYS.length]);
    const restarted = c.member(victim.id).http;
    for (const k of KEYS) {
      expect(await client.get(k, { endpoint: restarted })).toMatchObject({ value: `after-${k}` });
    }
  });
});
