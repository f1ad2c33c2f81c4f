import { performance } from 'node:perf_hooks';
import type { KvCall, KvHistory, KvOperation, KvOutput } from './history.js';

/** A handle on an operation that was invoked and not yet resolved. */
export type PendingOperation = number & { readonly __pending: unique symbol };

interface Invocation {
  readonly process: string | number;
  readonly key: string;
  readonly call: KvCall;
  readonly invokedAt: number;
}

/**
 * Records a history as clients run: `invoke` before sending a request, then exactly one of
 * `complete`, `indefinite` or `notApplied` when its fate is known. Times come from a
 * monotonic clock (`performance.now()` unless another is given), so that wall-clock steps
 * cannot reorder operations. An operation never resolved counts as indefinite.
 */
export class HistoryRecorder {
  private readonly invocations: Invocation[] = [];
  private readonly resolved: Array<KvOperation | undefined> = [];

  constructor(private readonly now: () => number = () => performance.now()) {}

  invoke(process: string | number, key: string, call: KvCall): PendingOperation {
    this.invocations.push({ process, key, call, invokedAt: this.now() });
    this.resolved.push(undefined);
    return (this.invocations.length - 1) as PendingOperation;
  }

  /** It took effect and returned `output`. */
  complete(op: PendingOperation, output: KvOutput): void {
    const returnedAt = this.now();
    this.resolve(op, (inv) => ({ ...inv, outcome: 'completed', returnedAt, output }));
  }

  /** Its fate is unknown (a timeout, a lost connection, an "outcome unknown" error). */
  indefinite(op: PendingOperation, reason?: string): void {
    this.resolve(op, (inv) => ({
      ...inv,
      outcome: 'indefinite',
      ...(reason === undefined ? {} : { reason }),
    }));
  }

  /** It certainly did not and will not take effect. */
  notApplied(op: PendingOperation, reason?: string): void {
    const returnedAt = this.now();
    this.resolve(op, (inv) => ({
      ...inv,
      outcome: 'not-applied',
      returnedAt,
      ...(reason === undefined ? {} : { reason }),
    }));
  }

  get size(): number {
    return this.invocations.length;
  }

  /** The history so far; operations still pending are indefinite. */
  history(): KvHistory {
    return this.invocations.map(
      (inv, i) =>
        this.resolved[i] ?? { ...inv, outcome: 'indefinite', reason: 'pending at the end' },
    );
  }

  private resolve(op: PendingOperation, make: (inv: Invocation) => KvOperation): void {
    const inv = this.invocations[op];
    if (inv === undefined) throw new RangeError(`no operation ${op}`);
    if (this.resolved[op] !== undefined) throw new Error(`operation ${op} was already resolved`);
    this.resolved[op] = make(inv);
  }
}
