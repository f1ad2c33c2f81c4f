/**
 * A key's value with its revisions, etcd's way (mvccpb.KeyValue): the store has one revision,
 * bumped by every write that changes something; each key records the revision that created
 * it, the revision of its last write, and how many writes it has had since its creation.
 */
export interface KvEntry {
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  /** 1 after the put that created the key, +1 per put; a deletion removes the key. */
  readonly version: number;
}

export interface KeyedEntry extends KvEntry {
  readonly key: string;
}

export type CompareTarget = 'value' | 'version' | 'create' | 'mod' | 'lease';
export type CompareResult = 'equal' | 'notEqual' | 'greater' | 'less';

export const RANGE_SORT_ORDERS = ['none', 'ascend', 'descend'] as const;
export const RANGE_SORT_TARGETS = ['key', 'version', 'create', 'mod', 'value'] as const;

/** etcd's RangeRequest options, other than the range itself. */
export interface RangeOptions {
  /** 0: no limit. */
  readonly limit: number;
  readonly sortOrder: (typeof RANGE_SORT_ORDERS)[number];
  readonly sortTarget: (typeof RANGE_SORT_TARGETS)[number];
  readonly keysOnly: boolean;
  readonly countOnly: boolean;
  /** 0: no bound. */
  readonly minModRevision: number;
  readonly maxModRevision: number;
  readonly minCreateRevision: number;
  readonly maxCreateRevision: number;
}

export const DEFAULT_RANGE_OPTIONS: RangeOptions = {
  limit: 0,
  sortOrder: 'none',
  sortTarget: 'key',
  keysOnly: false,
  countOnly: false,
  minModRevision: 0,
  maxModRevision: 0,
  minCreateRevision: 0,
  maxCreateRevision: 0,
};

export interface RangeResult {
  /** The keys, after filters, sort and limit (empty with `countOnly`). */
  readonly kvs: readonly KeyedEntry[];
  /** Keys in the range, before the limit and the revision filters (etcd's `count`). */
  readonly count: number;
  /** More keys than `limit` matched. */
  readonly more: boolean;
}

const encoder = new TextEncoder();

/** A key's UTF-8 bytes: the order of etcd's keys. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Byte-wise order of two byte strings (etcd's key order). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.byteLength - b.byteLength;
}

function sortValue(e: KeyedEntry, target: RangeOptions['sortTarget']): number | string {
  switch (target) {
    case 'version':
      return e.version;
    case 'create':
      return e.createRevision;
    case 'mod':
      return e.modRevision;
    case 'value':
      return e.value;
    case 'key':
      return e.key;
  }
}

/**
 * Applies etcd's range options to the keys of a range (in key order): revision filters, sort,
 * limit. Like etcd, `count` is the number of keys in the range before filters and limit.
 */
export function shapeRange(inRange: readonly KeyedEntry[], options: RangeOptions): RangeResult {
  const count = inRange.length;
  if (options.countOnly) return { kvs: [], count, more: false };
  let kvs = inRange.filter(
    (e) =>
      (options.minModRevision === 0 || e.modRevision >= options.minModRevision) &&
      (options.maxModRevision === 0 || e.modRevision <= options.maxModRevision) &&
      (options.minCreateRevision === 0 || e.createRevision >= options.minCreateRevision) &&
      (options.maxCreateRevision === 0 || e.createRevision <= options.maxCreateRevision),
  );
  // etcd: no order with the key target means ascending keys (already so); no order with
  // another target means ascending by it.
  const order =
    options.sortOrder === 'none' && options.sortTarget !== 'key' ? 'ascend' : options.sortOrder;
  if (order !== 'none' && !(order === 'ascend' && options.sortTarget === 'key')) {
    const sign = order === 'descend' ? -1 : 1;
    const byKey = (a: KeyedEntry, b: KeyedEntry) => compareBytes(utf8(a.key), utf8(b.key));
    kvs = [...kvs].sort((a, b) => {
      const x = sortValue(a, options.sortTarget);
      const y = sortValue(b, options.sortTarget);
      let d: number;
      if (typeof x === 'number' && typeof y === 'number') d = x - y;
      else if (options.sortTarget === 'key') d = byKey(a, b);
      else d = compareBytes(utf8(String(x)), utf8(String(y)));
      return d !== 0 ? sign * d : byKey(a, b);
    });
  }
  const more = options.limit > 0 && kvs.length > options.limit;
  if (more) kvs = kvs.slice(0, options.limit);
  return { kvs, count, more };
}
