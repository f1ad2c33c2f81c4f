import { describe, expect, it } from 'vitest';
import { Rng } from '../src/index.js';
import { OpSet } from '../src/linearizability/op-set.js';

/** A set of `size` operations shaped like the search's: a full prefix, a mixed window, a few more. */
function randomSet(rng: Rng, size: number): { set: OpSet; members: Set<number> } {
  const set = new OpSet(size);
  const members = new Set<number>();
  const frontier = rng.int(0, size);
  for (let op = 0; op < size; op++) {
    const inside = op < frontier ? !rng.chance(0.02) : op < frontier + 40 && rng.chance(0.5);
    if (inside || rng.chance(0.01)) {
      set.toggle(op);
      members.add(op);
    }
  }
  return { set, members };
}

const key = (members: Set<number>): string => [...members].sort((a, b) => a - b).join(',');

describe('OpSet', () => {
  it('encodes equal sets equally and different sets differently, whatever the hash says', () => {
    const rng = new Rng(7);
    for (let round = 0; round < 300; round++) {
      const size = rng.pick([1, 31, 32, 33, 64, 100, 1000, 5000]);
      const a = randomSet(rng, size);
      // Half the time the same members toggled in another order, else a near neighbour.
      const b = new OpSet(size);
      const bMembers = new Set(a.members);
      if (rng.chance(0.5) && size > 0) {
        const op = rng.int(0, size - 1);
        if (bMembers.has(op)) bMembers.delete(op);
        else bMembers.add(op);
      }
      for (const op of [...bMembers].reverse()) b.toggle(op);
      const same = key(a.members) === key(bMembers);
      expect([...a.set.encode()].join() === [...b.encode()].join(), `round ${round}`).toBe(same);
      if (same) expect(a.set.hashWith(3)).toBe(b.hashWith(3));
    }
  });

  it('keeps a set of mostly full and empty words small', () => {
    const set = new OpSet(20_000);
    for (let op = 0; op < 10_000; op++) set.toggle(op);
    set.toggle(10_005);
    set.toggle(19_999);
    // A run of full words, one mixed word, a run of empty words, one mixed word.
    expect(set.encode().length).toBe(4);
  });
});
