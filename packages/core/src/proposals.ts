import { AbortedError, ErrorCode, LeaderSteppedDownError, type RaftError } from './errors.js';
import { NodeMetrics } from './metrics.js';
import type { LogEntry } from './types.js';

export interface ApplyOptions {
  /** Fail with TERM_MISMATCH unless the leader is still in this term. */
  readonly expectedTerm?: number;
  /** Stop waiting; the entry may still be applied if it was already appended. */
  readonly signal?: AbortSignal;
}

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
  /** Created with the first proposal: a follower (most nodes of a multi-raft process) has none. */
  private pending: Map<number, PendingProposal<R>> | undefined;

  private reportScheduled = false;

  constructor(private readonly metrics = NodeMetrics.none) {}

  /** A proposal refused before it was appended: counted, and its error returned rejected. */
  refuse(error: RaftError): Promise<never> {
    this.metrics.proposalsFailed(error.code, 1);
    return Promise.reject(error);
  }

  get size(): number {
    return this.pending?.size ?? 0;
  }

  add(index: number, proposal: PendingProposal<R>): void {
    this.pending ??= new Map();
    this.pending.set(index, proposal);
    // The gauge is set once per turn, not once per proposal.
    if (this.metrics.enabled && !this.reportScheduled) {
      this.reportScheduled = true;
      queueMicrotask(() => {
        this.reportScheduled = false;
        this.metrics.pendingProposals(this.size);
      });
    }
  }

  /** Removes and returns the proposal waiting for `index`, if any. */
  take(index: number): PendingProposal<R> | undefined {
    const p = this.pending?.get(index);
    if (p !== undefined) this.pending?.delete(index);
    return p;
  }

  /** Forgets the proposal at `index` without settling it (its caller gave up). */
  drop(index: number): void {
    this.pending?.delete(index);
  }

  /**
   * The promise a proposer gets for the entry at `index` of `term`. Aborting `signal` stops
   * the wait (the entry stays in the log and may still be applied).
   */
  track(index: number, term: number, signal: AbortSignal | undefined): Promise<ApplyResult<R>> {
    if (!signal) {
      return new Promise((resolve, reject) => this.add(index, { term, resolve, reject }));
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.drop(index);
        const reason: unknown = signal.reason;
        const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
        this.metrics.proposalsFailed(ErrorCode.ABORTED, 1, timedOut);
        this.metrics.pendingProposals(this.size);
        reject(
          new AbortedError(
            'apply aborted; the entry was already appended and may still be applied',
          ),
        );
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.add(index, {
        term,
        resolve: (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
    });
  }

  /**
   * Entries were applied, `results[i]` from `entries[i]`: their proposers hear the result, or
   * LEADER_STEPPED_DOWN when another leader's entry took the index they were promised.
   */
  settleApplied(entries: readonly LogEntry[], results: readonly R[] | undefined): void {
    if (this.size === 0) return;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as LogEntry;
      const p = this.take(e.index);
      if (p === undefined) continue;
      if (p.term === e.term) p.resolve({ index: e.index, term: e.term, result: results?.[i] });
      else {
        p.reject(new LeaderSteppedDownError('another entry was committed at the proposal index'));
        this.metrics.proposalsFailed(ErrorCode.LEADER_STEPPED_DOWN, 1);
      }
    }
    this.metrics.pendingProposals(this.size);
  }

  /** Fails every pending proposal with `error` (step-down, shutdown). */
  failAll(error: RaftError): void {
    const pending = this.pending;
    if (pending === undefined || pending.size === 0) return;
    const all = [...pending.values()];
    pending.clear();
    this.metrics.proposalsFailed(error.code, all.length);
    this.metrics.pendingProposals(0);
    for (const p of all) p.reject(error);
  }
}
