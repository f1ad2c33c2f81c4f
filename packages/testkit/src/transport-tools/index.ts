/**
 * Tools for transport plugins: a throwaway certificate authority for TLS tests, a real Raft
 * node behind an endpoint with a spy on what reaches it (for hostile-input tests), and the
 * transport benchmark every bundled transport runs (`@kontiki/testkit/transport-tools`).
 *
 * @packageDocumentation
 */
export {
  type NodeBehind,
  type NodeBehindOptions,
  type NodeFacts,
  nodeBehind,
} from './node-behind.js';
export { type NodeCredentials, type ThrowawayCa, throwawayCa } from './throwaway-ca.js';
export {
  type BenchSettings,
  memoryPair,
  runTransportBench,
  serveBench,
  type TransportPair,
} from './transport-bench.js';
