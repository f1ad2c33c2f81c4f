/**
 * The set of operations linearized so far, as a bitset with an incrementally maintained
 * 52-bit hash (Zobrist: the XOR of a fixed random number per member), so that the search
 * can hash its configuration in O(1) and compare it exactly only on a hash match.
 */
export class OpSet {
  readonly words: Uint32Array;
  private hi = 0;
  private lo = 0;
  private readonly zobristHi: Uint32Array;
  private readonly zobristLo: Uint32Array;

  constructor(readonly size: number) {
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
    const w = op >>> 5;
    this.words[w] = ((this.words[w] as number) ^ (1 << (op & 31))) >>> 0;
    this.hi = (this.hi ^ (this.zobristHi[op] as number)) >>> 0;
    this.lo = (this.lo ^ (this.zobristLo[op] as number)) >>> 0;
  }

  has(op: number): boolean {
    return (((this.words[op >>> 5] as number) >>> (op & 31)) & 1) === 1;
  }

  /** The hash combined with a model state: a key for a Map (an exact number below 2^53). */
  hashWith(state: number): number {
    const mixed = (this.lo ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0;
    return (this.hi >>> 11) * 0x100000000 + mixed;
  }

  equals(words: Uint32Array): boolean {
    const own = this.words;
    for (let i = 0; i < own.length; i++) if (own[i] !== words[i]) return false;
    return true;
  }

  copyWords(): Uint32Array {
    return this.words.slice();
  }
}
