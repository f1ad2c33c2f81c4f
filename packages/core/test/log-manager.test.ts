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

  it('a follower: appends of requests arriving while a write is in flight go to storage in one call, and all their waiters resolve in the same turn', async () => {
    const { lm, storage } = manager();
    await lm.load();
    lm.appendReplicated(0, [entry(1, 1)], 0);
    await flush();
    // Three more AppendEntries, each in its own turn, while 1..1 is being written.
    const order: number[] = [];
    const waits: Array<Promise<unknown> | undefined> = [];
    for (let i = 2; i <= 4; i++) {
      await flush();
      lm.appendReplicated(i - 1, [entry(i, 1)], 0);
      waits.push(lm.waitDurable(i)?.then(() => order.push(i)));
    }
    storage.release();
    await flush();
    expect(order).toEqual([]);
    storage.release();
    // Resolved in one pass: by the end of one microtask checkpoint all three are answered.
    await Promise.resolve();
    await Promise.resolve();
    expect(order).toEqual([2, 3, 4]);
    await Promise.all(waits);
    expect(storage.calls).toEqual(['append 1..1', 'append 2..4']);
  });

  it('bytesBetween: data bytes of an in-memory range, kept right through truncation, release and reuse', async () => {
    const { lm, storage } = manager();
    await lm.load();
    const sized = (i: number, n: number) => entry(i, 1, 'x'.repeat(n));
    lm.appendLocal([sized(1, 10), sized(2, 20), sized(3, 30), sized(4, 40)]);
    expect(lm.bytesBetween(1, 4)).toBe(100);
    expect(lm.bytesBetween(2, 3)).toBe(50);
    expect(lm.bytesBetween(4, 4)).toBe(40);
    expect(lm.bytesBetween(3, 5)).toBeUndefined();
    lm.truncateSuffix(2);
    lm.appendLocal([sized(3, 7)]);
    expect(lm.bytesBetween(1, 3)).toBe(37);
    // Durable, then released from memory: those are no longer answered.
    for (let i = 0; i < 10 && lm.durableIndex < 3; i++) {
      await flush();
      storage.release();
      await flush();
    }
    expect(lm.durableIndex).toBe(3);
    lm.releaseMemory(1);
    expect(lm.bytesBetween(1, 3)).toBeUndefined();
    expect(lm.bytesBetween(2, 3)).toBe(27);
  });

  it('an idle log that released every entry from memory serves them from storage, and the next append from memory', async () => {
    const { lm, storage } = manager();
    await lm.load();
    lm.appendLocal([entry(1, 1, 'a'), entry(2, 1, 'bb')]);
    for (let i = 0; i < 10 && lm.durableIndex < 2; i++) {
      await flush();
      storage.release();
      await flush();
    }
    expect(lm.durableIndex).toBe(2);
    lm.releaseMemory(2);
    expect(lm.memoryBytes).toBe(0);
    expect(lm.memEntry(2)).toBeUndefined();
    expect(lm.bytesBetween(1, 2)).toBeUndefined();
    expect(lm.termAt(2)).toBe(1);
    lm.appendLocal([entry(3, 2, 'ccc')]);
    expect(lm.memEntry(3)?.term).toBe(2);
    expect(lm.bytesBetween(3, 3)).toBe(3);
    expect(lm.bytesBetween(2, 3)).toBeUndefined();
    // Storage up to the in-memory tail, then the tail.
    expect((await lm.getEntries(1, 4)).map((e) => e.index)).toEqual([1, 2]);
    expect((await lm.getEntries(3, 4)).map((e) => e.index)).toEqual([3]);
  });

  it('bytesBetween counts no released entry once memory is compacted', async () => {
    const { lm, storage } = manager();
    await lm.load();
    lm.appendLocal(Array.from({ length: 2048 }, (_, i) => entry(i + 1, 1, 'x')));
    for (let i = 0; i < 10 && lm.durableIndex < 2048; i++) {
      await flush();
      storage.release();
      await flush();
    }
    expect(lm.durableIndex).toBe(2048);
    // Enough released for the in-memory window to be cut down to the live tail.
    lm.releaseMemory(1500);
    expect(lm.bytesBetween(1500, 1501)).toBeUndefined();
    expect(lm.bytesBetween(1501, 1501)).toBe(1);
    expect(lm.bytesBetween(1501, 2048)).toBe(548);
    lm.appendLocal([entry(2049, 1, 'yy')]);
    expect(lm.bytesBetween(2048, 2049)).toBe(3);
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
