import type { OpSet } from './op-set.js';

interface Visited {
  /** The set, as `OpSet.encode` gives it. */
  readonly set: Float64Array;
  readonly state: number;
}

function same(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
    const encoded = set.encode();
    if (bucket !== undefined) {
      const seen = Array.isArray(bucket) ? bucket : [bucket];
      for (const v of seen) if (v.state === state && same(v.set, encoded)) return false;
    }
    const entry: Visited = { set: encoded, state };
    if (bucket === undefined) this.buckets.set(hash, entry);
    else if (Array.isArray(bucket)) bucket.push(entry);
    else this.buckets.set(hash, [bucket, entry]);
    // Two words per stored number, plus the entry itself.
    this.storedWords += 2 * encoded.length + 8;
    return true;
  }
}
