import { join } from 'node:path';
import { CorruptLogError } from '@kontiki/core';
import { testEntries } from '@kontiki/testkit/log-storage';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_FILE_NAME, SqliteStore, type SqliteStoreOptions } from '../src/index.js';
import { snapshotDir } from './support/files.js';
import { tempDir } from './support/temp-dir.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('corrupt');
});
afterEach(() => tmp.remove());

/** Group g holds entries 1..10 and a term; group other holds 1..5. */
async function seed(): Promise<void> {
  const store = await SqliteStore.open(tmp.dir);
  await store.logStorage('g').append(testEntries(1, 11, 1));
  await store.logStorage('other').append(testEntries(1, 6, 1));
  await store.metaStorage('g').save({ term: 4, votedFor: 'n2' });
  await store.close();
}

/** Changes the file behind the store's back, as a bad disk or a stray tool would. */
function tamper(sql: string): void {
  const db = new Database(join(tmp.dir, DEFAULT_FILE_NAME));
  db.exec(sql);
  db.close();
}

const G = "(SELECT gid FROM raft_group WHERE name = 'g')";

async function refusal(options?: SqliteStoreOptions): Promise<CorruptLogError> {
  let store: SqliteStore;
  try {
    store = await SqliteStore.open(tmp.dir, options);
  } catch (error) {
    expect(error).toBeInstanceOf(CorruptLogError);
    return error as CorruptLogError;
  }
  await store.close();
  throw new Error('the store opened');
}

describe('a record that fails its check', () => {
  it('a flipped byte in the middle of a log refuses the open, naming group and index, and changes nothing', async () => {
    await seed();
    tamper(`UPDATE log_entry SET data = zeroblob(length(data)) WHERE gid = ${G} AND idx = 5`);
    const before = snapshotDir(tmp.dir);
    const error = await refusal();
    expect(error.groupId).toBe('g');
    expect(error.index).toBe(5);
    expect(error.code).toBe('CORRUPT_LOG');
    expect(snapshotDir(tmp.dir)).toEqual(before);
    // Recovery never truncates the middle of a log.
    const again = await refusal({ recover: 'truncate-torn-tail' });
    expect(again.index).toBe(5);
    expect(again.message).toMatch(/not a torn tail/);
    expect(snapshotDir(tmp.dir)).toEqual(before);
  });

  it('a missing record in the middle refuses the open even with recovery', async () => {
    await seed();
    tamper(`DELETE FROM log_entry WHERE gid = ${G} AND idx = 6`);
    expect((await refusal()).index).toBe(6);
    expect((await refusal({ recover: 'truncate-torn-tail' })).index).toBe(6);
  });

  it('a changed term is caught by the checksum', async () => {
    await seed();
    tamper(`UPDATE log_entry SET term = 2 WHERE gid = ${G} AND idx = 3`);
    expect((await refusal()).index).toBe(3);
  });

  it('a torn tail refuses by default; truncate-torn-tail drops exactly that tail and nothing of other groups', async () => {
    await seed();
    tamper(`UPDATE log_entry SET data = substr(data, 1, 10) WHERE gid = ${G} AND idx IN (9, 10)`);
    const error = await refusal();
    expect(error.index).toBe(9);
    expect(error.message).toMatch(/truncate-torn-tail/);

    const store = await SqliteStore.open(tmp.dir, { recover: 'truncate-torn-tail' });
    expect(store.recovered).toEqual([
      expect.objectContaining({ groupId: 'g', fromIndex: 9, records: 2 }),
    ]);
    const log = store.logStorage('g');
    expect(await log.lastIndex()).toBe(8);
    expect((await log.entries(1, 20)).map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await store.logStorage('other').lastIndex()).toBe(5);
    expect(await store.metaStorage('g').load()).toEqual({ term: 4, votedFor: 'n2' });
    // The log goes on from the last good entry.
    await log.append(testEntries(9, 10, 5));
    await store.close();

    const clean = await SqliteStore.open(tmp.dir);
    expect(clean.recovered).toEqual([]);
    expect(await clean.logStorage('g').lastIndex()).toBe(9);
    await clean.close();
  });

  it('a recovery that meets a bad middle in a second group truncates nothing at all', async () => {
    await seed();
    tamper(`
      UPDATE log_entry SET data = x'00' WHERE gid = ${G} AND idx = 10;
      UPDATE log_entry SET data = x'00' WHERE gid = (SELECT gid FROM raft_group WHERE name = 'other') AND idx = 2;`);
    const before = snapshotDir(tmp.dir);
    const error = await refusal({ recover: 'truncate-torn-tail' });
    expect(error.groupId).toBe('other');
    expect(snapshotDir(tmp.dir)).toEqual(before);
  });

  it('a changed term or vote refuses the open naming the group', async () => {
    await seed();
    tamper(`UPDATE raft_meta SET term = 3 WHERE gid = ${G}`);
    const error = await refusal({ recover: 'truncate-torn-tail' });
    expect(error.groupId).toBe('g');
    expect(error.message).toMatch(/term and vote/);
  });

  it('a moved first index is caught by the group record checksum', async () => {
    await seed();
    tamper(`UPDATE raft_group SET first_index = 4 WHERE gid = ${G}`);
    expect((await refusal()).groupId).toBe('g');
  });

  it('a damaged snapshot chunk fails the read with CorruptLogError; a changed size refuses the open', async () => {
    const store = await SqliteStore.open(tmp.dir);
    const writer = await store.snapshotStorage('g').create({
      lastIncludedIndex: 7,
      lastIncludedTerm: 2,
      configuration: { voters: ['a'] },
    });
    await writer.write(new Uint8Array(600_000).fill(3));
    await writer.commit();
    await store.close();

    tamper('UPDATE snapshot_chunk SET data = zeroblob(length(data)) WHERE offset = 262144');
    const reopened = await SqliteStore.open(tmp.dir);
    const reader = await reopened.snapshotStorage('g').openLatest();
    if (reader === null) throw new Error('the snapshot is gone');
    expect((await reader.read(0, 1000)).byteLength).toBe(1000);
    await expect(reader.read(262_000, 1000)).rejects.toMatchObject({
      code: 'CORRUPT_LOG',
      groupId: 'g',
      index: 7,
    });
    await reader.close();
    await reopened.close();

    tamper('UPDATE snapshot SET size = size + 1');
    const error = await refusal();
    expect(error.groupId).toBe('g');
    expect(error.index).toBe(7);
  });
});
