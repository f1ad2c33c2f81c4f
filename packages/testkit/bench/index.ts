/**
 * Benchmark tools of the repository (not published): an in-process 3-node cluster driven by
 * closed-loop clients whose proposals arrive either each in its own event-loop turn (as a
 * server's requests do) or re-proposed within one microtask checkpoint, with batching counted
 * at the plugin boundary by {@link CountingTransport} and {@link CountingLogStorage}. A storage
 * plugin's benchmark passes its own storage to measure a cluster on it (storage-sqlite's does,
 * importing this file by its path).
 *
 * @example
 * ```ts
 * import { runClusterBench } from '../../testkit/bench/index.js';
 * const r = await runClusterBench({ inFlight: 64, arrival: 'macrotask', seconds: 3 });
 * console.log(r.proposalsPerSecond, r.batching.entriesPerAppendEntries);
 * ```
 *
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
