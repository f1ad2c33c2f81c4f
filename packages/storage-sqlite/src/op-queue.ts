import { type RaftError, ShutdownError } from '@kontiki/core';
import { batchLength } from './entry-batch.js';
import {
  isRead,
  isUnordered,
  type Numbered,
  type Op,
  type OpResult,
  type OpValues,
} from './ops.js';
import { fromWire } from './wire-error.js';

interface Waiting {
  readonly resolve: (value: never) => void;
  readonly reject: (error: RaftError) => void;
  /** The batch the op left in, once sent (unordered reads are not counted in any). */
  batch?: InFlightBatch;
}

interface InFlightBatch {
  /** Ops of the batch not answered yet. */
  remaining: number;
}

/**
 * Two, not one: while the engine writes one batch, the next is already waiting for it, so the
 * engine never idles while the answer travels back and this thread gets round to the next
 * batch (with one, each commit would wait for this thread's event loop).
 */
export const MAX_BATCHES_IN_FLIGHT = 2;

/** Where the queue sends ops: the engine on this thread, or on its worker. */
export type SendOps = (ops: Numbered[]) => void;

/**
 * The facade's side of group commit. Writes submitted during one turn of the event loop,
 * from any group of the store, leave together at the end of the turn (setImmediate), so
 * the engine writes them in one transaction. Ops keep their order end to end: a read that
 * follows queued writes waits for them; a read with nothing queued before it leaves at
 * once, and so does a read that no write can affect (see `isUnordered`). Every op's promise
 * settles exactly once: with its answer, its own error, or the failure of the engine.
 *
 * At most {@link MAX_BATCHES_IN_FLIGHT} batches are with the engine at a time: one being
 * written, one waiting to be written next. Whatever is submitted meanwhile (appends of any
 * group, meta saves, reads) waits here and leaves as ONE batch when a batch is answered: on a
 * worker that is one message and one transaction for everything that piled up during a
 * commit and its fsync, instead of one message per turn. On the main thread a batch is
 * answered before `send` returns, so nothing ever waits.
 */
export class OpQueue {
  /** Transactions the engine has committed so far (as of its last answer). */
  commits = 0;
  /** Batches handed to the engine (in worker mode: messages posted), ops and entries in them. */
  readonly sent = { batches: 0, ops: 0, entries: 0 };
  private queued: Numbered[] = [];
  private readonly waiting = new Map<number, Waiting>();
  private readonly inFlight = new Set<InFlightBatch>();
  private scheduled: NodeJS.Immediate | undefined;
  private nextId = 1;
  private closed = false;
  private failure: RaftError | undefined;

  /**
   * @param send hands ops to the engine, in order.
   * @param onBusy told when ops start and stop waiting for answers.
   */
  constructor(
    private readonly send: SendOps,
    private readonly onBusy: (busy: boolean) => void = () => {},
  ) {}

  /** Why the engine is gone, once it is: every op fails with this. */
  get failed(): RaftError | undefined {
    return this.failure;
  }

  /** Queues an op; resolves with its answer once the engine has run it (writes: durably). */
  submit<T extends Op>(op: T): Promise<OpValues[T['kind']]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new ShutdownError('the SQLite store is closed'));
    const numbered: Numbered = { ...op, id: this.nextId++ };
    return new Promise<OpValues[T['kind']]>((resolve, reject) => {
      this.waiting.set(numbered.id, { resolve: resolve as (value: never) => void, reject });
      if (this.waiting.size === 1) this.onBusy(true);
      if (isUnordered(numbered)) {
        this.dispatch([numbered], false);
        return;
      }
      if (isRead(numbered) && this.queued.length === 0 && this.mayDispatch()) {
        this.dispatch([numbered], true);
        return;
      }
      this.queued.push(numbered);
      if (this.mayDispatch()) this.schedule();
      // Otherwise it leaves with the next batch, when the engine answers one.
    });
  }

  /** Sends every queued op now, however many batches the engine already has. */
  flush(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    if (this.queued.length === 0) return;
    const ops = this.queued;
    this.queued = [];
    this.dispatch(ops, true);
  }

  private mayDispatch(): boolean {
    return this.inFlight.size < MAX_BATCHES_IN_FLIGHT;
  }

  private schedule(): void {
    // setImmediate rather than a microtask: every group's write loop gets to queue its
    // writes in this turn (core starts them in microtasks) before the batch goes out.
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      // A read may have taken the last free place meanwhile: then the next answer sends these.
      if (this.mayDispatch()) this.flush();
    });
  }

  private dispatch(ops: Numbered[], counted: boolean): void {
    this.sent.batches++;
    this.sent.ops += ops.length;
    if (counted) {
      const batch: InFlightBatch = { remaining: ops.length };
      this.inFlight.add(batch);
      for (const op of ops) {
        const w = this.waiting.get(op.id);
        if (w !== undefined) w.batch = batch;
      }
    }
    for (const op of ops) if (op.kind === 'append') this.sent.entries += batchLength(op.entries);
    this.send(ops);
  }

  /** Answers from the engine. */
  deliver(results: readonly OpResult[], commits: number): void {
    this.commits = commits;
    for (const r of results) {
      const w = this.waiting.get(r.id);
      if (w === undefined) continue;
      this.waiting.delete(r.id);
      const batch = w.batch;
      if (batch !== undefined && --batch.remaining === 0) this.inFlight.delete(batch);
      if (r.ok) w.resolve(r.value as never);
      else w.reject(fromWire(r.error));
    }
    // What piled up while the engine was busy leaves at the end of this turn, with whatever
    // the answered ops' continuations submit in it.
    if (this.queued.length > 0 && this.mayDispatch()) this.schedule();
    if (this.waiting.size === 0) this.onBusy(false);
  }

  /** The engine is gone: every op waiting or queued fails with `error`, and so will later ones. */
  fail(error: RaftError): void {
    this.failure ??= error;
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    this.queued = [];
    this.inFlight.clear();
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.reject(error);
    this.onBusy(false);
  }

  /** Sends what is queued (it will be answered), then refuses new ops with ShutdownError. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}
