import { CorruptLogError, StorageError } from '@kontiki/core';
import { crc32c, snapshotChecksum } from './checksum.js';
import type { EngineContext } from './engine-context.js';
import type { OpenedSnapshot, ReadOp, WriteOp } from './ops.js';
import { CHUNK_BYTES, decodeSnapshotConfiguration } from './snapshot-format.js';

/**
 * The snapshot ops, as the engine runs them. A snapshot is a row of `snapshot` plus its
 * chunk rows; `published` is 0 while it is being written, then its place in publish order.
 */

type Of<U, K> = Extract<U, { kind: K }>;

interface SnapshotRow {
  sid: number;
  last_index: number;
  last_term: number;
  configuration: string;
  size: number;
  crc: number;
}

export function snapshotCreate(ctx: EngineContext, op: Of<WriteOp, 'snapshotCreate'>): number {
  const gid = ctx.gid(op.group);
  return Number(
    ctx.statements.insertSnapshot.run(gid, op.lastIndex, op.lastTerm, op.configuration)
      .lastInsertRowid,
  );
}

export function snapshotWrite(ctx: EngineContext, op: Of<WriteOp, 'snapshotWrite'>): void {
  const { insertChunk } = ctx.statements;
  for (let off = 0; off < op.data.byteLength; off += CHUNK_BYTES) {
    const piece = op.data.subarray(off, off + CHUNK_BYTES);
    insertChunk.run(op.sid, op.offset + off, piece, crc32c(piece));
  }
}

/** Publishes the snapshot and drops the group's older ones, except those being read. */
export function snapshotCommit(ctx: EngineContext, op: Of<WriteOp, 'snapshotCommit'>): void {
  const s = ctx.statements;
  const totals = s.chunkTotals.get(op.sid) as { bytes: number };
  if (totals.bytes !== op.size) {
    throw new StorageError(
      `snapshot of group ${JSON.stringify(op.group)}: ${totals.bytes} of ${op.size} bytes were stored (a write failed)`,
    );
  }
  if (s.publishSnapshot.run(op.size, op.crc, op.sid).changes !== 1) {
    throw new StorageError('the snapshot being committed is gone from the store');
  }
  for (const old of s.otherPublished.all(ctx.gid(op.group), op.sid) as number[]) {
    if (ctx.readers.has(old)) continue;
    deleteSnapshot(ctx, old);
  }
}

export function snapshotAbort(ctx: EngineContext, op: Of<WriteOp, 'snapshotAbort'>): void {
  if (ctx.statements.abortSnapshot.run(op.sid).changes === 1) {
    ctx.statements.deleteChunks.run(op.sid);
  }
}

/** A reader closed: its snapshot goes once nothing reads it, if a newer one was published. */
export function snapshotRelease(ctx: EngineContext, op: Of<WriteOp, 'snapshotRelease'>): void {
  const left = (ctx.readers.get(op.sid) ?? 1) - 1;
  if (left > 0) {
    ctx.readers.set(op.sid, left);
    return;
  }
  ctx.readers.delete(op.sid);
  ctx.verified.delete(op.sid);
  if (ctx.statements.latestSnapshotId.get(ctx.gid(op.group)) === op.sid) return;
  deleteSnapshot(ctx, op.sid);
}

function deleteSnapshot(ctx: EngineContext, sid: number): void {
  ctx.statements.deleteChunks.run(sid);
  ctx.statements.deleteSnapshot.run(sid);
  ctx.verified.delete(sid);
}

/** The latest published snapshot, checked, and held for its reader until a release. */
export function snapshotOpen(
  ctx: EngineContext,
  op: Of<ReadOp, 'snapshotOpen'>,
): OpenedSnapshot | null {
  const g = ctx.view(op.group);
  if (g.gid === undefined) return null;
  const row = ctx.statements.latestSnapshot.get(g.gid) as SnapshotRow | undefined;
  if (row === undefined) return null;
  const name = g.name;
  if (row.crc !== snapshotChecksum(row.last_index, row.last_term, row.configuration, row.size)) {
    throw new CorruptLogError(
      `snapshot of group ${JSON.stringify(name)}: its description failed its checksum`,
      { groupId: name, index: row.last_index },
    );
  }
  const meta = {
    lastIncludedIndex: row.last_index,
    lastIncludedTerm: row.last_term,
    configuration: decodeSnapshotConfiguration(row.configuration, name, row.last_index),
  };
  const sid = row.sid;
  ctx.readers.set(sid, (ctx.readers.get(sid) ?? 0) + 1);
  ctx.onRollback(() => {
    const left = (ctx.readers.get(sid) ?? 1) - 1;
    if (left > 0) ctx.readers.set(sid, left);
    else ctx.readers.delete(sid);
  });
  return { sid, meta, size: row.size };
}

/** Bytes [offset, end) of an open snapshot, every chunk they touch checked. */
export function snapshotRead(ctx: EngineContext, op: Of<ReadOp, 'snapshotRead'>): Uint8Array {
  const { sid, offset, end } = op;
  const corrupt = (what: string) =>
    new CorruptLogError(`snapshot ${op.lastIndex} of group ${JSON.stringify(op.group)}: ${what}`, {
      groupId: op.group,
      index: op.lastIndex,
    });
  if (offset >= end) return new Uint8Array(0);
  const out = new Uint8Array(end - offset);
  let pos = offset;
  const rows = ctx.statements.readChunks.all(sid, end, sid, offset) as unknown[][];
  let verified = ctx.verified.get(sid);
  if (verified === undefined) {
    verified = new Set();
    ctx.verified.set(sid, verified);
  }
  for (const [chunkOffset, data, crc] of rows) {
    if (
      typeof chunkOffset !== 'number' ||
      !(data instanceof Uint8Array) ||
      chunkOffset > pos ||
      !intact(verified, chunkOffset, data, crc)
    ) {
      throw corrupt(`its data at byte ${pos} is missing or failed its checksum`);
    }
    const from = pos - chunkOffset;
    const to = Math.min(data.byteLength, end - chunkOffset);
    if (to <= from) continue;
    out.set(data.subarray(from, to), pos - offset);
    pos = chunkOffset + to;
  }
  if (pos < end) throw corrupt(`its data at byte ${pos} is missing`);
  return out;
}

function intact(verified: Set<number>, offset: number, data: Uint8Array, crc: unknown): boolean {
  if (verified.has(offset)) return true;
  if (crc32c(data) !== crc) return false;
  verified.add(offset);
  return true;
}
