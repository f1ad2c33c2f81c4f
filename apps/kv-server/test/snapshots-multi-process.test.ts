import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DigestBody, SnapshotBody } from '../src/api-types.js';
import { fetchStatus, waitForConvergence, waitForLeader } from '../src/cluster-observer.js';
import { KvClient } from '../src/kv-client.js';
import type { ServerEvent } from '../src/kv-server.js';
import { LocalCluster } from '../src/local-cluster.js';
import { tempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';
import { inParallel, putSurely } from './support/writes.js';

const ELECTION_TIMEOUT_MS = 500;
/** Entries kept behind a snapshot: small, so that a follower down for a while needs one. */
const LOG_MARGIN = 20;
const BATCH = 300;

type SnapshotEvent = Extract<ServerEvent, { event: 'snapshot' }>;

function metaOf(s: SnapshotBody): NonNullable<SnapshotBody['meta']> {
  expect(s.taken, `${s.id} took a snapshot`).toBe(true);
  return s.meta as NonNullable<SnapshotBody['meta']>;
}

describe.each(['grpc', 'ws'] as const)(
  'snapshots: three kv-server processes over %s on SQLite',
  (transport) => {
    const data = tempDir(`kv-snap-${transport}`);
    const events: ServerEvent[] = [];
    let cluster: LocalCluster | undefined;
    let client: KvClient;
    let endpoints: string[] = [];

    beforeAll(async () => {
      cluster = await LocalCluster.start({
        serverScript: inject('serverScript'),
        transport,
        storage: 'sqlite',
        dataDir: data.dir,
        // A process kill (not a power cut) is what these tests do: 'normal' survives it.
        sqliteSync: 'normal',
        electionTimeoutMs: ELECTION_TIMEOUT_MS,
        // Snapshots only when asked, so the test knows what each node's log holds.
        snapshotIntervalS: 0,
        snapshotLogMargin: LOG_MARGIN,
        onEvent: (e) => events.push(e),
      });
      endpoints = cluster.httpEndpoints();
      client = new KvClient(endpoints, { token: cluster.token });
    });

    afterAll(async () => {
      // Every child is stopped (SIGTERM, then SIGKILL) whatever happened above.
      client?.close();
      await cluster?.stop();
      data.remove();
    });

    it('a follower that missed compacted entries catches up through InstallSnapshot', async () => {
      const c = cluster as LocalCluster;
      await waitForLeader(endpoints, { timeoutMs: 10_000 });
      await inParallel(BATCH, 32, (i) => putSurely(client, `key/${i}`, `value-${i}`));
      const first = await waitForConvergence(endpoints, 10_000);

      // Every node snapshots its own state.
      for (const [i, endpoint] of endpoints.entries()) {
        const meta = metaOf(await client.snapshot(endpoint));
        expect(meta.lastIncludedIndex).toBe((first[i] as DigestBody).appliedIndex);
        const s = await client.status(endpoint);
        expect(s.snapshotIndex).toBe(meta.lastIncludedIndex);
        expect(s.firstLogIndex).toBe(meta.lastIncludedIndex - LOG_MARGIN + 1);
      }

      // A follower goes down; the others go on and compact past what it holds.
      const leader = await waitForLeader(endpoints, { timeoutMs: 10_000 });
      const down = c.members().find((m) => m.id !== leader.id && m.running)?.id as string;
      const downLast = (first.find((d) => d.id === down) as DigestBody).lastLogIndex;
      await c.kill(down);
      const up = endpoints.filter((e) => e !== c.member(down).http);
      await inParallel(BATCH, 32, (i) => putSurely(client, `key/${BATCH + i}`, `value-${i}`));
      // Whichever of the two leads now, both compact (a leader change is possible).
      await waitForConvergence(up, 10_000);
      const metas = await Promise.all(up.map((e) => client.snapshot(e).then(metaOf)));
      const compacted = Math.min(...metas.map((m) => m.lastIncludedIndex - LOG_MARGIN + 1));
      expect(compacted).toBeGreaterThan(downLast + 1);

      const installedBefore = events.filter(
        (e): e is SnapshotEvent => e.event === 'snapshot' && e.kind === 'installed',
      ).length;
      expect(installedBefore).toBe(0);
      const ready = await c.restart(down);
      expect(ready.lastLogIndex).toBe(downLast);
      const restarted = c.member(down).http;

      await waitUntil(
        `${down} to install a snapshot`,
        async () =>
          ((await fetchStatus(restarted))?.snapshotIndex ?? 0) >=
          Math.min(...metas.map((m) => m.lastIncludedIndex)),
        15_000,
      );
      const installed = events.filter(
        (e): e is SnapshotEvent => e.event === 'snapshot' && e.kind === 'installed',
      );
      expect(installed.map((e) => e.id)).toEqual([down]);
      expect(metas.map((m) => m.lastIncludedIndex)).toContain(
        (installed[0] as SnapshotEvent).index,
      );

      const digests = await waitForConvergence(endpoints, 15_000);
      expect(new Set(digests.map((d) => d.sha256)).size).toBe(1);
      expect(digests.map((d) => d.keys)).toEqual([2 * BATCH, 2 * BATCH, 2 * BATCH]);
      // It serves what it got through the snapshot (a linearizable read on that node).
      expect(await client.get(`key/${BATCH + 7}`, { endpoint: restarted })).toMatchObject({
        value: 'value-7',
      });
    }, 30_000);

    it('every node restarts from its snapshot and the log after it, with the same state', async () => {
      const c = cluster as LocalCluster;
      // Entries after the snapshots, so that each node needs both to rebuild its state.
      for (let i = 0; i < 30; i++) await putSurely(client, `after/${i}`, String(i));
      const before = await waitForConvergence(endpoints, 10_000);
      const snapshotIndexes = await Promise.all(
        endpoints.map(async (e) => (await client.status(e)).snapshotIndex),
      );
      for (const s of snapshotIndexes) expect(s).toBeGreaterThan(0);

      await Promise.all(c.members().map((m) => c.kill(m.id)));
      const ready = await Promise.all(c.members().map((m) => c.restart(m.id)));
      expect(ready.map((r) => r.lastLogIndex)).toEqual(before.map((d) => d.lastLogIndex));

      await waitForLeader(endpoints, { timeoutMs: 10_000 });
      const after = await waitForConvergence(endpoints, 10_000);
      expect(after.map((d) => d.sha256)).toEqual(before.map((d) => d.sha256));
      expect(after.map((d) => d.keys)).toEqual(before.map((d) => d.keys));
      for (const [i, endpoint] of endpoints.entries()) {
        const s = await client.status(endpoint);
        // Loaded from the snapshot (the log before it is gone), then the entries after it.
        expect(s.snapshotIndex).toBe(snapshotIndexes[i]);
        expect(s.firstLogIndex).toBeGreaterThan(1);
        expect(s.firstLogIndex).toBeLessThanOrEqual(s.snapshotIndex + 1);
      }
      expect(await client.get('after/29')).toMatchObject({ value: '29' });
      expect(await client.get('key/0')).toMatchObject({ value: 'value-0' });
    }, 30_000);
  },
);
