/**
 * Benchmark tools (`@kontiki/testkit/bench`): an in-process 3-node cluster driven by
 * closed-loop clients whose proposals arrive either each in its own event-loop turn (as a
 * server's requests do) or re-proposed within one microtask checkpoint, with batching counted
 * at the plugin boundary by {@link CountingTransport} and {@link CountingLogStorage}. A storage
 * plugin passes its own storage to measure a cluster on it.
 *
 * @example
 * ```ts
 * import { runClusterBench } from '@kontiki/testkit/bench';
 * const r = await runClusterBench({ inFlight: 64, arrival: 'macrotask', seconds: 3 });
 * console.log(r.proposalsPerSecond, r.batching.entriesPerAppendEntries);
 * ```
 *
 * @packageDocumentation
 */
export {
  type Arrival,
  type BatchingFigures,
  type BenchNodeStorage,
  type BenchStorageFactory,
  type ClusterBenchOptions,
  type ClusterBenchResult,
  runClusterBench,
} from './cluster-driver.js';
export {
  CountingLogStorage,
  CountingTransport,
  type StorageCounts,
  type TransportCounts,
} from './counting.js';
