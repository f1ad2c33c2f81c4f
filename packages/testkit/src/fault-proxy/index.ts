/**
 * A fault-injecting TCP proxy for tests of real transports between real processes
 * (`@kontiki/testkit/fault-proxy`): per direction, delay with jitter (byte order kept),
 * stalls, blackholes (half-open links) and resets, all changeable at run time and seeded;
 * and a mesh of one proxy per directed pair of nodes.
 *
 * @example
 * ```ts
 * import { FaultMesh } from '@kontiki/testkit/fault-proxy';
 * const mesh = await FaultMesh.start({ nodes: ['n1', 'n2', 'n3'], seed: 7 });
 * // start each node, then: mesh.setTarget('n2', { host: '127.0.0.1', port: 7002 });
 * // n1 dials n2 at mesh.address('n1', 'n2')
 * mesh.setAll('both', { delayMs: 50, jitterMs: 50 });
 * mesh.startChaos({ stallEveryMs: [2000, 5000], stallMs: [500, 2000], resetEveryMs: [5000, 15000] });
 * ```
 *
 * @packageDocumentation
 */
export {
  type ChaosFault,
  type ChaosOptions,
  FaultMesh,
  type FaultMeshOptions,
} from './fault-mesh.js';
export {
  type Direction,
  type DirectionFaults,
  FaultProxy,
  type FaultProxyOptions,
  type FaultProxyStats,
  type ProxyTarget,
} from './fault-proxy.js';
