import { describeOperation, type KvOperation, type KvValue } from './history.js';
import type { OperationRef, Violation } from './result.js';

export interface ViolationFacts {
  readonly key: string;
  /** The key's operations that the checker considered, and their indexes in the history. */
  readonly ops: readonly KvOperation[];
  readonly indexes: readonly number[];
  /** Position in `ops` of the operation whose completion ends the shortest failing prefix. */
  readonly culpritAt: number;
  /** Positions in `ops` of the operations of that prefix. */
  readonly included: readonly number[];
  readonly impossibleIn: readonly (KvValue | undefined)[];
  readonly possibleIn: readonly (KvValue | undefined)[];
}

/** Operations completed just before the culprit that are shown: what set the state it saw. */
const RECENT = 6;
/** Indefinite writes shown at most (the most recent): they may have happened any time later. */
const PENDING = 8;

const show = (v: KvValue | undefined): string =>
  v === undefined ? 'a value no operation observed' : v === null ? 'absent' : JSON.stringify(v);

/**
 * A violation as a reader needs it: the failing operation, the states the key could be in
 * when it took effect, and its neighbours in the history (those overlapping it, the last
 * ones completed before it, indefinite ones that may have taken effect meanwhile).
 */
export function explainViolation(facts: ViolationFacts): Violation {
  const { key, ops, indexes, culpritAt } = facts;
  const ref = (i: number): OperationRef => ({
    index: indexes[i] as number,
    operation: ops[i] as KvOperation,
  });
  const culpritOp = ops[culpritAt];
  if (culpritOp === undefined || culpritOp.outcome !== 'completed') {
    return {
      key,
      culprit: undefined,
      prefixLength: facts.included.length,
      keyOperations: ops.length,
      related: [],
      impossibleIn: facts.impossibleIn,
      possibleIn: facts.possibleIn,
      explanation: `key ${JSON.stringify(key)}: not linearizable (${ops.length} operations)`,
    };
  }
  const start = culpritOp.invokedAt;
  const end = culpritOp.returnedAt;

  const overlapping: number[] = [];
  const before: number[] = [];
  const pending: number[] = [];
  for (const i of facts.included) {
    if (i === culpritAt) continue;
    const op = ops[i] as KvOperation;
    const returned = op.outcome === 'completed' ? op.returnedAt : Number.POSITIVE_INFINITY;
    if (op.invokedAt <= end && returned >= start) {
      if (op.outcome === 'completed') overlapping.push(i);
      else pending.push(i);
    } else if (returned < start) {
      before.push(i);
    }
  }
  const byInvocation = (a: number, b: number): number =>
    (ops[a] as KvOperation).invokedAt - (ops[b] as KvOperation).invokedAt;
  const byReturn = (a: number, b: number): number => {
    const ra = ops[a] as KvOperation;
    const rb = ops[b] as KvOperation;
    return (
      (ra.outcome === 'completed' ? ra.returnedAt : 0) -
      (rb.outcome === 'completed' ? rb.returnedAt : 0)
    );
  };
  const recent = before.sort(byReturn).slice(-RECENT);
  const shownPending = pending.sort(byInvocation).slice(-PENDING);
  const related = [...new Set([...recent, ...overlapping, ...shownPending])].sort(byInvocation);

  const lines = [
    `key ${JSON.stringify(key)}: not linearizable. Its history up to the completion of #${indexes[culpritAt]} (${facts.included.length} of its ${ops.length} operations) has no legal order that includes this result:`,
    `  #${indexes[culpritAt]} ${describeOperation(culpritOp)}`,
  ];
  if (facts.impossibleIn.length > 0) {
    lines.push(
      `When it could take effect the key could hold ${facts.impossibleIn.map(show).join(', ')}; its result fits none of these.`,
    );
  }
  if (facts.possibleIn.length > 0) {
    lines.push(
      `Its result fits the key holding ${facts.possibleIn.map(show).join(', ')}, but then the other operations cannot all be ordered.`,
    );
  }
  if (pending.length > shownPending.length) {
    lines.push(`(${pending.length - shownPending.length} older indefinite operations not shown)`);
  }
  lines.push('Operations around it, by invocation (> the culprit, ? indefinite or pending then):');
  for (const i of [...related, culpritAt].sort(byInvocation)) {
    const op = ops[i] as KvOperation;
    const mark =
      i === culpritAt ? '>' : op.outcome !== 'completed' || op.returnedAt > end ? '?' : ' ';
    lines.push(`${mark} #${indexes[i]} ${describeOperation(op)}`);
  }

  return {
    key,
    culprit: ref(culpritAt),
    prefixLength: facts.included.length,
    keyOperations: ops.length,
    related: related.map(ref),
    impossibleIn: facts.impossibleIn,
    possibleIn: facts.possibleIn,
    explanation: lines.join('\n'),
  };
}
