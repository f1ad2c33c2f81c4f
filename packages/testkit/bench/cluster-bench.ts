/**
 * `pnpm bench` for the core: an in-process 3-node cluster on the memory transport and memory
 * storage with real timers, at 1, 64 and 1024 proposals in flight (100-byte payloads), driven
 * two ways:
 * - the microtask loop (the original figure): each client re-proposes as soon as its
 *   previous proposal resolves, so proposals completing together are proposed together;
 * - macrotask arrival (shaped like a server): each proposal arrives in its own event-loop
 *   turn (`setImmediate` per proposal, as requests read from sockets do).
 * For each: applied proposals per second, latency p50/p99 (client issue to the promise
 * resolving on the leader: committed and applied), CPU per proposal, and batching counted at
 * the plugin boundary (entries per AppendEntries, entries per storage append).
 *
 * Prints one JSON value on stdout; progress goes to stderr. Options (env): BENCH_SECONDS
 * (default 3 per level), BENCH_LEVELS (default "1,64,1024"), BENCH_ARRIVALS (default
 * "microtask,macrotask").
 */
import { type Arrival, type ClusterBenchResult, runClusterBench } from './cluster-driver.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const levels = (process.env.BENCH_LEVELS ?? '1,64,1024').split(',').map(Number);
const arrivals = (process.env.BENCH_ARRIVALS ?? 'microtask,macrotask').split(',') as Arrival[];
const PAYLOAD = 100;

function summary(r: ClusterBenchResult): string {
  const b = r.batching;
  return `${r.proposalsPerSecond} proposals/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, ${r.cpuMicrosPerProposal} µs CPU/proposal, ${b.entriesPerAppendEntries} entries/AppendEntries, ${b.leaderEntriesPerStorageAppend} (leader) / ${b.followerEntriesPerStorageAppend} (followers) entries/append\n`;
}

const byArrival: Partial<Record<Arrival, ClusterBenchResult[]>> = {};
for (const arrival of arrivals) {
  const results: ClusterBenchResult[] = [];
  for (const inFlight of levels) {
    process.stderr.write(
      `in-process 3-node cluster, ${arrival} arrival, ${inFlight} in flight, ${seconds}s ... `,
    );
    const r = await runClusterBench({ inFlight, arrival, seconds, payloadBytes: PAYLOAD });
    process.stderr.write(summary(r));
    results.push(r);
  }
  byArrival[arrival] = results;
}
console.log(
  JSON.stringify({
    bench: 'in-process 3-node cluster, memory transport + memory storage, real timers',
    payloadBytes: PAYLOAD,
    secondsPerLevel: seconds,
    // The microtask loop keeps the key it always had.
    levels: byArrival.microtask ?? [],
    macrotaskArrival: byArrival.macrotask ?? [],
  }),
);
