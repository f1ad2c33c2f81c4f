import type { LogEntry } from '@kontiki/core';
import Database from 'better-sqlite3';
import type { Durability } from '../src/index.js';

/**
 * The baseline: better-sqlite3 with nothing of Kontiki. The same table shape as the store's
 * log, the same pragmas (WAL, exclusive lock, the same `synchronous`), one transaction per
 * batch, a prepared insert; no checksum, no validation, no promises, no group commit.
 */
export class BareLoop {
  private readonly db: Database.Database;
  private readonly insertBatch: (entries: readonly LogEntry[]) => void;

  constructor(file: string, synchronous: Durability) {
    this.db = new Database(file);
    this.db.pragma('locking_mode = EXCLUSIVE');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.exec(`CREATE TABLE log_entry (
      gid INTEGER NOT NULL, idx INTEGER NOT NULL, term INTEGER NOT NULL, type INTEGER NOT NULL,
      data BLOB NOT NULL, crc INTEGER NOT NULL, PRIMARY KEY (gid, idx)) WITHOUT ROWID`);
    const insert = this.db.prepare(
      'INSERT INTO log_entry (gid, idx, term, type, data, crc) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.insertBatch = this.db.transaction((entries: readonly LogEntry[]) => {
      for (const e of entries) insert.run(1, e.index, e.term, e.type, e.data, 0);
    });
  }

  append(entries: readonly LogEntry[]): void {
    this.insertBatch(entries);
  }

  close(): void {
    this.db.close();
  }
}
