import { describe, expect, it } from 'vitest';
import { EntryType, type RaftError } from '../src/index.js';
import { encodeConfiguration } from '../src/internal.js';
import { LogManager } from '../src/log-manager.js';
import { entry, flush, GatedLogStorage } from './fakes.js';

function manager(storage = new GatedLogStorage()) {
  const durable: number[] = [];
  const errors: RaftError[] = [];
  const lm = new LogManager({
    storage,
    initialConfiguration: { index: 0, term: 0, configuration: { voters: ['a'] } },
    onDurable: (i) => durable.push(i),
    onStorageError: (e) => errors.push(e),
  });
  return { lm, storage, durable, errors };
}

describe('LogManager', () => {
  it('serves appended entries from memory before they are durable, and reports durability later', async () => {
    const { lm, storage, durable } = manager();
    await lm.load();
    lm.appendLocal([entry(1, 1), entry(2, 1)]);
    expect(lm.lastIndex).toBe(2);
    expect(lm.durableIndex).toBe(0);
    expect(lm.getEntries(1, 3)).toHaveLength(2);
    await flush();
    expect(storage.release()).toBe(true);
    await flush();
    expect(lm.durableIndex).toBe(2);
    expect(durable).toEqual([2]);
  });

  it('group commit: appends queued behind a write in flight go to storage in one call', async () => {
    const { lm, storage } = manager();
    await lm.load();
    lm.appendLocal([entry(1, 1)]);
    await flush();
    for (let i = 2; i <= 50; i++) lm.appendLocal([entry(i, 1)]);
    storage.release();
    await flush();
    storage.release();
    await flush();
    expect(storage.calls).toEqual(['append 1..1', 'append 2..50']);
    expect(lm.durableIndex).toBe(50);
  });

  it('a truncation behind an in-flight write keeps the durable index honest', async () => {
    const { lm, storage } = manager();
    await lm.load();
    lm.appendLocal([entry(1, 1), entry(2, 1), entry(3, 1)]);
    await flush();
    // While 1..3 are being written, a new leader replaces 3 with its own entry.
    lm.appendReplicated(1, [entry(2, 1), entry(3, 2)], 0);
    expect(lm.termAt(3)).toBe(2);
    storage.release(); // 1..3 (old 3) reaches the disk
    await flush();
    expect(lm.durableIndex).toBe(2);
    let waited = false;
    void lm.waitDurable(3)?.then(() => {
      waited = true;
    });
    storage.release(); // truncate after 2
    await flush();
    expect(waited).toBe(false);
    storage.release(); // new 3
    await flush();
    expect(waited).toBe(true);
    expect(storage.log.map((e) => e.term)).toEqual([1, 1, 2]);
  });

  it('skips entries it already holds and refuses to truncate a committed entry', async () => {
    const { lm, storage } = manager();
    await lm.load();
    lm.appendReplicated(0, [entry(1, 1), entry(2, 1)], 0);
    lm.appendReplicated(0, [entry(1, 1), entry(2, 1)], 0);
    expect(lm.lastIndex).toBe(2);
    await flush();
    expect(storage.calls).toEqual(['append 1..2']);
    expect(() => lm.appendReplicated(1, [entry(2, 5)], 2)).toThrow(/committed index 2/);
    expect(lm.termAt(2)).toBe(1);
  });

  it('loads terms and configurations from storage on start', async () => {
    const storage = new GatedLogStorage();
    storage.log.push(entry(1, 1), entry(2, 2), {
      index: 3,
      term: 2,
      type: EntryType.Configuration,
      data: encodeConfiguration({ voters: ['a', 'b', 'c'] }),
    });
    const { lm } = manager(storage);
    await lm.load();
    expect(lm.lastIndex).toBe(3);
    expect(lm.durableIndex).toBe(3);
    expect(lm.termAt(1)).toBe(1);
    expect(lm.lastLogTerm).toBe(2);
    expect(lm.latestConfiguration().voters).toEqual(['a', 'b', 'c']);
    expect(lm.firstIndexOfTerm(2)).toBe(2);
    // Entries not in memory are read from storage.
    const read = lm.getEntries(1, 3);
    expect(read).toBeInstanceOf(Promise);
    expect((await read).map((e) => e.index)).toEqual([1, 2]);
  });

  it('releases memory only for durable entries', async () => {
    const { lm, storage } = manager();
    await lm.load();
    lm.appendLocal([entry(1, 1), entry(2, 1)]);
    lm.releaseMemory(2);
    expect(lm.memEntry(1)).toBeDefined();
    await flush();
    storage.release();
    await flush();
    lm.releaseMemory(1);
    expect(lm.memEntry(1)).toBeUndefined();
    expect(lm.memEntry(2)).toBeDefined();
  });

  it('a failed write reports a STORAGE error once and fails durability waiters', async () => {
    const storage = new GatedLogStorage();
    storage.append = () => Promise.reject(new Error('EIO'));
    const { lm, errors } = manager(storage);
    await lm.load();
    lm.appendLocal([entry(1, 1)]);
    const waiting = lm.waitDurable(1);
    await expect(waiting).rejects.toMatchObject({ code: 'STORAGE' });
    lm.appendLocal([entry(2, 1)]);
    await flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toBe('EIO');
  });
});
