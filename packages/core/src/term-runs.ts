import { appendTight } from './tight.js';

/**
 * The term of every index in the log, stored as runs: (first index of a run, its term).
 * A log has few term changes, so this stays small and makes `term(i)` synchronous for any
 * index, which keeps the consistency check of AppendEntries free of storage reads.
 */
export class TermRuns {
  private starts: number[] = [];
  private terms: number[] = [];

  /** Records that `index` (the next index of the log) has `term`. */
  push(index: number, term: number): void {
    const last = this.terms.length - 1;
    if (last >= 0 && this.terms[last] === term) return;
    this.starts = appendTight(this.starts, index);
    this.terms = appendTight(this.terms, term);
  }

  /** The term at `index`, given that the caller has checked it is inside the log. */
  termAt(index: number): number | undefined {
    let lo = 0;
    let hi = this.starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.starts[mid] ?? 0) <= index) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found < 0 ? undefined : this.terms[found];
  }

  /** The first index with `term` at or below `atOrBelow`'s run. */
  firstIndexOfTerm(term: number): number | undefined {
    for (let i = 0; i < this.terms.length; i++) if (this.terms[i] === term) return this.starts[i];
    return undefined;
  }

  /** The last run start whose term is <= `term`, and the run after it; used for fast back-off. */
  lastIndexOfTerm(term: number, lastIndex: number): number | undefined {
    for (let i = this.terms.length - 1; i >= 0; i--) {
      if (this.terms[i] === term) {
        const next = this.starts[i + 1];
        return next === undefined ? lastIndex : next - 1;
      }
      if ((this.terms[i] ?? 0) < term) return undefined;
    }
    return undefined;
  }

  /** Forgets every index after `lastKept`. */
  truncateSuffix(lastKept: number): void {
    while (this.starts.length > 0 && (this.starts[this.starts.length - 1] ?? 0) > lastKept) {
      this.starts.pop();
      this.terms.pop();
    }
  }

  /** Forgets runs wholly before `firstKept` (the run holding firstKept stays). */
  truncatePrefix(firstKept: number): void {
    let drop = 0;
    while (drop + 1 < this.starts.length && (this.starts[drop + 1] ?? 0) <= firstKept) drop++;
    if (drop > 0) {
      this.starts = this.starts.slice(drop);
      this.terms = this.terms.slice(drop);
    }
  }

  clear(): void {
    this.starts = [];
    this.terms = [];
  }
}
