import type { RaftError } from './errors.js';
import type { SnapshotReader, SnapshotWriter } from './storage.js';
import type { Configuration, PeerId } from './types.js';

/** A committed data entry, as handed to the state machine. */
export interface CommittedEntry {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

export interface LeaderChangeContext {
  readonly leaderId: PeerId;
  readonly term: number;
}

/**
 * The user's state machine. `onApply` receives committed data entries in log order, in
 * batches, and returns one result per entry (or nothing): the result of entry i resolves
 * the `apply()` promise of whoever proposed it on the leader. Every other callback is optional.
 */
export interface StateMachine<R = unknown> {
  onApply(
    entries: readonly CommittedEntry[],
  ): readonly R[] | undefined | Promise<readonly R[] | undefined>;
  /**
   * Called with the leader's term once its first entry of the term is applied: from then on
   * everything committed before it is applied too, and the leader can serve reads.
   */
  onLeaderStart?(term: number): void;
  onLeaderStop?(reason: RaftError): void;
  onStartFollowing?(context: LeaderChangeContext): void;
  onStopFollowing?(context: LeaderChangeContext): void;
  onConfigurationCommitted?(configuration: Configuration, index: number): void;
  /** Write the state as of the last applied entry. */
  onSnapshotSave?(writer: SnapshotWriter): Promise<void>;
  /**
   * Replace the state with the snapshot's. A snapshot it cannot load (not one of its own,
   * corrupt) must throw and leave the state exactly as it was: the node then refuses that
   * snapshot and goes on as before. Load fully, check, then swap.
   */
  onSnapshotLoad?(reader: SnapshotReader): Promise<void>;
  /** The node hit an error it cannot continue from (it moves to the `error` role). */
  onError?(error: RaftError): void;
  onShutdown?(): void;
}
