import { describe, expect, it } from 'vitest';
import { preferredLeaderOf } from '../src/index.js';

/**
 * The definition, written out: FNV-1a over the group id's UTF-16 units and a zero term, and
 * that hash picks from the sorted voters. Nodes of different versions must agree on it, so
 * the mapping is pinned here, not only its properties.
 */
function bySorting(groupId: string, voters: readonly string[]): string | undefined {
  let h = 0x811c9dc5;
  for (let i = 0; i < groupId.length; i++) {
    h ^= groupId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h = Math.imul(h, 0x01000193); // term 0, low word
  h = Math.imul(h, 0x01000193); // term 0, high word
  const sorted = [...voters].sort();
  return sorted[(h >>> 0) % sorted.length];
}

describe('preferredLeaderOf', () => {
  it('picks the same voter whatever the order of the voters, and every voter for some group', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const picked = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const n = 1 + Math.floor(random() * 7);
      const voters = Array.from({ length: n }, (_, k) => `node-${(k * 37 + i) % 101}`);
      const shuffled = [...voters].sort(() => random() - 0.5);
      const g = `group-${i}`;
      const a = preferredLeaderOf(g, voters);
      expect(a).toBeDefined();
      expect(preferredLeaderOf(g, shuffled)).toBe(a);
      expect(bySorting(g, voters)).toBe(a);
      if (n === 3) picked.add(String(voters.indexOf(a as string)));
    }
    expect(picked.size).toBe(3);
    expect(preferredLeaderOf('g', [])).toBeUndefined();
  });
});
