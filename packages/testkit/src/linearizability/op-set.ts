const FULL = 0xffffffff;
/** Run tokens of `encode`: a run of c empty words is -c, of c full words -(ONES_RUN + c). */
const ONES_RUN = 2 ** 32;

/**
 * The set of operations linearized so far, as a bitset with an incrementally maintained
 * 52-bit hash (Zobrist: the XOR of a fixed random number per member), so that the search
 * can hash its configuration in O(1) and compare it exactly only on a hash match.
 *
 * Each operation has a bit position (`positions`, default its number). The search orders
 * them so that a typical set is all ones up to a frontier, a few mixed words, zeros, then
 * the indefinite operations: `encode` then stores it in a few numbers whatever the
 * history's length.
 */
export class OpSet {
  private readonly words: Uint32Array;
  private hi = 0;
  private lo = 0;
  private readonly zobristHi: Uint32Array;
  private readonly zobristLo: Uint32Array;

  constructor(
    readonly size: number,
    private readonly positions?: Int32Array,
  ) {
    this.words = new Uint32Array(Math.ceil(size / 32));
    this.zobristHi = new Uint32Array(size);
    this.zobristLo = new Uint32Array(size);
    // A fixed sequence (splitmix32 from a constant): runs are reproducible.
    let s = 0x2545f491;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (let i = 0; i < size; i++) {
      this.zobristHi[i] = next();
      this.zobristLo[i] = next();
    }
  }

  /** Adds or removes `op` (its presence flips). */
  toggle(op: number): void {
    const bit = this.positions === undefined ? op : (this.positions[op] as number);
    const w = bit >>> 5;
    this.words[w] = ((this.words[w] as number) ^ (1 << (bit & 31))) >>> 0;
    this.hi = (this.hi ^ (this.zobristHi[op] as number)) >>> 0;
    this.lo = (this.lo ^ (this.zobristLo[op] as number)) >>> 0;
  }

  /** The hash combined with a model state: a key for a Map (an exact number below 2^53). */
  hashWith(state: number): number {
    const mixed = (this.lo ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0;
    return (this.hi >>> 11) * 0x100000000 + mixed;
  }

  /**
   * The set, exactly, in few numbers: runs of empty or full words as one token each (see
   * ONES_RUN), other words as themselves. Equal sets have equal encodings.
   */
  encode(): Float64Array {
    const out: number[] = [];
    const words = this.words;
    for (let i = 0; i < words.length; ) {
      const w = words[i] as number;
      if (w !== 0 && w !== FULL) {
        out.push(w);
        i++;
        continue;
      }
      let j = i + 1;
      while (j < words.length && words[j] === w) j++;
      out.push(w === 0 ? -(j - i) : -(ONES_RUN + (j - i)));
      i = j;
    }
    return Float64Array.from(out);
  }
}
