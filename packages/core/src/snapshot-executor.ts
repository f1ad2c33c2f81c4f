import type { Clock, RandomSource } from './clock.js';
import { BadRequestError, StorageError } from './errors.js';
import type { FSMCaller } from './fsm-caller.js';
import type { LogManager } from './log-manager.js';
import type { Logger } from './logger.js';
import type { InstallSnapshotRequest } from './messages.js';
import { NodeMetrics } from './metrics.js';
import type { StateMachine } from './state-machine.js';
import type { SnapshotReader, SnapshotStorage, SnapshotWriter } from './storage.js';
import { RaftTimer } from './timer.js';
import type { SnapshotMeta } from './types.js';

export interface SnapshotExecutorOptions {
  readonly storage: SnapshotStorage | undefined;
  readonly stateMachine: StateMachine<unknown>;
  readonly log: LogManager;
  readonly fsm: FSMCaller<unknown>;
  readonly logger: Logger;
  /** Entries kept in the log behind a snapshot, for followers that are a little behind. */
  readonly logMargin: number;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Between two periodic snapshots (0: none). */
  readonly intervalMs: number;
  /** Where save and install durations go. */
  readonly metrics?: NodeMetrics;
}

/** What receiving a leader's snapshot led to. */
export type InstallOutcome =
  | { readonly kind: 'chunk-stored' }
  | { readonly kind: 'installed'; readonly meta: SnapshotMeta }
  | { readonly kind: 'already-covered' }
  | { readonly kind: 'rejected'; readonly reason: string }
  /** The state machine could not load it: dropped, nothing changed here. */
  | { readonly kind: 'unloadable'; readonly reason: string };

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
  private receiving:
    | { meta: SnapshotMeta; writer: SnapshotWriter; offset: number; startedAt: number }
    | undefined;
  private skipping: SnapshotMeta | undefined;

  private readonly timer: RaftTimer;
  private take: () => Promise<unknown> = async () => undefined;
  private readonly metrics: NodeMetrics;

  constructor(private readonly o: SnapshotExecutorOptions) {
    this.timer = new RaftTimer(o.clock, () => this.onTimer());
    this.metrics = o.metrics ?? NodeMetrics.none;
  }

  /**
   * braft's snapshot timer: every `intervalMs`, the first time at a random point between half
   * an interval and one and a half (so that a cluster's nodes do not all snapshot at once),
   * `take` runs, when snapshots are enabled.
   */
  startTimer(take: () => Promise<unknown>): void {
    this.take = take;
    const ms = this.o.intervalMs;
    // Whole milliseconds: Node keeps one timer list per distinct duration, and a fractional
    // one per node would give each of a multi-raft process's thousands of nodes its own.
    if (ms > 0) this.timer.start(Math.ceil(ms / 2 + this.o.random() * ms));
  }

  stopTimer(): void {
    this.timer.stop();
  }

  private onTimer(): void {
    this.timer.start(this.o.intervalMs);
    if (!this.enabled) return;
    this.take().catch((error: unknown) => {
      this.o.logger.error('periodic snapshot failed', { error: String(error) });
    });
  }

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

  /**
   * At start: the latest snapshot becomes the state machine's state, then the log after it is
   * loaded, and nothing at or below the snapshot is applied again. Returns the snapshot's
   * index, if there is one.
   */
  async restore(): Promise<number | undefined> {
    const snapshot = await this.load();
    const { log, fsm } = this.o;
    await log.load(
      snapshot ? { index: snapshot.lastIncludedIndex, term: snapshot.lastIncludedTerm } : undefined,
    );
    if (!snapshot) return undefined;
    log.configurations.setSnapshot({
      index: snapshot.lastIncludedIndex,
      term: snapshot.lastIncludedTerm,
      configuration: snapshot.configuration,
    });
    fsm.resetApplied(snapshot.lastIncludedIndex);
    return snapshot.lastIncludedIndex;
  }

  /** Loads the latest snapshot into the state machine; returns its meta. */
  private async load(): Promise<SnapshotMeta | undefined> {
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
      const started = this.metrics.start();
      const writer = await storage.create(snapshotMeta);
      try {
        await stateMachine.onSnapshotSave?.(writer);
        await writer.commit();
      } catch (error) {
        await writer.abort().catch(() => {});
        throw error;
      }
      this.metrics.snapshotSaved(started);
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
   * anything else is refused and the leader starts over. Calls are handled one at a time (a
   * duplicated chunk must not be written twice). A snapshot that this node already holds
   * durably, in its log or its own snapshot, is acknowledged without being installed:
   * installing it would move the state machine back.
   */
  receive(req: InstallSnapshotRequest, committedIndex: () => number): Promise<InstallOutcome> {
    const next = this.receiveQueue.then(async () => {
      const outcome = await this.receiveOne(req, committedIndex);
      if (outcome.kind === 'unloadable' || outcome.kind === 'rejected') {
        this.metrics.snapshotRefused(outcome.kind);
      }
      return outcome;
    });
    this.receiveQueue = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private receiveQueue: Promise<void> = Promise.resolve();

  private async receiveOne(
    req: InstallSnapshotRequest,
    committedIndex: () => number,
  ): Promise<InstallOutcome> {
    const meta = req.meta;
    const storage = this.o.storage;
    if (!this.enabled || !storage) return { kind: 'rejected', reason: 'snapshots are not enabled' };
    if (req.offset === 0) {
      await this.abortReceiving();
      if (this.covers(meta, committedIndex())) {
        this.skipping = meta;
      } else {
        this.skipping = undefined;
        const startedAt = this.metrics.start();
        this.receiving = { meta, writer: await storage.create(meta), offset: 0, startedAt };
      }
    }
    if (this.skipping && sameMeta(this.skipping, meta)) {
      if (!req.done) return { kind: 'chunk-stored' };
      this.skipping = undefined;
      return (await this.durablyHeld(meta))
        ? { kind: 'already-covered' }
        : { kind: 'rejected', reason: 'the entries it covers were truncated meanwhile' };
    }
    const r = this.receiving;
    if (!r || !sameMeta(r.meta, meta) || r.offset !== req.offset) {
      return { kind: 'rejected', reason: `unexpected chunk at offset ${req.offset}` };
    }
    await r.writer.write(req.data);
    if (this.receiving !== r) return { kind: 'rejected', reason: 'a newer snapshot started' };
    r.offset += req.data.byteLength;
    if (!req.done) return { kind: 'chunk-stored' };
    this.receiving = undefined;
    const installed = await this.install(meta, r.writer);
    if (installed === true) this.metrics.snapshotInstalled(r.startedAt);
    if (typeof installed === 'string') return { kind: 'unloadable', reason: installed };
    if (installed) return { kind: 'installed', meta };
    return (await this.durablyHeld(meta))
      ? { kind: 'already-covered' }
      : { kind: 'rejected', reason: 'the entries it covers were truncated meanwhile' };
  }

  /** Whether this node's state or log already holds everything the snapshot holds. */
  private covers(meta: SnapshotMeta, committedIndex: number): boolean {
    const index = meta.lastIncludedIndex;
    return (
      index <= this.lastIndex ||
      index <= this.o.fsm.appliedIndex ||
      (index <= committedIndex && this.o.log.termAt(index) === meta.lastIncludedTerm)
    );
  }

  /**
   * Before acknowledging a snapshot as already held, the entries it covers must be on this
   * node's disk (or in its own snapshot): the leader will count them as this node's.
   */
  private async durablyHeld(meta: SnapshotMeta): Promise<boolean> {
    const index = meta.lastIncludedIndex;
    if (index <= this.lastIndex) return true;
    try {
      await this.o.log.waitDurable(index);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Loads the received snapshot into the state machine, then publishes it and replaces the
   * log with it, unless, by the time the apply queue gets to it, the state has moved past it
   * (the log may have caught up by AppendEntries meanwhile): then the snapshot is dropped and
   * false returned, so an older snapshot never replaces a newer one as the latest.
   *
   * The state machine loads it before it is published: one it cannot load (it throws, and by
   * the StateMachine contract leaves its state as it was) is dropped and the reason returned,
   * and this node goes on as it was and restarts from what it had. A snapshot is only ever
   * the latest once a state machine accepted it.
   */
  private async install(meta: SnapshotMeta, writer: SnapshotWriter): Promise<boolean | string> {
    const { log, fsm, stateMachine } = this.o;
    const index = meta.lastIncludedIndex;
    const installed = await fsm.runExclusive(async () => {
      if (index <= this.lastIndex || index <= fsm.appliedIndex) {
        await writer.abort().catch(() => {});
        return false;
      }
      const reader: SnapshotReader = await writer.openReader();
      try {
        await stateMachine.onSnapshotLoad?.(reader);
      } catch (error) {
        await writer.abort().catch(() => {});
        return `the state machine could not load it: ${error instanceof Error ? error.message : String(error)}`;
      } finally {
        await reader.close();
      }
      // Loaded: from here a failure is this node's own storage failing.
      await writer.commit();
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
      this.lastIndex = index;
      this.lastTerm = meta.lastIncludedTerm;
      return true;
    });
    if (installed === true) this.o.logger.info('snapshot installed', { index });
    else if (installed) this.o.logger.warn('snapshot refused', { index, reason: installed });
    return installed;
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
