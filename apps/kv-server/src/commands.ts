import type { PeerAddress } from './config.js';
import {
  type CompareResult,
  type CompareTarget,
  type KeyedEntry,
  RANGE_SORT_ORDERS,
  RANGE_SORT_TARGETS,
  type RangeOptions,
  type RangeResult,
} from './kv-entry.js';

/**
 * The commands the key-value state machine applies, and their encoding in log entries. The
 * two that carry almost every write, put and delete, are binary: a tag byte, then the key's
 * and the value's UTF-8 bytes as they are (`encodePut`), so that a value is copied into the
 * log once and never escaped, parsed or re-encoded (a 64 KiB value through JSON cost the
 * leader 14% of its CPU). The rest (compare-and-set, transactions, the address book) are
 * compact JSON (`{"op":"cas","k":"a","e":null,"v":"1"}`), which no tag byte starts with; so
 * are a put or delete whose text has a lone surrogate (which has no UTF-8 form; JSON strings
 * of the HTTP API may hold one), and those of logs written before.
 */
export type KvCommand =
  /**
   * Records where members listen (Raft and HTTP), by peer id, for every node: how a node
   * that joins later becomes reachable by the others. Merged into what is known.
   */
  | { readonly op: 'peers'; readonly peers: Readonly<Record<string, PeerAddress>> }
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  /** Sets `value` if the key's current value is `expected` (`null`: the key must be absent). */
  | {
      readonly op: 'cas';
      readonly key: string;
      readonly expected: string | null;
      readonly value: string;
    }
  /**
   * An etcd transaction (also how etcd's DeleteRange of a range and a Put with options go
   * through the log): if every compare holds, the `success` operations run in order, else
   * the `failure` ones; all its writes share one new revision.
   */
  | {
      readonly op: 'txn';
      readonly compare: readonly TxnCompare[];
      readonly success: readonly TxnOp[];
      readonly failure: readonly TxnOp[];
    };

/** One compare of a transaction, on a key or on every key of [key, end). */
export interface TxnCompare {
  readonly key: Uint8Array;
  /** Absent: the key alone (see `KvStateMachine.range`). */
  readonly end?: Uint8Array | undefined;
  readonly target: CompareTarget;
  readonly result: CompareResult;
  /** Bytes for `value`, a number for the revisions, version and lease. */
  readonly operand: Uint8Array | number;
}

/** One operation of a transaction. Keys written are text; ranges are bytes (etcd's). */
export type TxnOp =
  | {
      readonly op: 'range';
      readonly key: Uint8Array;
      readonly end?: Uint8Array | undefined;
      readonly options: RangeOptions;
    }
  | {
      readonly op: 'put';
      readonly key: string;
      readonly value: string;
      /** Keep the key's current value (the key must exist). */
      readonly ignoreValue?: boolean | undefined;
    }
  | { readonly op: 'deleteRange'; readonly key: Uint8Array; readonly end?: Uint8Array | undefined };

/** What one operation of a transaction returned. */
export type TxnOpResult =
  | ({ readonly op: 'range' } & RangeResult)
  | { readonly op: 'put'; readonly prev: KeyedEntry | undefined }
  | { readonly op: 'deleteRange'; readonly deleted: number; readonly prevs: readonly KeyedEntry[] };

/**
 * What applying a command returns to its proposer. `prev` is the value before the command,
 * `prevEntry` the key with its revisions before it, `revision` the store's revision after it
 * (a write that changed something made a new one).
 */
export type KvResult =
  | { readonly op: 'peers' }
  | {
      readonly op: 'put';
      readonly prev: string | null;
      readonly prevEntry?: KeyedEntry | undefined;
      readonly revision: number;
    }
  | {
      readonly op: 'delete';
      readonly prev: string | null;
      readonly prevEntry?: KeyedEntry | undefined;
      readonly revision: number;
    }
  | {
      readonly op: 'cas';
      readonly succeeded: boolean;
      readonly prev: string | null;
      readonly prevEntry?: KeyedEntry | undefined;
      readonly revision: number;
    }
  | {
      readonly op: 'txn';
      readonly succeeded: boolean;
      readonly responses: readonly TxnOpResult[];
      readonly revision: number;
    }
  /**
   * A transaction refused as a whole, with no effect (a put with `ignoreValue` on a key that
   * does not exist: etcd's "key not found").
   */
  | { readonly op: 'txnRefused'; readonly reason: 'KEY_NOT_FOUND'; readonly revision: number }
  /** An entry that does not decode (a log written by another program): applied as a no-op. */
  | { readonly op: 'invalid'; readonly reason: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Wire shape of a command in the log: short field names, nothing optional left undefined. */
type Encoded =
  | { op: 'peers'; p: Record<string, { r: string; h?: string; e?: string }> }
  | { op: 'put'; k: string; v: string }
  | { op: 'delete'; k: string }
  | { op: 'cas'; k: string; e: string | null; v: string }
  | { op: 'txn'; c: WireCompare[]; s: WireOp[]; f: WireOp[] };

/** Bytes travel as base64 (`k`, `e`: key and range end). */
type WireCompare = {
  k: string;
  e?: string;
  t: CompareTarget;
  r: CompareResult;
  v: string | number;
};
type WireOp =
  | { o: 'range'; k: string; e?: string; x: RangeOptions }
  | { o: 'put'; k: string; v: string; iv?: 1 }
  | { o: 'deleteRange'; k: string; e?: string };

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const unb64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));

function wireOp(op: TxnOp): WireOp {
  switch (op.op) {
    case 'range':
      return op.end === undefined
        ? { o: 'range', k: b64(op.key), x: op.options }
        : { o: 'range', k: b64(op.key), e: b64(op.end), x: op.options };
    case 'put':
      return op.ignoreValue === true
        ? { o: 'put', k: op.key, v: op.value, iv: 1 }
        : { o: 'put', k: op.key, v: op.value };
    case 'deleteRange':
      return op.end === undefined
        ? { o: 'deleteRange', k: b64(op.key) }
        : { o: 'deleteRange', k: b64(op.key), e: b64(op.end) };
  }
}

function wireCompare(c: TxnCompare): WireCompare {
  const v = typeof c.operand === 'number' ? c.operand : b64(c.operand);
  return c.end === undefined
    ? { k: b64(c.key), t: c.target, r: c.result, v }
    : { k: b64(c.key), e: b64(c.end), t: c.target, r: c.result, v };
}

/** First byte of a binary put: then the key's length (varint), the key, the value. */
const PUT_TAG = 0x01;
/** First byte of a binary delete: then the key. */
const DELETE_TAG = 0x02;

/**
 * A put command from the key's and the value's UTF-8 bytes (which the caller has checked
 * are UTF-8: `decodeCommand` refuses anything else, on every node alike).
 */
export function encodePut(key: Uint8Array, value: Uint8Array): Uint8Array {
  const n = key.byteLength;
  let lengthBytes = 1;
  for (let v = n; v >= 0x80; v >>>= 7) lengthBytes++;
  const out = new Uint8Array(1 + lengthBytes + n + value.byteLength);
  out[0] = PUT_TAG;
  let i = 1;
  let v = n;
  while (v >= 0x80) {
    out[i++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[i++] = v;
  out.set(key, i);
  out.set(value, i + n);
  return out;
}

/** Whether `s` has a UTF-8 form (no lone surrogate); ES2024's String#isWellFormed, Node 20. */
const wellFormed = (s: string): boolean =>
  (s as unknown as { isWellFormed(): boolean }).isWellFormed();

function encodeDelete(key: string): Uint8Array {
  const bytes = encoder.encode(key);
  const out = new Uint8Array(1 + bytes.byteLength);
  out[0] = DELETE_TAG;
  out.set(bytes, 1);
  return out;
}

/** A binary put or delete (see `encodePut`); a string saying what is wrong. */
function decodeBinary(data: Uint8Array): KvCommand | string {
  try {
    if (data[0] === DELETE_TAG) return { op: 'delete', key: decoder.decode(data.subarray(1)) };
    let n = 0;
    let i = 1;
    for (let shift = 0; ; shift += 7) {
      if (i >= data.byteLength || shift > 28) return 'put with a bad key length';
      const b = data[i++] as number;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    if (i + n > data.byteLength) return 'put with a bad key length';
    return {
      op: 'put',
      key: decoder.decode(data.subarray(i, i + n)),
      value: decoder.decode(data.subarray(i + n)),
    };
  } catch {
    return 'not UTF-8';
  }
}

export function encodeCommand(command: KvCommand): Uint8Array {
  // Text with a lone surrogate (JSON strings may hold one) has no UTF-8 form: it stays JSON,
  // which keeps it as it is.
  if (command.op === 'put' && wellFormed(command.key) && wellFormed(command.value)) {
    return encodePut(encoder.encode(command.key), encoder.encode(command.value));
  }
  if (command.op === 'delete' && wellFormed(command.key)) return encodeDelete(command.key);
  let wire: Encoded;
  switch (command.op) {
    case 'peers': {
      const p: Record<string, { r: string; h?: string; e?: string }> = {};
      for (const [id, a] of Object.entries(command.peers)) {
        const w: { r: string; h?: string; e?: string } = { r: a.raft };
        if (a.http !== undefined) w.h = a.http;
        if (a.etcd !== undefined) w.e = a.etcd;
        p[id] = w;
      }
      wire = { op: 'peers', p };
      break;
    }
    case 'put':
      wire = { op: 'put', k: command.key, v: command.value };
      break;
    case 'delete':
      wire = { op: 'delete', k: command.key };
      break;
    case 'cas':
      wire = { op: 'cas', k: command.key, e: command.expected, v: command.value };
      break;
    case 'txn':
      wire = {
        op: 'txn',
        c: command.compare.map(wireCompare),
        s: command.success.map(wireOp),
        f: command.failure.map(wireOp),
      };
      break;
  }
  return encoder.encode(JSON.stringify(wire));
}

/** Decodes a log entry's data; a string saying what is wrong when it is not a command. */
export function decodeCommand(data: Uint8Array): KvCommand | string {
  if (data[0] === PUT_TAG || data[0] === DELETE_TAG) return decodeBinary(data);
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    return 'not UTF-8 JSON';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'not an object';
  const o = parsed as Record<string, unknown>;
  if (o.op === 'peers') return decodePeers(o.p);
  if (o.op === 'txn') return decodeTxn(o);
  if (typeof o.k !== 'string') return 'no key';
  switch (o.op) {
    // Text with a lone surrogate, and logs written before puts and deletes became binary.
    case 'put':
      return typeof o.v === 'string' ? { op: 'put', key: o.k, value: o.v } : 'put without value';
    case 'delete':
      return { op: 'delete', key: o.k };
    case 'cas':
      if (typeof o.v !== 'string') return 'cas without value';
      if (o.e !== null && typeof o.e !== 'string') return 'cas without expected value';
      return { op: 'cas', key: o.k, expected: o.e, value: o.v };
    default:
      return `unknown op ${JSON.stringify(o.op)}`;
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const COMPARE_TARGETS: readonly CompareTarget[] = ['value', 'version', 'create', 'mod', 'lease'];
const COMPARE_RESULTS: readonly CompareResult[] = ['equal', 'notEqual', 'greater', 'less'];

function bytesField(v: unknown): Uint8Array | undefined {
  return typeof v === 'string' && BASE64.test(v) ? unb64(v) : undefined;
}

function decodeTxn(o: Record<string, unknown>): KvCommand | string {
  if (!Array.isArray(o.c) || !Array.isArray(o.s) || !Array.isArray(o.f)) {
    return 'txn without compare, success and failure lists';
  }
  const compare: TxnCompare[] = [];
  for (const raw of o.c as unknown[]) {
    const c = decodeCompare(raw);
    if (typeof c === 'string') return c;
    compare.push(c);
  }
  const ops = (list: unknown[]): TxnOp[] | string => {
    const out: TxnOp[] = [];
    for (const raw of list) {
      const op = decodeOp(raw);
      if (typeof op === 'string') return op;
      out.push(op);
    }
    return out;
  };
  const success = ops(o.s as unknown[]);
  if (typeof success === 'string') return success;
  const failure = ops(o.f as unknown[]);
  if (typeof failure === 'string') return failure;
  return { op: 'txn', compare, success, failure };
}

function decodeCompare(raw: unknown): TxnCompare | string {
  const c = raw as Partial<Record<string, unknown>> | null;
  const key = bytesField(c?.k);
  if (c === null || key === undefined) return 'txn compare without a key';
  const end = c.e === undefined ? undefined : bytesField(c.e);
  if (c.e !== undefined && end === undefined) return 'txn compare with a bad range end';
  const target = COMPARE_TARGETS.find((t) => t === c.t);
  const result = COMPARE_RESULTS.find((r) => r === c.r);
  if (target === undefined || result === undefined) return 'txn compare: bad target or result';
  let operand: Uint8Array | number | undefined;
  if (target === 'value') operand = bytesField(c.v);
  else if (typeof c.v === 'number' && Number.isSafeInteger(c.v)) operand = c.v;
  if (operand === undefined) return `txn compare on ${target} without a valid operand`;
  return end === undefined
    ? { key, target, result, operand }
    : { key, end, target, result, operand };
}

function decodeOp(raw: unknown): TxnOp | string {
  const o = raw as Partial<Record<string, unknown>> | null;
  if (o === null || typeof o !== 'object') return 'txn operation is not an object';
  if (o.o === 'put') {
    if (typeof o.k !== 'string' || typeof o.v !== 'string') return 'txn put without key or value';
    return o.iv === 1
      ? { op: 'put', key: o.k, value: o.v, ignoreValue: true }
      : { op: 'put', key: o.k, value: o.v };
  }
  const key = bytesField(o.k);
  if (key === undefined) return `txn ${String(o.o)} without a key`;
  const end = o.e === undefined ? undefined : bytesField(o.e);
  if (o.e !== undefined && end === undefined) return `txn ${String(o.o)} with a bad range end`;
  const range = end === undefined ? { key } : { key, end };
  if (o.o === 'deleteRange') return { op: 'deleteRange', ...range };
  if (o.o === 'range') {
    const options = decodeRangeOptions(o.x);
    if (options === undefined) return 'txn range with bad options';
    return { op: 'range', ...range, options };
  }
  return `unknown txn operation ${JSON.stringify(o.o)}`;
}

function decodeRangeOptions(raw: unknown): RangeOptions | undefined {
  const x = raw as Partial<Record<keyof RangeOptions, unknown>> | null;
  if (x === null || typeof x !== 'object') return undefined;
  const int = (v: unknown): number | undefined =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  const sortOrder = RANGE_SORT_ORDERS.find((s) => s === x.sortOrder);
  const sortTarget = RANGE_SORT_TARGETS.find((s) => s === x.sortTarget);
  const numbers = {
    limit: int(x.limit),
    minModRevision: int(x.minModRevision),
    maxModRevision: int(x.maxModRevision),
    minCreateRevision: int(x.minCreateRevision),
    maxCreateRevision: int(x.maxCreateRevision),
  };
  if (sortOrder === undefined || sortTarget === undefined) return undefined;
  if (Object.values(numbers).some((n) => n === undefined)) return undefined;
  if (typeof x.keysOnly !== 'boolean' || typeof x.countOnly !== 'boolean') return undefined;
  return {
    limit: numbers.limit ?? 0,
    minModRevision: numbers.minModRevision ?? 0,
    maxModRevision: numbers.maxModRevision ?? 0,
    minCreateRevision: numbers.minCreateRevision ?? 0,
    maxCreateRevision: numbers.maxCreateRevision ?? 0,
    sortOrder,
    sortTarget,
    keysOnly: x.keysOnly,
    countOnly: x.countOnly,
  };
}

function decodePeers(p: unknown): KvCommand | string {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return 'peers without a map';
  const peers: Record<string, PeerAddress> = {};
  for (const [id, value] of Object.entries(p)) {
    const v = value as { r?: unknown; h?: unknown; e?: unknown } | null;
    if (typeof v?.r !== 'string') return `peer ${JSON.stringify(id)} without a Raft address`;
    if (v.h !== undefined && typeof v.h !== 'string')
      return `peer ${JSON.stringify(id)}: bad HTTP address`;
    if (v.e !== undefined && typeof v.e !== 'string')
      return `peer ${JSON.stringify(id)}: bad etcd API address`;
    const address: { raft: string; http?: string; etcd?: string } = { raft: v.r };
    if (typeof v.h === 'string') address.http = v.h;
    if (typeof v.e === 'string') address.etcd = v.e;
    peers[id] = address;
  }
  return { op: 'peers', peers };
}

/**
 * A put command whose encoding is exactly `bytes` long (at least the tag, the key's length and
 * the key), for benchmarks that propose fixed-size payloads through the real state machine.
 */
export function paddedPutCommand(key: string, bytes: number): Uint8Array {
  const empty = encodeCommand({ op: 'put', key, value: '' }).byteLength;
  if (bytes < empty) throw new RangeError(`a put of key ${key} needs at least ${empty} bytes`);
  return encodeCommand({ op: 'put', key, value: 'x'.repeat(bytes - empty) });
}
