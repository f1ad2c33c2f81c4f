import type { KvOperation, KvValue } from './history.js';

/** What the linearizability checker concludes, for one key or a whole history. */
export type Verdict = 'linearizable' | 'not-linearizable' | 'unknown';

/** An operation of the checked history and its position in it. */
export interface OperationRef {
  readonly index: number;
  readonly operation: KvOperation;
}

/** Why a key's history is not linearizable, in terms of its operations. */
export interface Violation {
  readonly key: string;
  /**
   * The operation whose completion makes the key's history non-linearizable: the history up
   * to its return can be ordered, not with its result. With `explain: false`, undefined.
   */
  readonly culprit: OperationRef | undefined;
  /** Operations in the shortest failing prefix (completed or pending by then). */
  readonly prefixLength: number;
  /** Operations of the key in the whole history that the checker considered. */
  readonly keyOperations: number;
  /** The culprit's neighbours: operations overlapping it, and the last ones completed before it. */
  readonly related: readonly OperationRef[];
  /**
   * States the key could be in when the culprit took effect and in which its result was
   * impossible (as found by the search; bounded). `undefined` stands for "a value that no
   * operation of the key observed" (the checker does not tell those apart: nothing can).
   */
  readonly impossibleIn: readonly (KvValue | undefined)[];
  /** States in which the culprit was possible, but left no order for the others. */
  readonly possibleIn: readonly (KvValue | undefined)[];
  /** A readable account of all of the above. */
  readonly explanation: string;
}

export interface KeyCheck {
  readonly key: string;
  readonly verdict: Verdict;
  /** Operations the search considered (completed, and indefinite writes). */
  readonly operations: number;
  readonly steps: number;
  /** For "unknown": which bound was hit. */
  readonly reason?: string;
  readonly violation?: Violation;
}

export interface LinearizabilityResult {
  /** Not linearizable if any key is not; else unknown if any key is unknown. */
  readonly verdict: Verdict;
  readonly keys: readonly KeyCheck[];
  readonly violations: readonly Violation[];
  readonly stats: {
    readonly operations: number;
    readonly completed: number;
    readonly indefinite: number;
    /** Ignored: not-applied operations and indefinite reads. */
    readonly ignored: number;
    readonly steps: number;
  };
  /** One paragraph: the verdict, the counts, and every violation's explanation. */
  readonly summary: string;
}
