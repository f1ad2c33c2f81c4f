import { BadRequestError, CorruptLogError, type LogEntry } from '@kontiki/core';
import { entryChecksum, groupChecksum } from './checksum.js';
import type { EngineContext } from './engine-context.js';
import {
  batchLength,
  type EntryBatch,
  forEachEntry,
  listBatch,
  packEntries,
} from './entry-batch.js';
import { entryProblem } from './log-verifier.js';
import type { LogRange, ReadOp, WriteOp } from './ops.js';

/** The log ops, as the engine runs them (inside its transaction for writes). */

type Of<U, K> = Extract<U, { kind: K }>;

function firstIndexOf(batch: EntryBatch): number {
  if (batch.form === 'packed') return batch.first;
  const first = batch.entries[0];
  if (first === undefined) throw new BadRequestError('an append needs at least one entry');
  return first.index;
}

export function append(ctx: EngineContext, op: Of<WriteOp, 'append'>): LogRange {
  const gid = ctx.gid(op.group);
  const base = ctx.view(op.group).log;
  const firstNew = firstIndexOf(op.entries);
  if (firstNew !== base.last + 1) {
    throw new BadRequestError(
      `append out of order: got index ${firstNew}, expected ${base.last + 1}`,
    );
  }
  const { insertEntry } = ctx.statements;
  forEachEntry(op.entries, (index, term, type, data) => {
    // The checksum is taken from the very bytes handed to SQLite, in the same turn.
    insertEntry.run(gid, index, term, type, data, entryChecksum(index, term, type, data));
  });
  const next = { first: base.first, last: firstNew + batchLength(op.entries) - 1 };
  ctx.setLog(op.group, next);
  return next;
}

export function truncateSuffix(ctx: EngineContext, op: Of<WriteOp, 'truncateSuffix'>): LogRange {
  const gid = ctx.gid(op.group);
  const base = ctx.view(op.group).log;
  if (op.lastKept >= base.last) return base;
  ctx.statements.deleteEntriesFrom.run(gid, op.lastKept + 1);
  // Truncating below the first index empties the log but does not move its start.
  const next = { first: base.first, last: Math.max(op.lastKept, base.first - 1) };
  ctx.setLog(op.group, next);
  return next;
}

export function truncatePrefix(ctx: EngineContext, op: Of<WriteOp, 'truncatePrefix'>): LogRange {
  const gid = ctx.gid(op.group);
  const base = ctx.view(op.group).log;
  if (op.firstKept <= base.first) return base;
  ctx.statements.deleteEntriesBefore.run(gid, op.firstKept);
  writeFirstIndex(ctx, op.group, gid, op.firstKept);
  const next = { first: op.firstKept, last: Math.max(base.last, op.firstKept - 1) };
  ctx.setLog(op.group, next);
  return next;
}

export function reset(ctx: EngineContext, op: Of<WriteOp, 'reset'>): LogRange {
  const gid = ctx.gid(op.group);
  ctx.statements.deleteAllEntries.run(gid);
  writeFirstIndex(ctx, op.group, gid, op.nextIndex);
  const next = { first: op.nextIndex, last: op.nextIndex - 1 };
  ctx.setLog(op.group, next);
  return next;
}

function writeFirstIndex(ctx: EngineContext, group: string, gid: number, first: number): void {
  ctx.statements.setFirstIndex.run(first, groupChecksum(group, first), gid);
}

export function entries(ctx: EngineContext, op: Of<ReadOp, 'entries'>): EntryBatch {
  const g = ctx.view(op.group);
  const lo = Math.max(op.from, g.log.first);
  const hi = Math.min(op.to, g.log.last + 1);
  const out: LogEntry[] = [];
  if (lo >= hi || g.gid === undefined) return listOrPacked(ctx, lo, out);
  let bytes = 0;
  let expected = lo;
  for (const row of ctx.statements.readEntries.iterate(g.gid, lo, hi) as IterableIterator<
    unknown[]
  >) {
    const problem = entryProblem(row, expected);
    if (problem !== undefined) {
      throw new CorruptLogError(`log of group ${JSON.stringify(g.name)}: ${problem}`, {
        groupId: g.name,
        index: expected,
      });
    }
    const data = row[3] as Uint8Array;
    bytes += data.byteLength;
    // maxBytes bounds the batch, but a batch always holds at least one entry.
    if (out.length > 0 && bytes > op.maxBytes) break;
    out.push({ index: expected, term: row[1] as number, type: row[2] as LogEntry['type'], data });
    expected++;
  }
  if (out.length === 0) {
    throw new CorruptLogError(`log of group ${JSON.stringify(g.name)}: entry ${lo} is missing`, {
      groupId: g.name,
      index: lo,
    });
  }
  return listOrPacked(ctx, lo, out);
}

function listOrPacked(ctx: EngineContext, first: number, out: LogEntry[]): EntryBatch {
  if (!ctx.packEntries) return listBatch(out);
  return packEntries(first, out.length, (i) => out[i] as LogEntry);
}

export function term(ctx: EngineContext, op: Of<ReadOp, 'term'>): number | undefined {
  const g = ctx.view(op.group);
  const { first, last } = g.log;
  if (g.gid === undefined || !Number.isSafeInteger(op.index)) return undefined;
  if (op.index < first || op.index > last) return undefined;
  const found: unknown = ctx.statements.readTerm.get(g.gid, op.index);
  if (typeof found !== 'number') {
    throw new CorruptLogError(
      `log of group ${JSON.stringify(g.name)}: entry ${op.index} is missing`,
      { groupId: g.name, index: op.index },
    );
  }
  return found;
}
