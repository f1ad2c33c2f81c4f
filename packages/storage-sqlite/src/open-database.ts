import { mkdirSync, type Stats, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { RaftError, StorageError } from '@kontiki/core';
import Database from 'better-sqlite3';
import type { ResolvedStoreOptions } from './options.js';
import { checkFileHeader, createSchema, inspectSchema } from './schema.js';
import { type LoadedStore, loadStore } from './store-verifier.js';
import { messageOf } from './wire-error.js';

/** The file a store uses when `open` is given a directory. */
export const DEFAULT_FILE_NAME = 'kontiki.sqlite';

export interface OpenedDatabase extends LoadedStore {
  readonly db: Database.Database;
  readonly file: string;
}

/**
 * Finds or creates the file, takes its exclusive lock, checks that it is a Kontiki store
 * (writing nothing to anything else), and reads and checks every record. Runs on the thread
 * that will own the connection (the worker, by default).
 */
export function openDatabase(path: string, options: ResolvedStoreOptions): OpenedDatabase {
  let file: string;
  try {
    file = locateFile(path);
  } catch (error) {
    throw openError(error, path);
  }
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: 0 });
  } catch (error) {
    throw new StorageError(`cannot open ${file}: ${messageOf(error)}`, { cause: error });
  }
  try {
    // Before the first read: the lock, once taken, is held until close, and no
    // shared-memory file is used (nothing but the database and its WAL on disk).
    db.pragma('locking_mode = EXCLUSIVE');
    const state = inspectSchema(db, file);
    // Only now, knowing the file is ours (or new), is anything written.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal')
      throw new StorageError(`${file}: SQLite refused WAL mode (${String(mode)})`);
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    if (state === 'new') createSchema(db);
    return { db, file, ...loadStore(db, options.recover) };
  } catch (error) {
    db.close();
    throw openError(error, file);
  }
}

/** The database file for `path`: a file path, or a directory to put the default file in. */
function locateFile(path: string): string {
  const absolute = resolve(path);
  const stat = statOrUndefined(absolute);
  const file = stat?.isDirectory() ? join(absolute, DEFAULT_FILE_NAME) : absolute;
  const fileStat = file === absolute ? stat : statOrUndefined(file);
  if (fileStat === undefined) {
    // A new store: its directory may not exist yet.
    mkdirSync(dirname(file), { recursive: true });
  } else {
    if (!fileStat.isFile()) throw new StorageError(`${file} is not a regular file`);
    checkFileHeader(file, fileStat.size);
  }
  return file;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw new StorageError(`cannot stat ${path}: ${messageOf(error)}`, { cause: error });
  }
}

function openError(error: unknown, file: string): RaftError {
  if (RaftError.is(error)) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_BUSY') {
    return new StorageError(`${file} is in use by another store (it is locked)`, { cause: error });
  }
  if (code === 'SQLITE_NOTADB') {
    return new StorageError(`${file} is not a database`, { cause: error });
  }
  return new StorageError(`cannot open ${file}: ${messageOf(error)}`, { cause: error });
}
