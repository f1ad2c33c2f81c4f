import { describe, expect, it } from 'vitest';
import type { MetaStorage, RaftError, RaftMeta } from '../src/index.js';
import { RaftMetaManager } from '../src/internal.js';

/** A MetaStorage whose saves complete only when the test says so. */
class GatedMeta implements MetaStorage {
  readonly saved: RaftMeta[] = [];
  private gates: Array<() => void> = [];
  fail = false;
  async close(): Promise<void> {}
  async load(): Promise<RaftMeta> {
    return { term: 3, votedFor: 'x' };
  }
  save(meta: RaftMeta): Promise<void> {
    return new Promise((resolve, reject) =>
      this.gates.push(() => {
        if (this.fail) {
          reject(new Error('disk full'));
          return;
        }
        this.saved.push(meta);
        resolve();
      }),
    );
  }
  async release(): Promise<void> {
    for (let i = 0; i < 20; i++) await Promise.resolve();
    const gates = this.gates;
    this.gates = [];
    for (const g of gates) g();
    for (let i = 0; i < 20; i++) await Promise.resolve();
  }
}

describe('RaftMetaManager (term and vote, persisted before they are revealed)', () => {
  it('loads what the storage holds', async () => {
    const m = new RaftMetaManager(new GatedMeta(), () => {});
    await m.load();
    expect([m.term, m.votedFor]).toEqual([3, 'x']);
  });

  it('changes made in one turn share one write, and pending resolves once it is durable', async () => {
    const storage = new GatedMeta();
    const m = new RaftMetaManager(storage, () => {});
    void m.set(4, null);
    void m.set(4, 'b');
    const pending = m.pending;
    expect(pending).toBeDefined();
    let durable = false;
    void pending?.then(() => {
      durable = true;
    });
    await storage.release();
    expect(storage.saved).toEqual([{ term: 4, votedFor: 'b' }]);
    expect(durable).toBe(true);
    expect(m.pending).toBeUndefined();
  });

  it('a change made while a write is under way is written too, before pending resolves', async () => {
    const storage = new GatedMeta();
    const m = new RaftMetaManager(storage, () => {});
    const first = m.set(5, 'a');
    await Promise.resolve();
    await Promise.resolve();
    // The first save is in flight now; this change must not be lost.
    const second = m.set(6, null);
    expect(second).toBe(first);
    await storage.release();
    await storage.release();
    expect(storage.saved.at(-1)).toEqual({ term: 6, votedFor: null });
  });

  it('a failed write is reported: the node cannot go on without its vote on disk', async () => {
    const storage = new GatedMeta();
    storage.fail = true;
    const errors: RaftError[] = [];
    const m = new RaftMetaManager(storage, (e) => errors.push(e));
    const p = m.set(7, 'c');
    await storage.release();
    await expect(p).rejects.toThrow('disk full');
    expect(errors.map((e) => e.code)).toEqual(['STORAGE']);
  });
});
