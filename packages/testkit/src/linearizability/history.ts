/**
 * The histories the linearizability checker reads: operations on a key-value store whose
 * keys are independent registers, each with the time it was invoked, the time it completed
 * (if it did) and what it returned.
 */

/** What a key holds: a string, or null when the key does not exist. */
export type KvValue = string | null;

/** What a client asked for. */
export type KvCall =
  | { readonly op: 'read' }
  | { readonly op: 'write'; readonly value: string }
  | { readonly op: 'delete' }
  /** Compare-and-set: `expected` null means "the key must not exist". */
  | { readonly op: 'cas'; readonly expected: KvValue; readonly value: string };

/**
 * What a completed operation returned. `prev` (optional) is the value the key held just
 * before the operation took effect, when the store reports it: giving it makes the check
 * stronger (and the search faster), since it pins down the state at that point.
 */
export type KvOutput =
  | { readonly op: 'read'; readonly value: KvValue }
  | { readonly op: 'write'; readonly prev?: KvValue }
  | { readonly op: 'delete'; readonly prev?: KvValue }
  /** `succeeded` false: the compare failed and nothing changed (not an error). */
  | { readonly op: 'cas'; readonly succeeded: boolean; readonly prev?: KvValue };

interface OperationBase {
  /** Who issued it (a client, a thread): shown in explanations, not used by the search. */
  readonly process: string | number;
  readonly key: string;
  readonly call: KvCall;
  /** When the call was sent, on a monotonic clock (e.g. `performance.now()`). */
  readonly invokedAt: number;
}

/** The operation took effect once, somewhere between its invocation and its completion. */
export interface CompletedOperation extends OperationBase {
  readonly outcome: 'completed';
  /** When the answer arrived, on the same clock as `invokedAt`. */
  readonly returnedAt: number;
  readonly output: KvOutput;
}

/**
 * No answer, or an answer that does not say whether it happened (a timeout, a lost
 * connection, an "outcome unknown" error): the operation may take effect at any point after
 * its invocation, even long after, or never. An indefinite read tells nothing and is ignored.
 */
export interface IndefiniteOperation extends OperationBase {
  readonly outcome: 'indefinite';
  /** Why (a timeout, an error code): shown in explanations. */
  readonly reason?: string;
}

/** The store said it certainly did not and will not happen: it has no effect and is ignored. */
export interface NotAppliedOperation extends OperationBase {
  readonly outcome: 'not-applied';
  readonly returnedAt?: number;
  readonly reason?: string;
}

export type KvOperation = CompletedOperation | IndefiniteOperation | NotAppliedOperation;

/** A history: operations in any order (the times order them). */
export type KvHistory = readonly KvOperation[];

/** A malformed history (a programming error in whoever recorded it, not a violation). */
export class HistoryError extends Error {
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(`history operation #${index}: ${message}`);
    this.name = 'HistoryError';
  }
}

/** Throws a HistoryError for the first operation that is not well formed. */
export function validateHistory(history: KvHistory): void {
  history.forEach((op, index) => {
    if (!Number.isFinite(op.invokedAt)) throw new HistoryError(index, 'invokedAt is not finite');
    if (typeof op.key !== 'string') throw new HistoryError(index, 'the key is not a string');
    if (op.outcome === 'completed') {
      if (!Number.isFinite(op.returnedAt) || op.returnedAt < op.invokedAt) {
        throw new HistoryError(index, 'returnedAt is not a finite time at or after invokedAt');
      }
      if (op.output.op !== op.call.op) {
        throw new HistoryError(index, `a ${op.call.op} call with a ${op.output.op} output`);
      }
    }
  });
}

/** One operation as a short line: `p3 cas(k1, "a" -> "b") = failed (prev "c")`. */
export function describeOperation(op: KvOperation): string {
  const v = (x: KvValue): string => (x === null ? 'absent' : JSON.stringify(x));
  const call = op.call;
  let text: string;
  switch (call.op) {
    case 'read':
      text = `read(${op.key})`;
      break;
    case 'write':
      text = `write(${op.key}, ${v(call.value)})`;
      break;
    case 'delete':
      text = `delete(${op.key})`;
      break;
    case 'cas':
      text = `cas(${op.key}, ${v(call.expected)} -> ${v(call.value)})`;
  }
  let result: string;
  if (op.outcome === 'completed') {
    const out = op.output;
    const prev = 'prev' in out && out.prev !== undefined ? ` (prev ${v(out.prev)})` : '';
    switch (out.op) {
      case 'read':
        result = ` = ${v(out.value)}`;
        break;
      case 'cas':
        result = ` = ${out.succeeded ? 'succeeded' : 'failed'}${prev}`;
        break;
      default:
        result = ` = ok${prev}`;
    }
  } else if (op.outcome === 'indefinite') {
    result = ` = unknown${op.reason === undefined ? '' : ` (${op.reason})`}`;
  } else {
    result = ` = not applied${op.reason === undefined ? '' : ` (${op.reason})`}`;
  }
  const end = op.outcome === 'completed' ? op.returnedAt.toFixed(1) : '…';
  const who = typeof op.process === 'number' ? `p${op.process}` : op.process;
  return `${who} ${text}${result}  [${op.invokedAt.toFixed(1)}, ${end}] ms`;
}
