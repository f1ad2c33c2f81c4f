import type { RaftError } from './errors.js';
import type { RaftTimer } from './timer.js';
import type { Configuration, PeerId } from './types.js';

/**
 * Where a membership change stands (braft's ConfigurationCtx):
 * - `catching-up`: new voters receive the log as learners until they are nearly current, so
 *   that adding them does not stall commits;
 * - `joint`: C(old,new) is in the log; decisions need a majority of both (Raft paper 6);
 * - `stable`: C(new) is in the log; the change is done once it commits.
 */
export type ChangeStage = 'catching-up' | 'joint' | 'stable';

export interface ConfigurationChange {
  readonly from: Configuration;
  readonly target: Configuration;
  /** Peers that are not in `from` at all and must catch up first. */
  readonly newPeers: readonly PeerId[];
  stage: ChangeStage;
  /** Index of the configuration entry this stage waits for. */
  waitIndex: number;
  readonly timer: RaftTimer;
  resolve(): void;
  reject(error: RaftError): void;
}

/** The peers whose votes change between two configurations. */
export function votersChanged(a: Configuration, b: Configuration): boolean {
  const x = new Set(a.voters);
  return a.voters.length !== b.voters.length || b.voters.some((p) => !x.has(p));
}
