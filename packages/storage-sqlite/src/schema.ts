import { closeSync, openSync, readSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { NotAStoreError, SchemaVersionError } from './errors.js';

/** What the `kontiki_schema` row says a Kontiki store is. */
export const STORE_FORMAT = 'kontiki-raft-store';
/** The schema this version writes; a later one bumps it and migrates older stores at open. */
export const SCHEMA_VERSION = 1;

const SQLITE_MAGIC = 'SQLite format 3\u0000';

/**
 * The tables. A group's name lives once in `raft_group`; every other key starts with its
 * integer id. Log entries use a WITHOUT ROWID table clustered on (gid, idx): one B-tree
 * write per entry instead of a rowid table plus an index.
 */
const DDL = `
CREATE TABLE kontiki_schema (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  format TEXT NOT NULL,
  version INTEGER NOT NULL
);
CREATE TABLE raft_group (
  gid INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  first_index INTEGER NOT NULL,
  crc INTEGER NOT NULL
);
CREATE TABLE log_entry (
  gid INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  term INTEGER NOT NULL,
  type INTEGER NOT NULL,
  data BLOB NOT NULL,
  crc INTEGER NOT NULL,
  PRIMARY KEY (gid, idx)
) WITHOUT ROWID;
CREATE TABLE raft_meta (
  gid INTEGER PRIMARY KEY,
  term INTEGER NOT NULL,
  voted_for TEXT,
  crc INTEGER NOT NULL
);
CREATE TABLE snapshot (
  sid INTEGER PRIMARY KEY,
  gid INTEGER NOT NULL,
  published INTEGER NOT NULL,
  last_index INTEGER NOT NULL,
  last_term INTEGER NOT NULL,
  configuration TEXT NOT NULL,
  size INTEGER NOT NULL,
  crc INTEGER NOT NULL
);
CREATE INDEX snapshot_by_group ON snapshot (gid, published);
CREATE TABLE snapshot_chunk (
  sid INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  data BLOB NOT NULL,
  crc INTEGER NOT NULL,
  PRIMARY KEY (sid, offset)
);
`;

/** Throws NotAStoreError unless the file is empty or starts like an SQLite database. */
export function checkFileHeader(path: string, size: number): void {
  if (size === 0) return;
  const head = Buffer.alloc(SQLITE_MAGIC.length);
  const fd = openSync(path, 'r');
  let read: number;
  try {
    read = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (read < head.length || head.toString('latin1') !== SQLITE_MAGIC) {
    throw new NotAStoreError(path, 'it is not an SQLite database');
  }
}

export type SchemaState = 'new' | 'current';

/**
 * Decides, by reading only, whether `db` is a new file, a Kontiki store we can open, or
 * something else (which throws, having written nothing).
 */
export function inspectSchema(db: Database.Database, path: string): SchemaState {
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
    .pluck()
    .all() as string[];
  // A database without tables is a store whose creation was cut short (or an empty file).
  if (tables.length === 0) return 'new';
  if (!tables.includes('kontiki_schema')) {
    throw new NotAStoreError(path, 'it is an SQLite database without a kontiki_schema table');
  }
  let row: { format: unknown; version: unknown } | undefined;
  try {
    row = db.prepare('SELECT format, version FROM kontiki_schema WHERE id = 1').get() as
      | { format: unknown; version: unknown }
      | undefined;
  } catch (cause) {
    throw new NotAStoreError(path, `its kontiki_schema table is unreadable (${String(cause)})`);
  }
  if (row === undefined || row.format !== STORE_FORMAT || typeof row.version !== 'number') {
    throw new NotAStoreError(path, 'its kontiki_schema table does not describe a Kontiki store');
  }
  if (row.version > SCHEMA_VERSION) {
    throw new SchemaVersionError(path, row.version, SCHEMA_VERSION);
  }
  if (row.version < 1 || !Number.isInteger(row.version)) {
    throw new NotAStoreError(path, `its schema version ${row.version} is not one Kontiki wrote`);
  }
  return 'current';
}

/** Creates every table and the version row, in one transaction. */
export function createSchema(db: Database.Database): void {
  db.transaction(() => {
    db.exec(DDL);
    db.prepare('INSERT INTO kontiki_schema (id, format, version) VALUES (1, ?, ?)').run(
      STORE_FORMAT,
      SCHEMA_VERSION,
    );
  })();
}
