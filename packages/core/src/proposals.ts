import type { RaftError } from './errors.js';

/** What `node.apply` resolves with: where the entry landed and what the state machine returned. */
export interface ApplyResult<R> {
  readonly index: number;
  readonly term: number;
  readonly result: R | undefined;
}

export interface PendingProposal<R> {
  readonly term: number;
  resolve(value: ApplyResult<R>): void;
  reject(error: RaftError): void;
}

/**
 * The proposals of the current leader that wait for their entry to be applied, by index
 * (braft keeps these closures in the BallotBox's pending queue).
 */
export class ProposalQueue<R> {
  private readonly pending = new Map<number, PendingProposal<R>>();

  get size(): number {
    return this.pending.size;
  }

  add(index: number, proposal: PendingProposal<R>): void {
    this.pending.set(index, proposal);
  }

  /** Removes and returns the proposal waiting for `index`, if any. */
  take(index: number): PendingProposal<R> | undefined {
    const p = this.pending.get(index);
    if (p !== undefined) this.pending.delete(index);
    return p;
  }

  /** Forgets the proposal at `index` without settling it (its caller gave up). */
  drop(index: number): void {
    this.pending.delete(index);
  }

  /** Fails every pending proposal with `error` (step-down, shutdown). */
  failAll(error: RaftError): void {
    if (this.pending.size === 0) return;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(error);
  }
}
