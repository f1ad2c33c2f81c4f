import { CorruptLogError, type GroupId } from '@kontiki/core';
import type Database from 'better-sqlite3';
import { entryChecksum } from './checksum.js';
import type { RecoveryMode } from './options.js';

/** A torn tail that `recover: 'truncate-torn-tail'` removed at open. */
export interface TruncatedTail {
  readonly groupId: GroupId;
  /** The first removed index; every entry from here on was removed. */
  readonly fromIndex: number;
  /** How many records were removed. */
  readonly records: number;
  /** What was wrong with the record at `fromIndex`. */
  readonly reason: string;
}

export interface VerifiedLog {
  readonly lastIndex: number;
  readonly truncated: TruncatedTail | undefined;
}

/** Why a stored row is not the entry `expected`, or undefined when it is. */
export function entryProblem(row: readonly unknown[], expected: number): string | undefined {
  const [idx, term, type, data, crc] = row;
  if (idx !== expected) return `entry ${expected} is missing (the next record is ${String(idx)})`;
  if (typeof term !== 'number' || !Number.isSafeInteger(term) || term < 0) {
    return `entry ${expected} has a malformed term`;
  }
  if (typeof type !== 'number' || !Number.isInteger(type)) {
    return `entry ${expected} has a malformed type`;
  }
  if (!(data instanceof Uint8Array)) return `entry ${expected} has no data blob`;
  if (crc !== entryChecksum(expected, term, type, data)) {
    return `entry ${expected} failed its checksum`;
  }
  return undefined;
}

function checksumHolds(row: readonly unknown[]): boolean {
  const [idx, term, type, data, crc] = row;
  return (
    typeof idx === 'number' &&
    typeof term === 'number' &&
    typeof type === 'number' &&
    data instanceof Uint8Array &&
    crc === entryChecksum(idx, term, type, data)
  );
}

/**
 * Reads a group's whole log and checks every record: contiguous from `firstIndex`, each
 * with a matching checksum. A bad record refuses the open (CorruptLogError naming the
 * group and index) unless `recover` allows dropping it as part of a torn tail: the bad
 * record and everything after it, and only when no good record follows it. A good record
 * after a bad one is damage in the middle of the log, which is never truncated.
 */
export function verifyLog(
  db: Database.Database,
  gid: number,
  groupId: GroupId,
  firstIndex: number,
  recover: RecoveryMode,
): VerifiedLog {
  const rows = db
    .prepare('SELECT idx, term, type, data, crc FROM log_entry WHERE gid = ? ORDER BY idx')
    .raw(true);
  let expected = firstIndex;
  let bad: { index: number; reason: string } | undefined;
  let badRecords = 0;
  let goodAfterBad: number | undefined;
  for (const row of rows.iterate(gid) as IterableIterator<unknown[]>) {
    if (bad === undefined) {
      const problem = entryProblem(row, expected);
      if (problem === undefined) {
        expected++;
        continue;
      }
      bad = { index: expected, reason: problem };
      if (row[0] !== expected) {
        // The record at `expected` is missing; judge the row we did find as the next one.
        if (checksumHolds(row) || (typeof row[0] === 'number' && row[0] < firstIndex)) {
          goodAfterBad = typeof row[0] === 'number' ? row[0] : expected;
          break;
        }
      }
      badRecords++;
      continue;
    }
    if (checksumHolds(row)) {
      goodAfterBad = row[0] as number;
      break;
    }
    badRecords++;
  }
  if (bad === undefined) return { lastIndex: expected - 1, truncated: undefined };

  const where = `log of group ${JSON.stringify(groupId)}`;
  if (goodAfterBad !== undefined) {
    throw new CorruptLogError(
      `${where}: ${bad.reason}, and a good record (${goodAfterBad}) follows it: the damage is inside the log, not a torn tail; refusing to open (no recovery option truncates the middle of a log)`,
      { groupId, index: bad.index },
    );
  }
  if (recover !== 'truncate-torn-tail') {
    throw new CorruptLogError(
      `${where}: ${bad.reason}; it and the ${badRecords - 1} record(s) after it look like a torn tail. Open with { recover: 'truncate-torn-tail' } to drop them (entries from ${bad.index} on are lost)`,
      { groupId, index: bad.index },
    );
  }
  db.prepare('DELETE FROM log_entry WHERE gid = ? AND idx >= ?').run(gid, bad.index);
  return {
    lastIndex: bad.index - 1,
    truncated: { groupId, fromIndex: bad.index, records: badRecords, reason: bad.reason },
  };
}
