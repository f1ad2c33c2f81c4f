import { join } from 'node:path';
import { BadRequestError, type LogEntry, ShutdownError } from '@kontiki/core';
import { testEntries } from '@kontiki/testkit/log-storage';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_FILE_NAME, SqliteStore } from '../src/index.js';
import { tempDir } from './support/temp-dir.js';

let tmp: ReturnType<typeof tempDir>;
let store: SqliteStore;
beforeEach(async () => {
  tmp = tempDir('writes');
  store = await SqliteStore.open(tmp.dir);
});
afterEach(async () => {
  await store.close();
  tmp.remove();
});

async function reopen(): Promise<SqliteStore> {
  store = await SqliteStore.open(tmp.dir);
  return store;
}

describe('group commit', () => {
  it('appends and saves of several groups issued in one turn share one transaction', async () => {
    const before = store.commitCount;
    await Promise.all([
      store.logStorage('a').append(testEntries(1, 101, 1)),
      store.logStorage('b').append(testEntries(1, 3, 1)),
      store.logStorage('c').append(testEntries(1, 2, 1)),
      store.metaStorage('a').save({ term: 1, votedFor: 'n1' }),
    ]);
    expect(store.commitCount - before).toBe(1);
    // Awaited one after another, each write is its own transaction.
    await store.logStorage('a').append(testEntries(101, 102, 1));
    await store.logStorage('b').append(testEntries(3, 4, 1));
    expect(store.commitCount - before).toBe(3);
  });

  it('a bad write in a shared transaction fails alone; the others in it are committed', async () => {
    const good = store.logStorage('good');
    const bad = store.logStorage('bad');
    await bad.append(testEntries(1, 3, 1));
    const results = await Promise.allSettled([
      good.append(testEntries(1, 6, 1)),
      bad.append(testEntries(7, 8, 1)),
      store.metaStorage('good').save({ term: 2, votedFor: null }),
      bad.append(testEntries(3, 4, 1)),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(BadRequestError);
    await store.close();
    const reopened = await reopen();
    expect(await reopened.logStorage('good').lastIndex()).toBe(5);
    expect(await reopened.logStorage('bad').lastIndex()).toBe(3);
    expect(await reopened.metaStorage('good').load()).toEqual({ term: 2, votedFor: null });
  });

  it('appends of one group issued without waiting land in order', async () => {
    const log = store.logStorage('g');
    await Promise.all([
      log.append(testEntries(1, 5, 1)),
      log.append(testEntries(5, 9, 1)),
      log.truncateSuffix(6),
      log.append(testEntries(7, 10, 2)),
    ]);
    expect((await log.entries(1, 20)).map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 1],
      [5, 1],
      [6, 1],
      [7, 2],
      [8, 2],
      [9, 2],
    ]);
  });

  it('malformed entries are a BadRequestError and write nothing', async () => {
    const log = store.logStorage('g');
    const malformed: unknown[] = [
      [{ index: 1, term: 1, type: 1, data: 'text' }],
      [{ index: 1, term: -1, type: 1, data: new Uint8Array(1) }],
      [{ index: 1, term: 1, type: 1.5, data: new Uint8Array(1) }],
      [{ index: 0, term: 1, type: 1, data: new Uint8Array(1) }],
      [null],
      'not an array',
    ];
    for (const entries of malformed) {
      await expect(log.append(entries as LogEntry[])).rejects.toBeInstanceOf(BadRequestError);
    }
    await expect(log.entries(1.5, 3)).rejects.toBeInstanceOf(BadRequestError);
    await expect(log.truncateSuffix(-1)).rejects.toBeInstanceOf(BadRequestError);
    await expect(log.truncatePrefix(0)).rejects.toBeInstanceOf(BadRequestError);
    expect(await log.lastIndex()).toBe(0);
    expect(() => store.logStorage('')).toThrow(BadRequestError);
  });
});

describe('closing', () => {
  it('close() during an append finishes the append: it resolves and is on disk', async () => {
    const log = store.logStorage('g');
    const meta = store.metaStorage('g');
    const append = log.append(testEntries(1, 1001, 3));
    const save = meta.save({ term: 3, votedFor: 'n1' });
    await store.close();
    await expect(append).resolves.toBeUndefined();
    await expect(save).resolves.toBeUndefined();
    const reopened = await reopen();
    expect(await reopened.logStorage('g').lastIndex()).toBe(1000);
    expect(await reopened.metaStorage('g').load()).toEqual({ term: 3, votedFor: 'n1' });
  });

  it('every call after close() rejects with ShutdownError, and close() is idempotent', async () => {
    const log = store.logStorage('g');
    const meta = store.metaStorage('g');
    const snapshots = store.snapshotStorage('g');
    await log.append(testEntries(1, 3, 1));
    const writer = await snapshots.create({
      lastIncludedIndex: 1,
      lastIncludedTerm: 1,
      configuration: { voters: ['a'] },
    });
    await store.close();
    await store.close();
    expect(store.closed).toBe(true);
    for (const call of [
      log.append(testEntries(3, 4, 1)),
      log.entries(1, 3),
      log.lastIndex(),
      log.term(1),
      log.truncateSuffix(1),
      meta.save({ term: 1, votedFor: null }),
      meta.load(),
      snapshots.openLatest(),
      writer.write(new Uint8Array(3)),
      writer.commit(),
    ]) {
      await expect(call).rejects.toBeInstanceOf(ShutdownError);
    }
    await writer.abort();
    expect(() => store.logStorage('g')).toThrow(ShutdownError);
  });

  it("closing a group's log detaches that object only; the store and other groups go on", async () => {
    const log = store.logStorage('g');
    expect(store.logStorage('g')).toBe(log);
    await log.append(testEntries(1, 3, 1));
    await log.close();
    await expect(log.lastIndex()).rejects.toBeInstanceOf(ShutdownError);
    const again = store.logStorage('g');
    expect(again).not.toBe(log);
    expect(await again.lastIndex()).toBe(2);
    await store.logStorage('h').append(testEntries(1, 2, 1));
  });
});

describe('snapshots on disk', () => {
  function countSnapshots(): number {
    const db = new Database(join(tmp.dir, DEFAULT_FILE_NAME), { readonly: true });
    try {
      return (db.prepare('SELECT count(*) AS n FROM snapshot').get() as { n: number }).n;
    } finally {
      db.close();
    }
  }
  const meta = (index: number) => ({
    lastIncludedIndex: index,
    lastIncludedTerm: 1,
    configuration: { voters: ['a', 'b', 'c'] },
  });

  it('a superseded snapshot stays while read and is deleted when its last reader closes', async () => {
    const snapshots = store.snapshotStorage('g');
    const first = await snapshots.create(meta(1));
    await first.write(new Uint8Array(10).fill(1));
    await first.commit();
    const reader = await snapshots.openLatest();
    const second = await snapshots.create(meta(2));
    await second.write(new Uint8Array(10).fill(2));
    await second.commit();
    expect(await reader?.read(0, 10)).toEqual(new Uint8Array(10).fill(1));
    await reader?.close();
    await store.close();
    expect(countSnapshots()).toBe(1);
    expect((await (await reopen()).snapshotStorage('g').openLatest())?.meta).toEqual(meta(2));
  });

  it('a snapshot left uncommitted by a crash or close is removed at the next open', async () => {
    const snapshots = store.snapshotStorage('g');
    const done = await snapshots.create(meta(1));
    await done.commit();
    const pending = await snapshots.create(meta(5));
    await pending.write(new Uint8Array(1000));
    await store.close();
    expect(countSnapshots()).toBe(2);
    await (await reopen()).close();
    expect(countSnapshots()).toBe(1);
    await reopen();
  });
});
