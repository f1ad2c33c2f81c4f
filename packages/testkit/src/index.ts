/**
 * Kontiki's test kit: a deterministic simulator of whole clusters (virtual time, seeded
 * faults, crash and restart from storage), the safety invariants of Raft checked after every
 * step, a linearizability checker for key-value histories (`checkLinearizability`), and the
 * conformance suites every plugin runs (`@kontiki/testkit/log-storage`, `/meta-storage`,
 * `/snapshot-storage`, `/transport`).
 *
 * @example
 * ```ts
 * import { SimCluster } from '@kontiki/testkit';
 * const cluster = new SimCluster({ seed: 1, peers: 3 });
 * await cluster.start();
 * const leader = await cluster.waitForLeader();
 * await cluster.propose('hello');
 * cluster.network.isolate(leader.id, cluster.peers);
 * await cluster.runFor(5 * cluster.electionTimeoutMs);
 * ```
 *
 * @packageDocumentation
 */

export {
  type CompletedOperation,
  checkLinearizability,
  describeOperation,
  HistoryError,
  HistoryRecorder,
  type IndefiniteOperation,
  type KeyCheck,
  type KvCall,
  type KvHistory,
  type KvOperation,
  type KvOutput,
  type KvValue,
  type LinearizabilityOptions,
  type LinearizabilityResult,
  type NotAppliedOperation,
  type OperationRef,
  type PendingOperation,
  type Verdict,
  type Violation,
} from './linearizability/index.js';
export {
  type HostileScenarioOptions,
  type HostileScenarioResult,
  runHostileScenario,
} from './liveness/hostile-scenario.js';
export { MemoryMetrics, type MemorySeries } from './metrics/memory-metrics.js';
export {
  SimCluster,
  type SimClusterOptions,
  type SimMember,
  SimulationFailure,
} from './sim/cluster.js';
export {
  applyHostileNetwork,
  type HostileNetworkProfile,
  hostileFilter,
  ISSUE_9_NETWORK,
  scaleProfile,
} from './sim/hostile-network.js';
export { GroupInvariants, InvariantViolation } from './sim/invariants.js';
export {
  type LatencySummary,
  type LatencyViolation,
  type LivenessFaultsOptions,
  type LivenessFaultsResult,
  runLivenessFaults,
  seededNetwork,
  summarize,
} from './sim/liveness-faults.js';
export { type FaultKind, Nemesis, type NemesisOptions } from './sim/nemesis.js';
export { Rng } from './sim/rng.js';
export { SimStateMachine } from './sim/sim-state-machine.js';
export { SimDisk, SimLogStorage, SimMetaStorage } from './sim/sim-storage.js';
export { runSimulation, type SimulationOptions, type SimulationResult } from './sim/simulation.js';
export { NodeClock, VirtualTime } from './sim/virtual-clock.js';
export { type Acknowledged, Workload } from './sim/workload.js';
