import type Database from 'better-sqlite3';

/** Every statement the store runs after open, prepared once per store. */
export class Statements {
  readonly insertGroup: Database.Statement;
  readonly setFirstIndex: Database.Statement;
  readonly insertEntry: Database.Statement;
  readonly readEntries: Database.Statement;
  readonly readTerm: Database.Statement;
  readonly deleteEntriesFrom: Database.Statement;
  readonly deleteEntriesBefore: Database.Statement;
  readonly deleteAllEntries: Database.Statement;
  readonly saveMeta: Database.Statement;
  readonly insertSnapshot: Database.Statement;
  readonly insertChunk: Database.Statement;
  readonly chunkTotals: Database.Statement;
  /** `published` is 0 while a snapshot is being written, then its place in publish order. */
  readonly publishSnapshot: Database.Statement;
  readonly otherPublished: Database.Statement;
  readonly latestSnapshot: Database.Statement;
  readonly latestSnapshotId: Database.Statement;
  readonly abortSnapshot: Database.Statement;
  readonly readChunks: Database.Statement;
  readonly deleteChunks: Database.Statement;
  readonly deleteSnapshot: Database.Statement;

  constructor(db: Database.Database) {
    this.insertGroup = db.prepare(
      'INSERT INTO raft_group (name, first_index, crc) VALUES (?, ?, ?)',
    );
    this.setFirstIndex = db.prepare('UPDATE raft_group SET first_index = ?, crc = ? WHERE gid = ?');
    this.insertEntry = db.prepare(
      'INSERT INTO log_entry (gid, idx, term, type, data, crc) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.readEntries = db
      .prepare(
        'SELECT idx, term, type, data, crc FROM log_entry WHERE gid = ? AND idx >= ? AND idx < ? ORDER BY idx',
      )
      .raw(true);
    this.readTerm = db.prepare('SELECT term FROM log_entry WHERE gid = ? AND idx = ?').pluck();
    this.deleteEntriesFrom = db.prepare('DELETE FROM log_entry WHERE gid = ? AND idx >= ?');
    this.deleteEntriesBefore = db.prepare('DELETE FROM log_entry WHERE gid = ? AND idx < ?');
    this.deleteAllEntries = db.prepare('DELETE FROM log_entry WHERE gid = ?');
    this.saveMeta = db.prepare(
      'INSERT OR REPLACE INTO raft_meta (gid, term, voted_for, crc) VALUES (?, ?, ?, ?)',
    );
    this.insertSnapshot = db.prepare(
      'INSERT INTO snapshot (gid, published, last_index, last_term, configuration, size, crc) VALUES (?, 0, ?, ?, ?, 0, 0)',
    );
    this.insertChunk = db.prepare(
      'INSERT INTO snapshot_chunk (sid, offset, data, crc) VALUES (?, ?, ?, ?)',
    );
    this.chunkTotals = db.prepare(
      'SELECT count(*) AS chunks, coalesce(sum(length(data)), 0) AS bytes FROM snapshot_chunk WHERE sid = ?',
    );
    this.publishSnapshot = db.prepare(
      'UPDATE snapshot SET published = (SELECT coalesce(max(published), 0) + 1 FROM snapshot), size = ?, crc = ? WHERE sid = ? AND published = 0',
    );
    this.otherPublished = db
      .prepare('SELECT sid FROM snapshot WHERE gid = ? AND published > 0 AND sid <> ?')
      .pluck();
    this.latestSnapshot = db.prepare(
      'SELECT sid, last_index, last_term, configuration, size, crc FROM snapshot WHERE gid = ? AND published > 0 ORDER BY published DESC LIMIT 1',
    );
    this.latestSnapshotId = db
      .prepare(
        'SELECT sid FROM snapshot WHERE gid = ? AND published > 0 ORDER BY published DESC LIMIT 1',
      )
      .pluck();
    this.abortSnapshot = db.prepare('DELETE FROM snapshot WHERE sid = ? AND published = 0');
    this.readChunks = db
      .prepare(
        `SELECT offset, data, crc FROM snapshot_chunk
       WHERE sid = ? AND offset < ?
         AND offset >= coalesce((SELECT max(offset) FROM snapshot_chunk WHERE sid = ? AND offset <= ?), 0)
       ORDER BY offset`,
      )
      .raw(true);
    this.deleteChunks = db.prepare('DELETE FROM snapshot_chunk WHERE sid = ?');
    this.deleteSnapshot = db.prepare('DELETE FROM snapshot WHERE sid = ?');
  }
}
