import type { OpSet } from './op-set.js';

interface Visited {
  readonly words: Uint32Array;
  readonly state: number;
}

/**
 * Lowe's memoization for the Wing & Gong search: the configurations (set of linearized
 * operations, model state) already reached. Reaching one again leads to exactly the same
 * futures (what is left to linearize and the state it starts from are the same), so the
 * search prunes it. Compared exactly: a hash collision never prunes a new configuration.
 */
export class VisitedCache {
  private readonly buckets = new Map<number, Visited | Visited[]>();
  private storedWords = 0;

  /** 32-bit words held by the stored sets (the cache's memory, roughly, over 4 bytes). */
  get words(): number {
    return this.storedWords;
  }

  /** Records (set, state); false when it was already there. */
  add(set: OpSet, state: number): boolean {
    const hash = set.hashWith(state);
    const bucket = this.buckets.get(hash);
    if (bucket !== undefined) {
      const seen = Array.isArray(bucket) ? bucket : [bucket];
      for (const v of seen) if (v.state === state && set.equals(v.words)) return false;
    }
    // Copied only once known to be new: most lookups on a hit cost no allocation.
    const entry: Visited = { words: set.copyWords(), state };
    if (bucket === undefined) this.buckets.set(hash, entry);
    else if (Array.isArray(bucket)) bucket.push(entry);
    else this.buckets.set(hash, [bucket, entry]);
    this.storedWords += entry.words.length;
    return true;
  }
}
