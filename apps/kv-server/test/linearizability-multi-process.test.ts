import { performance } from 'node:perf_hooks';
import { checkLinearizability, type LinearizabilityResult } from '@kontiki/testkit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { waitForConvergence, waitForLeader } from '../src/cluster-observer.js';
import { LocalCluster } from '../src/local-cluster.js';
import { HistoryWorkload } from './support/history-workload.js';
import { type NemesisEvent, ProcessNemesis } from './support/process-nemesis.js';
import { tempDir } from './support/temp-dir.js';

/**
 * A Jepsen-style test: three kv-server processes on SQLite, clients doing random reads,
 * puts, deletes and compare-and-sets on five keys while a nemesis kills, restarts, pauses
 * and resumes nodes and transfers leadership; then the whole history is checked for
 * linearizability (docs/notes/linearizability.md). KONTIKI_JEPSEN_SECONDS lengthens a run,
 * KONTIKI_JEPSEN_SEED replays a workload and fault schedule (not the timing).
 */
const SECONDS = Number(process.env.KONTIKI_JEPSEN_SECONDS ?? 15);
const ELECTION_TIMEOUT_MS = 300;
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4'];
const CLIENTS = 6;

function timeline(events: readonly NemesisEvent[], origin: number, around?: number): string {
  const shown =
    around === undefined ? events : events.filter((e) => Math.abs(e.at - around) < 3000);
  return shown
    .map(
      (e) =>
        `  ${((e.at - origin) / 1000).toFixed(3)} s  ${e.fault} ${e.node ?? ''} ${e.phase}: ${e.detail}`,
    )
    .join('\n');
}

/** The checker's explanation with the faults around the failing operation. */
function report(
  result: LinearizabilityResult,
  events: readonly NemesisEvent[],
  origin: number,
  seed: number,
): string {
  const culprit = result.violations[0]?.culprit?.operation;
  const faults = timeline(events, origin, culprit?.invokedAt);
  return `seed ${seed} (times in the history are performance.now(); the run began at ${origin.toFixed(1)} ms)\n${result.summary}\nFaults around it:\n${faults}`;
}

/**
 * The same workload and checker through each API: HTTP over both Raft transports, and etcd's
 * v3 gRPC API (CAS by Txn; writes sent to followers are forwarded to the leader).
 */
const VARIANTS = [
  { transport: 'grpc', api: 'http' },
  { transport: 'ws', api: 'http' },
  { transport: 'grpc', api: 'etcd' },
] as const;

describe.each(VARIANTS)(
  'Jepsen-style: three kv-server processes over $transport on SQLite, clients on the $api API, under a process nemesis',
  ({ transport, api }) => {
    const data = tempDir(`kv-jepsen-${transport}-${api}`);
    const unexpectedExits: string[] = [];
    /** Snapshots the nodes saved and installed (from their leader), for the report. */
    const snapshots = { saved: 0, installed: 0 };
    let cluster: LocalCluster | undefined;
    let workload: HistoryWorkload | undefined;
    let nemesis: ProcessNemesis | undefined;

    afterAll(async () => {
      // Whatever happened: no node left paused, every client stopped, every child stopped.
      // (Errors here come after the test's own failure; the cleanup goes on regardless.)
      await Promise.allSettled([nemesis?.stop(), workload?.stop()]);
      await cluster?.stop();
      data.remove();
    });

    it(
      `keeps a linearizable history for ${SECONDS} s of random operations on ${KEYS.length} keys`,
      async () => {
        const seed = Number(process.env.KONTIKI_JEPSEN_SEED ?? Math.floor(Math.random() * 2 ** 31));
        cluster = await LocalCluster.start({
          serverScript: inject('serverScript'),
          transport,
          storage: 'sqlite',
          dataDir: data.dir,
          electionTimeoutMs: ELECTION_TIMEOUT_MS,
          // Snapshots and compaction every few seconds: a node back from a kill may catch up
          // by InstallSnapshot.
          snapshotIntervalS: 3,
          snapshotLogMargin: 200,
          onUnexpectedExit: (id, code, signal) => unexpectedExits.push(`${id}: ${signal ?? code}`),
          onEvent: (event) => {
            if (event.event === 'snapshot') snapshots[event.kind]++;
          },
        });
        const endpoints = cluster.httpEndpoints();
        const first = await waitForLeader(endpoints, { timeoutMs: 10_000 });

        const origin = performance.now();
        const deadline = origin + SECONDS * 1000;
        workload = new HistoryWorkload({
          endpoints: api === 'etcd' ? cluster.etcdEndpoints() : endpoints,
          api,
          clients: CLIENTS,
          keys: KEYS,
          seed,
          maxOpsPerClient: 100_000,
          deadline,
          requestTimeoutMs: 1000,
        });
        nemesis = new ProcessNemesis({
          cluster,
          seed,
          deadline,
          downMs: [300, 1500],
          quietMs: [200, 800],
        });
        nemesis.start();
        await workload.finished();
        await nemesis.stop();
        await nemesis.heal();
        const last = await waitForLeader(endpoints, { timeoutMs: 10_000 });
        await workload.finalReads();
        await workload.stop();

        const history = workload.recorder.history();
        const checkStarted = performance.now();
        const result = checkLinearizability(history);
        const checkMs = Math.round(performance.now() - checkStarted);
        const counts = workload.counts;
        console.info(
          `${transport}/${api}: seed ${seed}; ${history.length} operations ${JSON.stringify(counts)}; faults ${JSON.stringify(nemesis.injected())}; snapshots ${JSON.stringify(snapshots)}; terms ${first.term} -> ${last.term}; checked in ${checkMs} ms: ${result.summary.split('\n')[0]}`,
        );

        expect(result.verdict, report(result, nemesis.events, origin, seed)).toBe('linearizable');
        expect(unexpectedExits).toEqual([]);

        // The history is worth checking: many operations of every kind, answered and not,
        // on every key, under every kind of fault, across several leaders.
        expect(counts.reads).toBeGreaterThan(300);
        expect(counts.writes).toBeGreaterThan(100);
        expect(counts.casSucceeded).toBeGreaterThan(30);
        expect(counts.casFailed).toBeGreaterThan(30);
        expect(counts.indefinite + counts.notApplied + counts.failedReads).toBeGreaterThan(0);
        for (const key of result.keys) expect(key.operations, key.key).toBeGreaterThan(100);
        expect(result.keys.map((k) => k.key)).toEqual(KEYS);
        for (const [fault, n] of Object.entries(nemesis.injected()))
          expect(n, fault).toBeGreaterThan(0);
        expect(last.term).toBeGreaterThan(first.term + 2);

        // And the nodes end in the same state.
        const digests = await waitForConvergence(endpoints, 20_000);
        expect(new Set(digests.map((d) => d.sha256)).size).toBe(1);
      },
      60_000 + SECONDS * 2000,
    );
  },
);
