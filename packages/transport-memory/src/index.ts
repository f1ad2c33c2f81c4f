/**
 * An in-process transport for Kontiki: every node of a cluster inside one process, on a
 * {@link MemoryNetwork} that can drop, delay, duplicate and reorder messages, partition
 * peers and cut single directions. The simulator runs on it; so can tests and demos.
 *
 * @example
 * ```ts
 * import { MemoryNetwork } from '@kontiki/transport-memory';
 * const network = new MemoryNetwork();
 * const transport = network.endpoint('n1'); // pass as NodeOptions.transport
 * network.partition(['n1'], ['n2', 'n3']);  // later: network.heal()
 * ```
 *
 * @packageDocumentation
 */
export {
  type FilterVerdict,
  MemoryNetwork,
  type MemoryNetworkOptions,
  MemoryTransport,
  type NetworkMessage,
  type NetworkStats,
} from './memory-network.js';
