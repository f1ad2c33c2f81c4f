import type { LogEntry } from '@kontiki/core';

/**
 * Log entries on their way between the store's facade and its engine.
 *
 * - `list`: the caller's own objects, untouched. Used when the engine runs on the same
 *   thread (`thread: 'main'`): nothing is copied, SQLite binds the caller's bytes.
 * - `packed`: contiguous entries from `first` packed into two buffers the batch owns alone:
 *   `fields` holds (term, type, end offset) per entry and `bytes` every entry's data back to
 *   back. Used across the worker boundary: both buffers are transferred, not cloned, so the
 *   only copy is the packing itself (one memcpy per entry). The caller's buffers are never
 *   transferred (core keeps appended entries in memory: they must stay usable), and a view
 *   into a larger buffer costs only its own bytes (structured clone would copy the whole
 *   underlying ArrayBuffer).
 */
export type EntryBatch =
  | { readonly form: 'list'; readonly entries: readonly LogEntry[] }
  | {
      readonly form: 'packed';
      readonly first: number;
      readonly fields: Float64Array;
      readonly bytes: Uint8Array;
    };

const FIELDS = 3;

export function listBatch(entries: readonly LogEntry[]): EntryBatch {
  return { form: 'list', entries };
}

/** Packs entries whose indices are contiguous (checked by the caller) into buffers of their own. */
export function packEntries(
  first: number,
  count: number,
  entryAt: (i: number) => { term: number; type: number; data: Uint8Array },
): EntryBatch {
  const fields = new Float64Array(count * FIELDS);
  let total = 0;
  for (let i = 0; i < count; i++) total += entryAt(i).data.byteLength;
  const bytes = new Uint8Array(total);
  let end = 0;
  for (let i = 0; i < count; i++) {
    const e = entryAt(i);
    bytes.set(e.data, end);
    end += e.data.byteLength;
    fields[i * FIELDS] = e.term;
    fields[i * FIELDS + 1] = e.type;
    fields[i * FIELDS + 2] = end;
  }
  return { form: 'packed', first, fields, bytes };
}

export function batchLength(batch: EntryBatch): number {
  return batch.form === 'list' ? batch.entries.length : batch.fields.length / FIELDS;
}

/** Calls `fn` for every entry in order; `data` of a packed batch is a view into its buffer. */
export function forEachEntry(
  batch: EntryBatch,
  fn: (index: number, term: number, type: number, data: Uint8Array) => void,
): void {
  if (batch.form === 'list') {
    for (const e of batch.entries) fn(e.index, e.term, e.type, e.data);
    return;
  }
  const { fields, bytes, first } = batch;
  const count = fields.length / FIELDS;
  let start = 0;
  for (let i = 0; i < count; i++) {
    const end = fields[i * FIELDS + 2] as number;
    fn(
      first + i,
      fields[i * FIELDS] as number,
      fields[i * FIELDS + 1] as number,
      bytes.subarray(start, end),
    );
    start = end;
  }
}

/**
 * The entries as LogEntry objects. Those of a packed batch share its one buffer (no copy);
 * nothing else holds that buffer, so they are the caller's to keep.
 */
export function toEntries(batch: EntryBatch): LogEntry[] {
  if (batch.form === 'list') return batch.entries.slice();
  const out: LogEntry[] = [];
  forEachEntry(batch, (index, term, type, data) => {
    out.push({ index, term, type: type as LogEntry['type'], data });
  });
  return out;
}

/** The buffers to transfer with a batch (none for a list: those are the caller's). */
export function transferablesOf(batch: EntryBatch): ArrayBuffer[] {
  if (batch.form === 'list') return [];
  return [batch.fields.buffer as ArrayBuffer, batch.bytes.buffer as ArrayBuffer];
}
