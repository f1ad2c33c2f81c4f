/**
 * The in-process 3-node cluster of testkit's benchmark (packages/testkit/bench, not published) on SQLite storage: each node its
 * own store (its own file, `synchronous: 'full'`), proposals arriving each in its own
 * event-loop turn (as a server's requests do), at 1, 64 and 1024 in flight, with SQLite on
 * the main thread and on a worker thread. Besides throughput, latency and batching at the
 * plugin boundary, each store reports its transactions and the batches of ops it handed to
 * its engine (with `thread: 'worker'`: messages posted to the worker).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BenchStorageFactory,
  type ClusterBenchResult,
  runClusterBench,
} from '../../testkit/bench/index.js';
import type { ThreadMode } from '../src/index.js';

type Store = typeof import('../src/index.js');

const ratio = (n: number | undefined, d: number | undefined) =>
  n === undefined || d === undefined || d === 0 ? 0 : Number((n / d).toFixed(2));

function sqliteStorage({ SqliteStore }: Store, thread: ThreadMode): BenchStorageFactory {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kontiki-cluster-bench-'));
    const store = await SqliteStore.open(dir, { synchronous: 'full', thread });
    return {
      logStorage: store.logStorage('bench'),
      metaStorage: store.metaStorage('bench'),
      stats: () => store.stats,
      close: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

/** What the stores' counters say, per role: entries per transaction and per engine batch. */
function storeFigures(r: ClusterBenchResult) {
  const out: Record<string, Record<string, number>> = {};
  for (const role of ['leader', 'followers'] as const) {
    const s = r.storageStats?.[role] ?? {};
    out[role] = {
      transactions: s.commits ?? 0,
      batches: s.batches ?? 0,
      entriesPerTransaction: ratio(s.entries, s.commits),
      entriesPerBatch: ratio(s.entries, s.batches),
      opsPerBatch: ratio(s.ops, s.batches),
      batchesPerTransaction: ratio(s.batches, s.commits),
    };
  }
  return out;
}

export async function sqliteClusterBench(
  store: Store,
  options: { seconds: number; levels: readonly number[]; threads: readonly ThreadMode[] },
) {
  const results = [];
  for (const thread of options.threads) {
    for (const inFlight of options.levels) {
      process.stderr.write(
        `3-node cluster on SQLite (thread ${thread}), macrotask arrival, ${inFlight} in flight ... `,
      );
      const r = await runClusterBench({
        inFlight,
        arrival: 'macrotask',
        seconds: options.seconds,
        storage: sqliteStorage(store, thread),
      });
      const stores = storeFigures(r);
      process.stderr.write(
        `${r.proposalsPerSecond} proposals/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, ${r.batching.entriesPerAppendEntries} entries/AppendEntries, leader ${stores.leader?.entriesPerTransaction} entries/transaction, ${stores.leader?.entriesPerBatch} entries/batch\n`,
      );
      results.push({ thread, ...r, stores });
    }
  }
  return {
    bench:
      "in-process 3-node cluster on SQLite (synchronous: 'full', one file per node), macrotask arrival",
    secondsPerLevel: options.seconds,
    results,
  };
}
