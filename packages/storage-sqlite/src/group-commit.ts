import { RaftError, ShutdownError, StorageError } from '@kontiki/core';
import type Database from 'better-sqlite3';

/** One write of one group: its statements run inside the shared transaction. */
export interface WriteJob {
  /**
   * Runs the job's statements. Throwing fails this job alone (its savepoint is rolled back).
   * State a job prepares for the jobs after it should be tagged with `committer.batch`: a
   * failed transaction leaves it behind, and the next batch has another number.
   */
  write(): void;
  /** After the transaction is durable: publish the job's effect to readers. */
  committed(): void;
}

interface Pending {
  readonly job: WriteJob;
  readonly resolve: () => void;
  readonly reject: (error: RaftError) => void;
}

/**
 * Group commit: every write submitted during one turn of the event loop, from any group
 * of the store, is written in one SQLite transaction, so one fsync covers them all.
 * Each job runs in its own savepoint, so a job that fails (bad input found late) takes
 * nothing else with it; a failed COMMIT (disk full, I/O error) fails every job in it.
 */
export class GroupCommitter {
  private queue: Pending[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;
  private readonly runBatch: (batch: readonly Pending[]) => Pending[];
  private readonly runAlone: (job: WriteJob) => void;
  /** Transactions committed so far (the benchmark reports writes per transaction). */
  commits = 0;
  /** The number of the batch being written (or last written). */
  batch = 0;

  constructor(db: Database.Database) {
    // A nested better-sqlite3 transaction function runs as a SAVEPOINT.
    this.runAlone = db.transaction((job: WriteJob) => job.write());
    this.runBatch = db.transaction((batch: readonly Pending[]) => {
      if (batch.length === 1) {
        // Alone in the transaction: no savepoint needed, a throw rolls back only this job.
        (batch[0] as Pending).job.write();
        return batch.slice();
      }
      const done: Pending[] = [];
      for (const p of batch) {
        try {
          this.runAlone(p.job);
          done.push(p);
        } catch (error) {
          settleFailure(p, error);
        }
      }
      return done;
    });
  }

  /** Queues a job for the next group commit; resolves once it is durable. */
  submit(job: WriteJob): Promise<void> {
    if (this.closed) return Promise.reject(new ShutdownError('the SQLite store is closed'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      // setImmediate rather than a microtask: every group's write loop gets to queue its
      // writes in this turn (core starts them in microtasks) before the batch goes out.
      this.scheduled ??= setImmediate(() => {
        this.scheduled = undefined;
        this.flush();
      });
    });
  }

  /** Writes every queued job now, in one transaction. */
  flush(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.batch++;
    let done: Pending[];
    try {
      done = this.runBatch(batch);
      this.commits++;
    } catch (error) {
      const failure =
        batch.length === 1
          ? error
          : new StorageError(`the SQLite transaction failed: ${String(error)}`, { cause: error });
      for (const p of batch) settleFailure(p, failure);
      return;
    }
    for (const p of done) {
      p.job.committed();
      p.resolve();
    }
  }

  /** Writes what is queued, then refuses further jobs. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}

/** Kontiki's own errors pass as they are; anything SQLite threw becomes a StorageError. */
export function asStorageError(error: unknown): RaftError {
  if (RaftError.is(error)) return error;
  return new StorageError(`SQLite: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
  });
}

function settleFailure(p: Pending, error: unknown): void {
  p.reject(asStorageError(error));
}
