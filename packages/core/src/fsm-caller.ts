import { type RaftError, ShutdownError, toRaftError } from './errors.js';
import type { LogManager } from './log-manager.js';
import { NodeMetrics } from './metrics.js';
import type { CommittedEntry, StateMachine } from './state-machine.js';
import { EntryType, type LogEntry } from './types.js';

export interface FSMCallerHooks<R> {
  /** A batch was applied: `results[i]` belongs to `data[i]`. */
  onApplied(data: readonly LogEntry[], results: readonly R[] | undefined, lastIndex: number): void;
  /** A configuration entry was committed and applied (in log order with data). */
  onConfigurationApplied(entry: LogEntry): void;
  /** The state machine threw, or an entry could not be read: the node cannot go on. */
  onError(error: RaftError): void;
}

/**
 * Applies committed entries to the state machine, in order and in batches, one batch at a
 * time (braft's FSMCaller). Commit notifications that arrive while a batch runs are folded
 * into the next one.
 */
export class FSMCaller<R> {
  private applied = 0;
  private committed = 0;
  private running = false;
  private scheduled = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  /** Work that must run between two batches with nothing applied meanwhile (snapshots). */
  private exclusive: Array<{ run: () => Promise<void>; cancel: (error: RaftError) => void }> = [];

  constructor(
    private readonly log: LogManager,
    private readonly stateMachine: StateMachine<R>,
    private readonly batchSize: number,
    private readonly hooks: FSMCallerHooks<R>,
    private readonly metrics = NodeMetrics.none,
  ) {}

  get appliedIndex(): number {
    return this.applied;
  }

  get committedIndex(): number {
    return this.committed;
  }

  /** Starts from a snapshot's index (nothing at or below it is applied again). */
  resetApplied(index: number): void {
    this.applied = index;
    if (this.committed < index) this.committed = index;
    this.metrics.restored(index);
  }

  setCommitted(index: number): void {
    if (index <= this.committed) return;
    this.committed = index;
    this.metrics.committedTo(index);
    this.schedule();
  }

  /**
   * Runs `fn` in the apply queue: after the batch under way, before the next one, so that
   * the state machine holds exactly what was applied up to `appliedIndex` while it runs
   * (braft runs snapshot save and load on the FSMCaller's queue for the same reason).
   */
  runExclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.stopped) return Promise.reject(new ShutdownError('the state machine is stopped'));
    return new Promise<T>((resolve, reject) => {
      this.exclusive.push({
        run: async () => {
          try {
            resolve(await fn());
          } catch (error) {
            reject(error);
          }
        },
        cancel: reject,
      });
      this.schedule();
    });
  }

  private schedule(): void {
    if (!this.running && !this.scheduled && !this.stopped) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        void this.run();
      });
    }
  }

  /** Stops applying after the batch under way; resolves once it is done. */
  stop(): Promise<void> {
    this.stopped = true;
    const jobs = this.exclusive;
    this.exclusive = [];
    for (const job of jobs) job.cancel(new ShutdownError('the state machine is stopped'));
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      while ((this.applied < this.committed || this.exclusive.length > 0) && !this.stopped) {
        const job = this.exclusive.shift();
        if (job) {
          await job.run();
          continue;
        }
        const from = this.applied + 1;
        const to = Math.min(this.committed, this.applied + this.batchSize) + 1;
        const read = this.log.getEntries(from, to);
        const entries = Array.isArray(read) ? read : await read;
        if (this.stopped) break;
        if (entries.length === 0 || entries[0]?.index !== from) {
          throw new Error(`committed entry ${from} is missing from the log`);
        }
        await this.applyBatch(entries);
      }
    } catch (error) {
      this.stopped = true;
      const e = toRaftError(error);
      // Work queued behind the failure will never run: tell whoever waits for it.
      const jobs = this.exclusive;
      this.exclusive = [];
      for (const job of jobs) job.cancel(e);
      this.hooks.onError(e);
    } finally {
      this.running = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async applyBatch(entries: readonly LogEntry[]): Promise<void> {
    // Runs of data entries go to the state machine together; configuration entries
    // are applied in their place in the order.
    let start = 0;
    for (let i = 0; i <= entries.length; i++) {
      const e = entries[i];
      if (e !== undefined && e.type === EntryType.Data) continue;
      if (i > start) {
        const data = start === 0 && i === entries.length ? entries : entries.slice(start, i);
        const out = this.stateMachine.onApply(data as readonly CommittedEntry[]);
        const results = out instanceof Promise ? await out : out;
        const last = (data[data.length - 1] as LogEntry).index;
        this.applied = last;
        this.metrics.appliedTo(last);
        this.hooks.onApplied(data, results, last);
      }
      if (e !== undefined) {
        this.applied = e.index;
        this.metrics.appliedTo(e.index);
        this.hooks.onConfigurationApplied(e);
      }
      start = i + 1;
    }
  }
}
