import type { KvOperation, KvValue } from '../../src/index.js';

/**
 * A reference for the checker, written to be obviously right rather than fast: tries every
 * sequence of operations that respects real time (an operation may come next only if no
 * operation left out returned before it was invoked), in which every completed operation
 * appears once and each indefinite one at most once, and each key behaves as a register.
 * Exponential: for histories of a handful of operations only.
 */
export function bruteForceLinearizable(history: readonly KvOperation[]): boolean {
  const ops = history.filter(
    (op) => op.outcome === 'completed' || (op.outcome === 'indefinite' && op.call.op !== 'read'),
  );
  const returned = (op: KvOperation): number =>
    op.outcome === 'completed' ? op.returnedAt : Number.POSITIVE_INFINITY;
  const used = ops.map(() => false);

  const search = (store: ReadonlyMap<string, string>): boolean => {
    if (ops.every((op, i) => used[i] || op.outcome !== 'completed')) return true;
    for (let i = 0; i < ops.length; i++) {
      if (used[i]) continue;
      const op = ops[i] as KvOperation;
      // Some operation left out returned before this one was invoked: it must come first.
      const blocked = ops.some((o, j) => !used[j] && j !== i && returned(o) < op.invokedAt);
      if (blocked) continue;
      const after = apply(store, op);
      if (after === undefined) continue;
      used[i] = true;
      const ok = search(after);
      used[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return search(new Map());
}

/** The store after `op`, or undefined if its result is impossible in `store`. */
function apply(
  store: ReadonlyMap<string, string>,
  op: KvOperation,
): ReadonlyMap<string, string> | undefined {
  const current: KvValue = store.get(op.key) ?? null;
  const out = op.outcome === 'completed' ? op.output : undefined;
  if (out !== undefined && 'prev' in out && out.prev !== undefined && out.prev !== current) {
    return undefined;
  }
  const set = (value: KvValue): Map<string, string> => {
    const copy = new Map(store);
    if (value === null) copy.delete(op.key);
    else copy.set(op.key, value);
    return copy;
  };
  const call = op.call;
  switch (call.op) {
    case 'read':
      return out?.op === 'read' && out.value === current ? store : undefined;
    case 'write':
      return set(call.value);
    case 'delete':
      return set(null);
    case 'cas': {
      const matches = current === call.expected;
      if (out?.op === 'cas') {
        if (out.succeeded !== matches) return undefined;
      }
      return matches ? set(call.value) : store;
    }
  }
}
