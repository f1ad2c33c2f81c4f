import { explainViolation } from './explain.js';
import {
  type CompletedOperation,
  type IndefiniteOperation,
  type KvHistory,
  type KvValue,
  validateHistory,
} from './history.js';
import { RegisterModel } from './register-model.js';
import type { KeyCheck, LinearizabilityResult, Verdict, Violation } from './result.js';
import { type SearchResult, searchLinearization } from './wgl-search.js';

export interface LinearizabilityOptions {
  /** A key with more operations (completed and indefinite) is not checked: "unknown". Default 20,000. */
  readonly maxOpsPerKey?: number;
  /** Search steps per key before giving up with "unknown". Default 5,000,000. */
  readonly maxStepsPerKey?: number;
  /**
   * Memory of one key's search cache, in 32-bit words of stored sets, before giving up with
   * "unknown". Default 32 Mi words (128 MiB).
   */
  readonly maxCacheWordsPerKey?: number;
  /** What each key holds before the history. Default: absent (null). */
  readonly initialValue?: (key: string) => KvValue;
  /**
   * On a violation, look for the shortest failing prefix (a binary search over the key's
   * completions, a few more searches) to explain it. Default true.
   */
  readonly explain?: boolean;
}

const DEFAULTS = {
  maxOpsPerKey: 20_000,
  maxStepsPerKey: 5_000_000,
  maxCacheWordsPerKey: 32 * 1024 * 1024,
} as const;

type Checked = CompletedOperation | IndefiniteOperation;

/** The explanation's searches may take this many times a key's step bound, in all. */
const EXPLAIN_BUDGET = 2;

/** The operations of one key that can matter, with their places in the whole history. */
interface KeyHistory {
  readonly key: string;
  readonly ops: Checked[];
  readonly indexes: number[];
}

/**
 * Checks that a key-value history is linearizable: that there is one order of all its
 * operations, consistent with real time (an operation that returned before another was
 * invoked comes first) and with each operation's result, in which each key behaves as a
 * register. Indefinite operations may take effect anywhere after their invocation, or not
 * at all; not-applied operations and indefinite reads are ignored.
 *
 * Keys are independent, so each is checked alone (linearizability is compositional, Herlihy
 * & Wing 1990), by Wing & Gong's search with Lowe's memoization. Each key's search is
 * bounded: past the bounds its verdict is "unknown", never a guess.
 */
export function checkLinearizability(
  history: KvHistory,
  options: LinearizabilityOptions = {},
): LinearizabilityResult {
  validateHistory(history);
  const maxOps = options.maxOpsPerKey ?? DEFAULTS.maxOpsPerKey;
  const limits = {
    maxSteps: options.maxStepsPerKey ?? DEFAULTS.maxStepsPerKey,
    maxCacheWords: options.maxCacheWordsPerKey ?? DEFAULTS.maxCacheWordsPerKey,
  };
  const initialOf = options.initialValue ?? (() => null);

  const byKey = new Map<string, KeyHistory>();
  let completed = 0;
  let indefinite = 0;
  let ignored = 0;
  history.forEach((op, index) => {
    // Neither can change or reveal the state: a not-applied operation never happened, and an
    // unanswered read observed nothing.
    if (op.outcome === 'not-applied' || (op.outcome === 'indefinite' && op.call.op === 'read')) {
      ignored++;
      return;
    }
    if (op.outcome === 'completed') completed++;
    else indefinite++;
    let k = byKey.get(op.key);
    if (k === undefined) {
      k = { key: op.key, ops: [], indexes: [] };
      byKey.set(op.key, k);
    }
    k.ops.push(op);
    k.indexes.push(index);
  });

  const keys: KeyCheck[] = [];
  let steps = 0;
  for (const k of [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    if (k.ops.length > maxOps) {
      keys.push({
        key: k.key,
        verdict: 'unknown',
        operations: k.ops.length,
        steps: 0,
        reason: `${k.ops.length} operations, more than maxOpsPerKey (${maxOps})`,
      });
      continue;
    }
    const initial = initialOf(k.key);
    const { result } = searchKey(k.ops, initial, Number.POSITIVE_INFINITY, limits);
    steps += result.steps;
    if (result.verdict === 'linearizable') {
      keys.push({
        key: k.key,
        verdict: 'linearizable',
        operations: k.ops.length,
        steps: result.steps,
      });
    } else if (result.verdict === 'unknown') {
      keys.push({
        key: k.key,
        verdict: 'unknown',
        operations: k.ops.length,
        steps: result.steps,
        reason: result.reason,
      });
    } else {
      const violation =
        options.explain === false
          ? unexplained(k)
          : explainKey(k, initial, limits, (s) => {
              steps += s;
            });
      keys.push({
        key: k.key,
        verdict: 'not-linearizable',
        operations: k.ops.length,
        steps: result.steps,
        violation,
      });
    }
  }

  const violations = keys.flatMap((k) => (k.violation === undefined ? [] : [k.violation]));
  const verdict: Verdict =
    violations.length > 0
      ? 'not-linearizable'
      : keys.some((k) => k.verdict === 'unknown')
        ? 'unknown'
        : 'linearizable';
  const stats = { operations: history.length, completed, indefinite, ignored, steps };
  return { verdict, keys, violations, stats, summary: summarize(verdict, keys, violations, stats) };
}

/** One search of a prefix: its result, which operations it held, and its value names. */
interface PrefixSearch {
  readonly result: SearchResult;
  /** Positions (in the key's operations) of the operations in the prefix. */
  readonly included: readonly number[];
  readonly model: RegisterModel;
}

/**
 * Searches the prefix of one key's history up to time `cut`: operations invoked by then,
 * those not returned by then made indefinite (reads among them dropped). Prefixes of a
 * linearizable history are linearizable, which is what makes a binary search over cuts valid.
 */
function searchKey(
  ops: readonly Checked[],
  initial: KvValue,
  cut: number,
  limits: { maxSteps: number; maxCacheWords: number },
  watch?: number,
): PrefixSearch {
  const included: number[] = [];
  const prefix: Checked[] = [];
  ops.forEach((op, i) => {
    if (op.invokedAt > cut) return;
    if (op.outcome === 'completed' && op.returnedAt > cut) {
      if (op.call.op === 'read') return;
      const { process, key, call, invokedAt } = op;
      prefix.push({ outcome: 'indefinite', process, key, call, invokedAt });
    } else {
      prefix.push(op);
    }
    included.push(i);
  });
  const model = new RegisterModel(prefix, initial, watch !== undefined);
  const classNames = new Map<string, number>();
  const classes = prefix.map((_, i) => {
    const name = model.symmetryClass(i);
    if (name === undefined) return -1;
    const known = classNames.get(name);
    if (known !== undefined) return known;
    classNames.set(name, classNames.size);
    return classNames.size - 1;
  });
  const watchAt = watch === undefined ? -1 : included.indexOf(watch);
  const result = searchLinearization(
    {
      invokedAt: prefix.map((op) => op.invokedAt),
      returnedAt: prefix.map((op) =>
        op.outcome === 'completed' ? op.returnedAt : Number.POSITIVE_INFINITY,
      ),
      initial: model.initial,
      step: (state, op) => model.step(state, op),
      classes,
      observers: prefix.map((_, i) => model.isObserver(i)),
      uses: model,
    },
    watchAt < 0 ? limits : { ...limits, watch: watchAt },
  );
  return { result, included, model };
}

/**
 * Explains a key's violation with its shortest failing prefix, found by a binary search over
 * the key's completion times: the operation completing at the end of that prefix is the one
 * whose result no order explains.
 */
function explainKey(
  k: KeyHistory,
  initial: KvValue,
  limits: { maxSteps: number; maxCacheWords: number },
  countSteps: (steps: number) => void,
): Violation {
  const cuts = [
    ...new Set(k.ops.flatMap((op) => (op.outcome === 'completed' ? [op.returnedAt] : []))),
  ].sort((a, b) => a - b);
  // Without a completed operation every history is linearizable: not reached, but guarded.
  if (cuts.length === 0) return unexplained(k);
  // Invariant: the prefix at cuts[hi] fails. The last cut's prefix lacks only operations
  // invoked after every completion, all indefinite, and leaving out operations that may
  // never happen cannot make a failing history pass. A search that gives up counts as "not
  // known to fail", so the answer is always a proven failure; with the budget spent, it may
  // not be the shortest one.
  let lo = 0;
  let hi = cuts.length - 1;
  let budget = EXPLAIN_BUDGET * limits.maxSteps;
  while (lo < hi && budget > 0) {
    const mid = (lo + hi) >> 1;
    const r = searchKey(k.ops, initial, cuts[mid] as number, {
      ...limits,
      maxSteps: Math.min(limits.maxSteps, budget),
    });
    countSteps(r.result.steps);
    budget -= r.result.steps;
    if (r.result.verdict === 'not-linearizable') hi = mid;
    else lo = mid + 1;
  }
  const cut = cuts[hi] as number;
  const culpritAt = k.ops.findIndex((op) => op.outcome === 'completed' && op.returnedAt === cut);
  const final = searchKey(k.ops, initial, cut, limits, culpritAt);
  countSteps(final.result.steps);
  const tries =
    final.result.verdict === 'not-linearizable'
      ? final.result.watched
      : { rejectedIn: [], acceptedIn: [] };
  return explainViolation({
    key: k.key,
    ops: k.ops,
    indexes: k.indexes,
    culpritAt,
    included: final.included,
    impossibleIn: tries.rejectedIn.map((id) => final.model.valueOf(id)),
    possibleIn: tries.acceptedIn.map((id) => final.model.valueOf(id)),
  });
}

function unexplained(k: KeyHistory): Violation {
  return {
    key: k.key,
    culprit: undefined,
    prefixLength: k.ops.length,
    keyOperations: k.ops.length,
    related: [],
    impossibleIn: [],
    possibleIn: [],
    explanation: `key ${JSON.stringify(k.key)}: not linearizable (${k.ops.length} operations; not explained)`,
  };
}

function summarize(
  verdict: Verdict,
  keys: readonly KeyCheck[],
  violations: readonly Violation[],
  stats: LinearizabilityResult['stats'],
): string {
  const lines = [
    `${verdict}: ${stats.operations} operations (${stats.completed} completed, ${stats.indefinite} indefinite, ${stats.ignored} ignored) on ${keys.length} keys, ${stats.steps} search steps`,
  ];
  for (const k of keys) {
    if (k.verdict === 'unknown') lines.push(`key ${JSON.stringify(k.key)}: unknown (${k.reason})`);
  }
  for (const v of violations) lines.push(v.explanation);
  return lines.join('\n');
}
