import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DigestBody } from '../src/api-types.js';
import { type LeaderInfo, waitForConvergence, waitForLeader } from '../src/cluster-observer.js';
import { KvClient } from '../src/kv-client.js';
import { LocalCluster } from '../src/local-cluster.js';
import { killLeaderUnderLoad, RoleLog } from './support/failover.js';
import { RegisterWorkload } from './support/register-workload.js';
import { tempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';
import { WriteLoad } from './support/write-load.js';
import { inParallel, putSurely } from './support/writes.js';

const ELECTION_TIMEOUT_MS = 300;
const ENTRIES = 10_000;
const IN_FLIGHT = 64;

describe.each(['grpc', 'ws'] as const)(
  'three kv-server processes over %s on SQLite',
  (transport) => {
    const data = tempDir(`kv-${transport}`);
    let cluster: LocalCluster | undefined;
    let client: KvClient;
    let endpoints: string[] = [];
    let firstLeader: LeaderInfo;
    let killed: LeaderInfo;
    let workload: RegisterWorkload | undefined;
    let probe: WriteLoad | undefined;
    const roles = new RoleLog();

    beforeAll(async () => {
      cluster = await LocalCluster.start({
        serverScript: inject('serverScript'),
        transport,
        storage: 'sqlite',
        dataDir: data.dir,
        electionTimeoutMs: ELECTION_TIMEOUT_MS,
        onEvent: roles.record,
      });
      endpoints = cluster.httpEndpoints();
      client = new KvClient(endpoints);
    });

    afterAll(async () => {
      // Every child is stopped (SIGTERM, then SIGKILL) whatever happened above.
      await workload?.stop();
      await probe?.stop();
      client?.close();
      await cluster?.stop();
      data.remove();
    });

    it('elects one leader that a majority agrees on', async () => {
      firstLeader = await waitForLeader(endpoints, { timeoutMs: 10_000 });
      expect(firstLeader.term).toBeGreaterThanOrEqual(1);
      expect(cluster?.idOf(firstLeader.http)).toBe(firstLeader.id);
    });

    it(`replicates ${ENTRIES} writes, ${IN_FLIGHT} in flight`, async () => {
      const started = performance.now();
      await inParallel(ENTRIES, IN_FLIGHT, (i) => putSurely(client, `key/${i}`, `value-${i}`));
      console.info(
        `${transport}: ${ENTRIES} writes in ${Math.round(performance.now() - started)} ms`,
      );
      const digests = await waitForConvergence(endpoints, 20_000);
      expect(digests.map((d) => d.keys)).toEqual([ENTRIES, ENTRIES, ENTRIES]);
      // Data entries plus at least the first leader's no-op entry.
      expect((digests[0] as DigestBody).appliedIndex).toBeGreaterThan(ENTRIES);
    }, 90_000);

    it('elects a new leader within 10 election timeouts of a SIGKILL of the leader, while clients write and read', async () => {
      const c = cluster as LocalCluster;
      workload = new RegisterWorkload({
        endpoints,
        writers: 4,
        readers: 4,
        maxOpsPerWorker: 50_000,
        maxDurationMs: 60_000,
      });
      const w = workload;
      await waitUntil('the workload to make progress', () => w.acks >= 40, 10_000);

      // Writers that keep the term of every write they get acknowledged: the first of a later
      // term is when a client can write again (pnpm bench:failover times this over many kills).
      const p = new WriteLoad(endpoints, { writers: 2, maxDurationMs: 60_000, maxOps: 50_000 });
      probe = p;
      await waitUntil('the probe writers to make progress', () => p.acked.length >= 10, 10_000);

      // The leader now (a leader change under load is possible: ask again right before).
      killed = await waitForLeader(endpoints, { timeoutMs: 10_000 });
      const failover = await killLeaderUnderLoad(c, killed, p, roles, 20_000);
      await p.stop();
      probe = undefined;
      const next = await waitForLeader(endpoints, { timeoutMs: 20_000, afterTerm: killed.term });

      console.info(
        `${transport}: killed leader ${killed.id} (term ${killed.term}); ${failover.newLeader} leads term ${failover.newTerm} after ${Math.round(failover.electedMs)} ms, first write it acknowledged after ${Math.round(failover.firstWriteMs)} ms`,
      );
      expect(failover.newLeader).not.toBe(killed.id);
      expect(next.id).not.toBe(killed.id);
      expect(next.term).toBeGreaterThan(killed.term);
      // A liveness bound, not a speed claim: detection takes [T, 1.3 T), then a pre-vote and a
      // vote round trip; ten timeouts leave room for a loaded two-core machine.
      expect(failover.electedMs).toBeLessThan(10 * ELECTION_TIMEOUT_MS);
      expect(failover.firstWriteMs).toBeLessThan(10 * ELECTION_TIMEOUT_MS);

      // The cluster keeps taking writes without the killed node.
      const acksAtFailover = w.acks;
      await waitUntil(
        'writes acknowledged by the new leader',
        () => w.acks >= acksAtFailover + 40,
        10_000,
      );
    }, 60_000);

    it('a restarted node catches up: every node at the same applied index with the same state', async () => {
      const c = cluster as LocalCluster;
      await c.restart(killed.id);
      const restarted = c.member(killed.id).http;
      // Clients keep working while it catches up, then stop.
      const acksAtRestart = workload?.acks ?? 0;
      await waitUntil(
        'writes after the restart',
        () => (workload?.acks ?? 0) >= acksAtRestart + 40,
        10_000,
      );
      const report = await (workload as RegisterWorkload).stop();
      workload = undefined;

      expect(report.violations).toEqual([]);
      expect(report.reads).toBeGreaterThan(100);
      let registersWritten = 0;
      for (const k of report.keys) {
        // No acknowledged write lost: the final value is at least the last acknowledged one,
        // and never one that was not written.
        const final = await client.get(k.key);
        const value = final === null ? 0 : Number(final.value);
        if (value > 0) registersWritten++;
        expect(value, k.key).toBeGreaterThanOrEqual(k.acked);
        expect(value, k.key).toBeLessThanOrEqual(k.issued);
      }

      const digests = await waitForConvergence(endpoints, 30_000);
      const applied = digests.map((d) => d.appliedIndex);
      expect(new Set(applied).size).toBe(1);
      expect(new Set(digests.map((d) => d.sha256)).size).toBe(1);
      expect(new Set(digests.map((d) => `${d.lastLogIndex}/${d.lastLogTerm}`)).size).toBe(1);
      // The failover probe's keys, as many as it wrote (an unknown outcome may have written one).
      let probeKeys = 0;
      for (const key of ['load/0', 'load/1']) if ((await client.get(key)) !== null) probeKeys++;
      expect((digests[0] as DigestBody).keys).toBe(ENTRIES + registersWritten + probeKeys);

      // Every one of the first writes reads back from the restarted node.
      const wrong: string[] = [];
      await inParallel(ENTRIES, IN_FLIGHT, async (i) => {
        const got = await client.get(`key/${i}`, { endpoint: restarted });
        if (got?.value !== `value-${i}`) wrong.push(`key/${i}=${got?.value}`);
      });
      expect(wrong).toEqual([]);
    }, 90_000);
  },
);
