import { CorruptLogError, type GroupId } from '@kontiki/core';
import type Database from 'better-sqlite3';
import { groupChecksum, metaChecksum, snapshotChecksum } from './checksum.js';
import type { GroupState } from './group-state.js';
import { type TruncatedTail, verifyLog } from './log-verifier.js';
import type { RecoveryMode } from './options.js';

export interface LoadedStore {
  readonly groups: Map<GroupId, GroupState>;
  readonly recovered: TruncatedTail[];
}

interface GroupRow {
  gid: number;
  name: unknown;
  first_index: unknown;
  crc: unknown;
}

/**
 * Reads and checks every record of the store, in one transaction: group rows, every log
 * entry, term and vote, and the published snapshots' descriptions and chunk layout.
 * Anything bad throws CorruptLogError (and the transaction rolls back whatever a recovery
 * had already truncated, so a refused open changes nothing). Unpublished snapshots (a
 * crash during a write) and superseded ones are removed.
 */
export function loadStore(db: Database.Database, recover: RecoveryMode): LoadedStore {
  return db.transaction(() => {
    const groups = new Map<GroupId, GroupState>();
    const recovered: TruncatedTail[] = [];
    const rows = db
      .prepare('SELECT gid, name, first_index, crc FROM raft_group')
      .all() as GroupRow[];
    const metaRow = db.prepare('SELECT term, voted_for, crc FROM raft_meta WHERE gid = ?');
    for (const row of rows) {
      const { gid, name, first_index: first } = row;
      if (
        typeof name !== 'string' ||
        typeof first !== 'number' ||
        !Number.isSafeInteger(first) ||
        first < 1 ||
        row.crc !== groupChecksum(name, first)
      ) {
        throw new CorruptLogError(`group record ${gid} failed its checksum`, {
          ...(typeof name === 'string' ? { groupId: name } : {}),
        });
      }
      const log = verifyLog(db, gid, name, first, recover);
      if (log.truncated) recovered.push(log.truncated);
      const meta = metaRow.get(gid) as
        | { term: unknown; voted_for: unknown; crc: unknown }
        | undefined;
      let term = 0;
      let votedFor: string | null = null;
      if (meta !== undefined) {
        if (
          typeof meta.term !== 'number' ||
          (meta.voted_for !== null && typeof meta.voted_for !== 'string') ||
          meta.crc !== metaChecksum(meta.term, meta.voted_for)
        ) {
          throw new CorruptLogError(
            `term and vote of group ${JSON.stringify(name)} failed their checksum`,
            { groupId: name },
          );
        }
        term = meta.term;
        votedFor = meta.voted_for;
      }
      checkSnapshots(db, gid, name);
      groups.set(name, {
        gid,
        name,
        log: { first, last: log.lastIndex },
        meta: { term, votedFor },
      });
    }
    removeUnusedSnapshots(db);
    return { groups, recovered };
  })();
}

function checkSnapshots(db: Database.Database, gid: number, name: GroupId): void {
  const snapshots = db
    .prepare(
      'SELECT sid, last_index, last_term, configuration, size, crc FROM snapshot WHERE gid = ? AND published > 0 ORDER BY published DESC LIMIT 1',
    )
    .all(gid) as Array<{
    sid: number;
    last_index: number;
    last_term: number;
    configuration: string;
    size: number;
    crc: number;
  }>;
  const chunks = db.prepare(
    'SELECT offset, length(data) AS len FROM snapshot_chunk WHERE sid = ? ORDER BY offset',
  );
  for (const s of snapshots) {
    const bad = (what: string) =>
      new CorruptLogError(`snapshot ${s.last_index} of group ${JSON.stringify(name)}: ${what}`, {
        groupId: name,
        index: s.last_index,
      });
    if (s.crc !== snapshotChecksum(s.last_index, s.last_term, s.configuration, s.size)) {
      throw bad('its description failed its checksum');
    }
    let expected = 0;
    for (const c of chunks.iterate(s.sid) as IterableIterator<{ offset: number; len: number }>) {
      if (c.offset !== expected) throw bad(`its data at byte ${expected} is missing`);
      expected += c.len;
    }
    if (expected !== s.size) throw bad(`it holds ${expected} of its ${s.size} bytes`);
  }
}

/** Unpublished snapshots and every published one but the latest of its group. */
function removeUnusedSnapshots(db: Database.Database): void {
  const unused = `SELECT sid FROM snapshot s WHERE published = 0 OR published < (
    SELECT max(published) FROM snapshot t WHERE t.gid = s.gid)`;
  db.exec(
    `DELETE FROM snapshot_chunk WHERE sid IN (${unused}); DELETE FROM snapshot WHERE sid IN (${unused});`,
  );
}
