import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { MembershipBody } from '../src/api-types.js';
import { fetchStatus, waitForConvergence, waitForLeader } from '../src/cluster-observer.js';
import { EtcdClient } from '../src/etcd/etcd-client.js';
import { KvClient } from '../src/kv-client.js';
import { type ClusterMember, LocalCluster } from '../src/local-cluster.js';
import { RegisterWorkload } from './support/register-workload.js';
import { tempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';
import { inParallel, putSurely } from './support/writes.js';

const ELECTION_TIMEOUT_MS = 500;
const KEYS = 200;

const sorted = (ids: readonly string[] | undefined): string[] => [...(ids ?? [])].sort();

describe.each(['grpc', 'ws'] as const)(
  'membership: kv-server processes over %s on SQLite grow from 3 to 5 and shrink to 3',
  (transport) => {
    const data = tempDir(`kv-members-${transport}`);
    let cluster: LocalCluster | undefined;
    let workload: RegisterWorkload | undefined;
    let client: KvClient;

    beforeAll(async () => {
      cluster = await LocalCluster.start({
        serverScript: inject('serverScript'),
        transport,
        storage: 'sqlite',
        dataDir: data.dir,
        sqliteSync: 'normal',
        electionTimeoutMs: ELECTION_TIMEOUT_MS,
        snapshotIntervalS: 0,
        // Small: the nodes added later get the leader's snapshot, then the log after it.
        snapshotLogMargin: 10,
      });
      client = new KvClient(cluster.httpEndpoints(), { token: cluster.token });
    });

    afterAll(async () => {
      await workload?.stop();
      client?.close();
      await cluster?.stop();
      data.remove();
    });

    /** Asks the leader, through the given node, to change the membership; checks the answer. */
    async function change(
      via: string,
      voters: string[],
      peers: Record<string, { raft: string; http: string; etcd?: string }> = {},
    ): Promise<MembershipBody> {
      const c = new KvClient([via], { retryForMs: 20_000, token: cluster?.token ?? '' });
      try {
        const r = await c.setMembers({ voters, peers });
        expect(sorted(r.configuration.voters)).toEqual(sorted(voters));
        expect(r.configuration.oldVoters).toBeUndefined();
        return r;
      } finally {
        c.close();
      }
    }

    it('adds two nodes, one at a time, while clients write and read; removes a follower and the leader; no acknowledged write is lost', async () => {
      const c = cluster as LocalCluster;
      const founders = c.httpEndpoints();
      const first = await waitForLeader(founders, { timeoutMs: 10_000 });
      await inParallel(KEYS, 32, (i) => putSurely(client, `key/${i}`, `value-${i}`));
      // The leader compacts its log: the new nodes need its snapshot.
      const snap = await client.snapshot(first.http);
      expect(snap.taken).toBe(true);

      workload = new RegisterWorkload({
        endpoints: founders,
        writers: 3,
        readers: 2,
        maxOpsPerWorker: 20_000,
        maxDurationMs: 25_000,
      });
      const w = workload;
      await waitUntil('the workload to make progress', () => w.acks >= 20, 10_000);

      // Grow: each new node starts with --join, then the leader adds it with its addresses.
      const added: ClusterMember[] = [];
      let voters = ['n1', 'n2', 'n3'];
      for (const id of ['n4', 'n5']) {
        const m = await c.addNode(id);
        added.push(m);
        const acks = w.acks;
        voters = [...voters, id];
        const r = await change(founders[0] as string, voters, {
          [id]: { raft: m.raft, http: m.http, ...(m.etcd === undefined ? {} : { etcd: m.etcd }) },
        });
        expect(r.recorded).toContain(id);
        await waitUntil(`writes after ${id} joined`, () => w.acks >= acks + 10, 10_000);
      }
      const all = c.httpEndpoints();
      expect(all).toHaveLength(5);
      // The new nodes hold the data: they got the snapshot, then the log after it.
      for (const m of added) {
        await waitUntil(
          `${m.id} to catch up`,
          async () => ((await fetchStatus(m.http))?.keys ?? 0) >= KEYS,
          10_000,
        );
        // The keys come with the snapshot; the latest configuration with the entries after it.
        await waitUntil(
          `${m.id} to see five voters`,
          async () => ((await fetchStatus(m.http))?.configuration?.voters.length ?? 0) === 5,
          10_000,
        );
        const s = await client.status(m.http);
        expect(s.snapshotIndex).toBeGreaterThan(0);
        expect(sorted(s.configuration.voters)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
        expect(await client.get('key/0', { endpoint: m.http })).toMatchObject({ value: 'value-0' });
      }

      // Shrink: a founding follower first, then the leader itself.
      const leader = await waitForLeader(all, { timeoutMs: 10_000 });
      const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader.id) as string;
      voters = voters.filter((id) => id !== follower);
      let acks = w.acks;
      await change(leader.http, voters);
      await c.removeNode(follower);
      await waitUntil(`writes after ${follower} left`, () => w.acks >= acks + 10, 10_000);

      const current = await waitForLeader(c.httpEndpoints(), { timeoutMs: 10_000 });
      voters = voters.filter((id) => id !== current.id);
      acks = w.acks;
      const r = await change(current.http, voters);
      // The leader made its own removal: it committed C(new) without itself, then stepped down.
      expect(r.leaderId).toBe(current.id);
      await waitUntil(
        `${current.id} to step down`,
        async () => (await fetchStatus(current.http))?.role !== 'leader',
        10_000,
      );
      await c.removeNode(current.id);
      const remaining = c.httpEndpoints();
      expect(remaining).toHaveLength(3);
      const next = await waitForLeader(remaining, { timeoutMs: 10_000, afterTerm: current.term });
      expect(voters).toContain(next.id);
      await waitUntil(`writes after ${current.id} left`, () => w.acks >= acks + 10, 10_000);

      const report = await w.stop();
      workload = undefined;
      expect(report.violations).toEqual([]);
      const final = new KvClient(remaining);
      try {
        for (const k of report.keys) {
          // No acknowledged write lost, and never a value that was not written.
          const got = await final.get(k.key);
          const value = got === null ? 0 : Number(got.value);
          expect(value, k.key).toBeGreaterThanOrEqual(k.acked);
          expect(value, k.key).toBeLessThanOrEqual(k.issued);
        }
        const wrong: string[] = [];
        await inParallel(KEYS, 16, async (i) => {
          const got = await final.get(`key/${i}`);
          if (got?.value !== `value-${i}`) wrong.push(`key/${i}=${got?.value}`);
        });
        expect(wrong).toEqual([]);
      } finally {
        final.close();
      }
      const digests = await waitForConvergence(remaining, 15_000);
      expect(new Set(digests.map((d) => d.sha256)).size).toBe(1);
      for (const e of remaining) {
        const s = await client.status(e);
        expect(sorted(s.configuration.voters)).toEqual(sorted(voters));
      }
      // The added nodes' etcd API addresses went through the log too: every node lists every
      // member's client URL, and a write sent to any node's etcd API reaches the leader,
      // whichever node that is now.
      for (const m of c.members()) {
        const etcd = new EtcdClient(m.etcd as string);
        try {
          const list = await etcd.memberList();
          expect(sorted(list.members.map((x) => `${x.name}=${x.clientURLs.join(',')}`))).toEqual(
            sorted(c.members().map((x) => `${x.id}=http://${x.etcd}`)),
          );
          await etcd.put(`etcd/${m.id}`, 'forwarded or not');
        } finally {
          etcd.close();
        }
      }
    }, 45_000);
  },
);
