import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidOptionError, RaftError, StorageError } from '@kontiki/core';
import { testEntries } from '@kontiki/testkit/log-storage';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_FILE_NAME,
  NotAStoreError,
  SCHEMA_VERSION,
  SchemaVersionError,
  SqliteStore,
} from '../src/index.js';
import { snapshotDir } from './support/files.js';
import { tempDir } from './support/temp-dir.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('open');
});
afterEach(() => tmp.remove());

async function openError(
  path: string,
  options?: Parameters<typeof SqliteStore.open>[1],
): Promise<unknown> {
  let store: SqliteStore;
  try {
    store = await SqliteStore.open(path, options);
  } catch (error) {
    return error;
  }
  await store.close();
  throw new Error('the store opened');
}

describe('opening a store', () => {
  it('a directory gets kontiki.sqlite inside it; a file path is used as given, parents created', async () => {
    const inDir = await SqliteStore.open(tmp.dir);
    expect(inDir.path).toBe(join(tmp.dir, DEFAULT_FILE_NAME));
    await inDir.close();
    const file = join(tmp.dir, 'nested', 'deeper', 'node1.db');
    const atFile = await SqliteStore.open(file);
    expect(atFile.path).toBe(file);
    await atFile.close();
    expect(existsSync(file)).toBe(true);
  });

  it('data written by one store is found by the next one on the same directory', async () => {
    const first = await SqliteStore.open(tmp.dir);
    await first.logStorage('a').append(testEntries(1, 4, 1));
    await first.metaStorage('b').save({ term: 2, votedFor: 'n1' });
    await first.close();
    const second = await SqliteStore.open(tmp.dir);
    expect(second.groupIds().sort()).toEqual(['a', 'b']);
    expect(await second.logStorage('a').lastIndex()).toBe(3);
    expect(await second.metaStorage('b').load()).toEqual({ term: 2, votedFor: 'n1' });
    await second.close();
  });

  it('a second store on a file that is open is refused with a StorageError, and opens after close', async () => {
    const first = await SqliteStore.open(tmp.dir);
    await first.logStorage('g').append(testEntries(1, 2, 1));
    const error = await openError(tmp.dir);
    expect(error).toBeInstanceOf(StorageError);
    expect(String((error as Error).message)).toMatch(/in use/);
    // The first store is unharmed by the attempt.
    await first.logStorage('g').append(testEntries(2, 3, 1));
    await first.close();
    const again = await SqliteStore.open(tmp.dir);
    expect(await again.logStorage('g').lastIndex()).toBe(2);
    await again.close();
  });

  it('a wrong option is an InvalidOptionError naming it, and nothing is created', async () => {
    const cases: Array<[unknown, string]> = [
      [{ synchronous: 'fast' }, 'synchronous'],
      [{ recover: 'everything' }, 'recover'],
      [{ synchronus: 'full' }, 'synchronus'],
      [{ thread: 'fiber' }, 'thread'],
      ['full', 'options'],
    ];
    for (const [options, option] of cases) {
      const error = await openError(tmp.dir, options as Parameters<typeof SqliteStore.open>[1]);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe(option);
    }
    expect(((await openError('')) as InvalidOptionError).option).toBe('path');
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it('a text file is refused with NotAStoreError and not changed', async () => {
    const file = join(tmp.dir, 'notes.txt');
    writeFileSync(file, 'these are not the bytes you are looking for\n'.repeat(200));
    const before = snapshotDir(tmp.dir);
    const error = await openError(file);
    expect(error).toBeInstanceOf(NotAStoreError);
    expect(RaftError.is(error, 'STORAGE')).toBe(true);
    expect(snapshotDir(tmp.dir)).toEqual(before);
  });

  for (const journal of ['delete', 'wal'] as const) {
    it(`another application's SQLite database (journal mode ${journal}) is refused with NotAStoreError and not changed`, async () => {
      const file = join(tmp.dir, 'app.db');
      const other = new Database(file);
      other.pragma(`journal_mode = ${journal}`);
      other.exec(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada');",
      );
      other.close();
      const before = snapshotDir(tmp.dir);
      const error = await openError(file);
      expect(error).toBeInstanceOf(NotAStoreError);
      expect((error as Error).message).toMatch(/kontiki_schema/);
      expect(snapshotDir(tmp.dir)).toEqual(before);
    });
  }

  it('a store written by a newer schema is refused with SchemaVersionError and not changed', async () => {
    const store = await SqliteStore.open(tmp.dir);
    await store.logStorage('g').append(testEntries(1, 10, 1));
    await store.close();
    const file = join(tmp.dir, DEFAULT_FILE_NAME);
    const raw = new Database(file);
    raw.prepare('UPDATE kontiki_schema SET version = ?').run(SCHEMA_VERSION + 1);
    raw.close();
    const before = snapshotDir(tmp.dir);
    const error = await openError(tmp.dir);
    expect(error).toBeInstanceOf(SchemaVersionError);
    expect((error as SchemaVersionError).found).toBe(SCHEMA_VERSION + 1);
    expect((error as SchemaVersionError).supported).toBe(SCHEMA_VERSION);
    expect(snapshotDir(tmp.dir)).toEqual(before);
  });

  it('an empty file (a creation cut short) becomes a new store', async () => {
    const file = join(tmp.dir, 'empty.db');
    writeFileSync(file, '');
    const store = await SqliteStore.open(file);
    expect(await store.logStorage('g').lastIndex()).toBe(0);
    await store.close();
  });

  it('a directory where the file should be is a StorageError', async () => {
    mkdirSync(join(tmp.dir, DEFAULT_FILE_NAME));
    expect(await openError(tmp.dir)).toBeInstanceOf(StorageError);
  });
});
