/**
 * Tools for transport plugins: a throwaway certificate authority for TLS tests, and the
 * transport benchmark every bundled transport runs (`@kontiki/testkit/transport-tools`).
 *
 * @packageDocumentation
 */
export { type NodeCredentials, type ThrowawayCa, throwawayCa } from './throwaway-ca.js';
export {
  type BenchSettings,
  memoryPair,
  runTransportBench,
  serveBench,
  type TransportPair,
} from './transport-bench.js';
