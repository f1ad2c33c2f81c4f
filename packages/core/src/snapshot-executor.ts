import { BadRequestError, StorageError } from './errors.js';
import type { FSMCaller } from './fsm-caller.js';
import type { LogManager } from './log-manager.js';
import type { Logger } from './logger.js';
import type { InstallSnapshotRequest } from './messages.js';
import type { StateMachine } from './state-machine.js';
import type { SnapshotReader, SnapshotStorage, SnapshotWriter } from './storage.js';
import type { SnapshotMeta } from './types.js';

export interface SnapshotExecutorOptions {
  readonly storage: SnapshotStorage | undefined;
  readonly stateMachine: StateMachine<unknown>;
  readonly log: LogManager;
  readonly fsm: FSMCaller<unknown>;
  readonly logger: Logger;
  /** Entries kept in the log behind a snapshot, for followers that are a little behind. */
  readonly logMargin: number;
}

/** What receiving a leader's snapshot led to. */
export type InstallOutcome =
  | { readonly kind: 'chunk-stored' }
  | { readonly kind: 'installed'; readonly meta: SnapshotMeta }
  | { readonly kind: 'already-covered' }
  | { readonly kind: 'rejected'; readonly reason: string };

function sameMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  return a.lastIncludedIndex === b.lastIncludedIndex && a.lastIncludedTerm === b.lastIncludedTerm;
}

/**
 * Snapshots of one node (braft's SnapshotExecutor): saves the state machine's state up to
 * the applied index and compacts the log behind it; loads the latest snapshot at start; and
 * on a follower, assembles a leader's snapshot from its chunks and installs it.
 *
 * Saving and loading run on the FSMCaller's queue, between two apply batches, so the state
 * machine is never asked to snapshot or replace a state while entries are being applied.
 */
export class SnapshotExecutor {
  private lastIndex = 0;
  private lastTerm = 0;
  private saving: Promise<SnapshotMeta | undefined> | undefined;
  private receiving: { meta: SnapshotMeta; writer: SnapshotWriter; offset: number } | undefined;
  private skipping: SnapshotMeta | undefined;

  constructor(private readonly o: SnapshotExecutorOptions) {}

  /** Whether this node can take and install snapshots at all. */
  get enabled(): boolean {
    return (
      this.o.storage !== undefined &&
      typeof this.o.stateMachine.onSnapshotSave === 'function' &&
      typeof this.o.stateMachine.onSnapshotLoad === 'function'
    );
  }

  get lastSnapshotIndex(): number {
    return this.lastIndex;
  }

  /** At start: loads the latest snapshot into the state machine; returns its meta. */
  async load(): Promise<SnapshotMeta | undefined> {
    const storage = this.o.storage;
    if (!storage) return undefined;
    const reader = await storage.openLatest();
    if (!reader) return undefined;
    try {
      const load = this.o.stateMachine.onSnapshotLoad;
      if (typeof load !== 'function') {
        throw new StorageError(
          'the snapshot storage holds a snapshot but the state machine has no onSnapshotLoad',
        );
      }
      await load.call(this.o.stateMachine, reader);
      this.lastIndex = reader.meta.lastIncludedIndex;
      this.lastTerm = reader.meta.lastIncludedTerm;
      return reader.meta;
    } finally {
      await reader.close();
    }
  }

  /**
   * Snapshots the state machine as of its applied index and compacts the log. Resolves with
   * the snapshot's meta, or undefined when nothing was applied since the last one. Concurrent
   * calls share one save.
   */
  save(): Promise<SnapshotMeta | undefined> {
    if (!this.enabled) {
      return Promise.reject(
        new BadRequestError(
          'snapshots need snapshotStorage and a state machine with onSnapshotSave and onSnapshotLoad',
        ),
      );
    }
    if (!this.saving) {
      this.saving = this.doSave().finally(() => {
        this.saving = undefined;
      });
    }
    return this.saving;
  }

  private async doSave(): Promise<SnapshotMeta | undefined> {
    const { log, fsm, stateMachine } = this.o;
    const storage = this.o.storage as SnapshotStorage;
    const meta = await fsm.runExclusive(async () => {
      const index = fsm.appliedIndex;
      if (index <= this.lastIndex) return undefined;
      const term = log.termAt(index);
      if (term === undefined) throw new StorageError(`no term for applied index ${index}`);
      const snapshotMeta: SnapshotMeta = {
        lastIncludedIndex: index,
        lastIncludedTerm: term,
        configuration: log.configurations.at(index).configuration,
      };
      const writer = await storage.create(snapshotMeta);
      try {
        await stateMachine.onSnapshotSave?.(writer);
        await writer.commit();
      } catch (error) {
        await writer.abort().catch(() => {});
        throw error;
      }
      return snapshotMeta;
    });
    if (!meta || meta.lastIncludedIndex <= this.lastIndex) return undefined;
    this.lastIndex = meta.lastIncludedIndex;
    this.lastTerm = meta.lastIncludedTerm;
    const firstKept = Math.max(1, meta.lastIncludedIndex - this.o.logMargin + 1);
    log.compact(meta.lastIncludedIndex, meta.lastIncludedTerm, firstKept);
    log.configurations.setSnapshot({
      index: meta.lastIncludedIndex,
      term: meta.lastIncludedTerm,
      configuration: meta.configuration,
    });
    this.o.logger.info('snapshot saved', { index: meta.lastIncludedIndex, firstKept });
    return meta;
  }

  /**
   * A chunk of the leader's snapshot arrived (followers). Chunks come in order from offset 0;
   * anything else is refused and the leader starts over. A snapshot that this node's log or
   * state already covers is acknowledged without being installed: installing it would move
   * the state machine back.
   */
  async receive(req: InstallSnapshotRequest, committedIndex: number): Promise<InstallOutcome> {
    const meta = req.meta;
    const storage = this.o.storage;
    if (!this.enabled || !storage) return { kind: 'rejected', reason: 'snapshots are not enabled' };
    if (req.offset === 0) {
      await this.abortReceiving();
      const index = meta.lastIncludedIndex;
      const covered =
        index <= this.lastIndex ||
        (index <= committedIndex && this.o.log.termAt(index) === meta.lastIncludedTerm);
      if (covered) {
        this.skipping = meta;
      } else {
        this.skipping = undefined;
        this.receiving = { meta, writer: await storage.create(meta), offset: 0 };
      }
    }
    if (this.skipping && sameMeta(this.skipping, meta)) {
      if (req.done) this.skipping = undefined;
      return req.done ? { kind: 'already-covered' } : { kind: 'chunk-stored' };
    }
    const r = this.receiving;
    if (!r || !sameMeta(r.meta, meta) || r.offset !== req.offset) {
      return { kind: 'rejected', reason: `unexpected chunk at offset ${req.offset}` };
    }
    await r.writer.write(req.data);
    r.offset += req.data.byteLength;
    if (!req.done) return { kind: 'chunk-stored' };
    this.receiving = undefined;
    await r.writer.commit();
    await this.install(meta);
    return { kind: 'installed', meta };
  }

  /** Replaces the state machine's state and the log with the snapshot just stored. */
  private async install(meta: SnapshotMeta): Promise<void> {
    const { log, fsm, stateMachine } = this.o;
    const storage = this.o.storage as SnapshotStorage;
    await fsm.runExclusive(async () => {
      const reader: SnapshotReader | null = await storage.openLatest();
      if (!reader || !sameMeta(reader.meta, meta)) {
        await reader?.close();
        throw new StorageError('the snapshot just stored is not the latest one');
      }
      try {
        await stateMachine.onSnapshotLoad?.(reader);
      } finally {
        await reader.close();
      }
      const index = meta.lastIncludedIndex;
      if (log.termAt(index) === meta.lastIncludedTerm && index <= log.lastIndex) {
        // The log goes on past the snapshot with the leader's entries: keep them.
        log.compact(index, meta.lastIncludedTerm, index + 1);
      } else {
        log.resetTo(index, meta.lastIncludedTerm);
      }
      log.configurations.setSnapshot({
        index,
        term: meta.lastIncludedTerm,
        configuration: meta.configuration,
      });
      fsm.resetApplied(index);
    });
    this.lastIndex = meta.lastIncludedIndex;
    this.lastTerm = meta.lastIncludedTerm;
    this.o.logger.info('snapshot installed', { index: meta.lastIncludedIndex });
  }

  /** Drops a half-received snapshot (a new one started, or the node stops). */
  async abortReceiving(): Promise<void> {
    const r = this.receiving;
    this.receiving = undefined;
    if (r) await r.writer.abort().catch(() => {});
  }

  /** The latest snapshot, for a leader to send (the caller closes it). */
  openLatest(): Promise<SnapshotReader | null> {
    return this.o.storage ? this.o.storage.openLatest() : Promise.resolve(null);
  }

  get lastSnapshotTerm(): number {
    return this.lastTerm;
  }
}
