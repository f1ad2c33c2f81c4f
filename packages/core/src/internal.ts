/**
 * Kontiki core's internals, for `@kontiki/testkit` and tools built against this exact
 * version of `@kontiki/core`. **Unstable: not covered by semver**; anything here may change
 * in any release. Applications compose nodes from the main entry point only.
 *
 * @packageDocumentation
 */
export { Ballot } from './ballot.js';
export { BallotBox } from './ballot-box.js';
export {
  type ConfigurationEntry,
  ConfigurationManager,
  decodeConfiguration,
  encodeConfiguration,
  hasQuorum,
  majority,
  quorumMatchIndex,
  sameConfiguration,
} from './configuration.js';
export {
  ElectionAdmission,
  electionAdmissionOf,
  MAX_CONCURRENT_ELECTIONS,
} from './election-admission.js';
export { TypedEmitter } from './events.js';
export { FSMCaller } from './fsm-caller.js';
export { LogManager } from './log-manager.js';
export { nodeInternals } from './node.js';
export { type ResolvedOptions, resolveOptions } from './options.js';
export { RaftMetaManager } from './raft-meta.js';
export { NodeImpl } from './raft-node.js';
export { Replicator, type ReplicatorHost } from './replicator.js';
export { ReplicatorGroup } from './replicator-group.js';
