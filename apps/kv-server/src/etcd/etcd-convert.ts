import { isUtf8 } from 'node:buffer';
import { status } from '@grpc/grpc-js';
import type { TxnCompare, TxnOp, TxnOpResult } from '../commands.js';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  type DeleteRangeRequest,
  type Compare as PbCompare,
  type PutRequest,
  type RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
} from '../gen/etcdserverpb/rpc.js';
import type { KeyValue } from '../gen/mvccpb/kv.js';
import {
  compareBytes,
  type KeyedEntry,
  type RangeOptions,
  type RangeResult,
  utf8,
} from '../kv-entry.js';
import {
  duplicateKey,
  EtcdStatusError,
  emptyKey,
  leaseNotFound,
  leaseProvided,
  notUtf8,
  requestTooLarge,
  tooManyOps,
  unimplemented,
  valueProvided,
} from './etcd-errors.js';

/** What the etcd API accepts, from the server's configuration. */
export interface EtcdLimits {
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
}

/** etcd's default `--max-txn-ops`. */
export const MAX_TXN_OPS = 128;

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function safeNumber(n: bigint): number {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (n < 0n) return 0;
  return Number(n);
}

/** The written key of a Put, checked as etcd checks it (and as text: see notUtf8). */
function putKey(key: Uint8Array, limits: EtcdLimits): string {
  if (key.byteLength === 0) throw emptyKey();
  if (key.byteLength > limits.maxKeyBytes) throw requestTooLarge();
  if (!isUtf8(key)) throw notUtf8('key');
  return decoder.decode(key);
}

function rangeKey(key: Uint8Array, limits: EtcdLimits): void {
  if (key.byteLength === 0) throw emptyKey();
  if (key.byteLength > limits.maxKeyBytes) throw requestTooLarge();
}

function rangeEnd(end: Uint8Array): Uint8Array | undefined {
  return end.byteLength === 0 ? undefined : end;
}

/**
 * Checks a Put as etcd does (`lease` is refused, as etcd refuses an unknown lease) and
 * returns its key; the value is checked to be UTF-8 but not decoded, so that a plain Put's
 * bytes can go to the log as they came (`encodePut`).
 */
export function checkPut(req: PutRequest, limits: EtcdLimits): string {
  const key = putKey(req.key, limits);
  if (req.ignoreValue && req.value.byteLength > 0) throw valueProvided();
  if (req.ignoreLease && req.lease !== 0n) throw leaseProvided();
  // No leases here: every lease is one etcd would not find.
  if (req.lease !== 0n) throw leaseNotFound();
  if (req.value.byteLength > limits.maxValueBytes) throw requestTooLarge();
  if (!isUtf8(req.value)) throw notUtf8('value');
  return key;
}

/** A Put as a transaction operation (see `checkPut`). */
export function putOp(req: PutRequest, limits: EtcdLimits): Extract<TxnOp, { op: 'put' }> {
  const key = checkPut(req, limits);
  // checkPut found it UTF-8: decoding cannot fail.
  const value = decoder.decode(req.value);
  return req.ignoreValue ? { op: 'put', key, value, ignoreValue: true } : { op: 'put', key, value };
}

export function deleteOp(
  req: DeleteRangeRequest,
  limits: EtcdLimits,
): Extract<TxnOp, { op: 'deleteRange' }> {
  rangeKey(req.key, limits);
  const end = rangeEnd(req.rangeEnd);
  return end === undefined
    ? { op: 'deleteRange', key: req.key }
    : { op: 'deleteRange', key: req.key, end };
}

const SORT_ORDERS: Record<RangeRequest_SortOrder, RangeOptions['sortOrder'] | undefined> = {
  [RangeRequest_SortOrder.NONE]: 'none',
  [RangeRequest_SortOrder.ASCEND]: 'ascend',
  [RangeRequest_SortOrder.DESCEND]: 'descend',
  [RangeRequest_SortOrder.UNRECOGNIZED]: undefined,
};
const SORT_TARGETS: Record<RangeRequest_SortTarget, RangeOptions['sortTarget'] | undefined> = {
  [RangeRequest_SortTarget.KEY]: 'key',
  [RangeRequest_SortTarget.VERSION]: 'version',
  [RangeRequest_SortTarget.CREATE]: 'create',
  [RangeRequest_SortTarget.MOD]: 'mod',
  [RangeRequest_SortTarget.VALUE]: 'value',
  [RangeRequest_SortTarget.UNRECOGNIZED]: undefined,
};

export function rangeOp(req: RangeRequest, limits: EtcdLimits): Extract<TxnOp, { op: 'range' }> {
  rangeKey(req.key, limits);
  const sortOrder = SORT_ORDERS[req.sortOrder];
  const sortTarget = SORT_TARGETS[req.sortTarget];
  if (sortOrder === undefined || sortTarget === undefined) {
    throw new EtcdStatusError(status.INVALID_ARGUMENT, 'etcdserver: invalid sort option');
  }
  const options: RangeOptions = {
    limit: safeNumber(req.limit),
    sortOrder,
    sortTarget,
    keysOnly: req.keysOnly,
    countOnly: req.countOnly,
    minModRevision: safeNumber(req.minModRevision),
    maxModRevision: safeNumber(req.maxModRevision),
    minCreateRevision: safeNumber(req.minCreateRevision),
    maxCreateRevision: safeNumber(req.maxCreateRevision),
  };
  const end = rangeEnd(req.rangeEnd);
  return end === undefined
    ? { op: 'range', key: req.key, options }
    : { op: 'range', key: req.key, end, options };
}

const COMPARE_RESULTS: Record<Compare_CompareResult, TxnCompare['result'] | undefined> = {
  [Compare_CompareResult.EQUAL]: 'equal',
  [Compare_CompareResult.NOT_EQUAL]: 'notEqual',
  [Compare_CompareResult.GREATER]: 'greater',
  [Compare_CompareResult.LESS]: 'less',
  [Compare_CompareResult.UNRECOGNIZED]: undefined,
};
const COMPARE_TARGETS: Record<Compare_CompareTarget, TxnCompare['target'] | undefined> = {
  [Compare_CompareTarget.VALUE]: 'value',
  [Compare_CompareTarget.VERSION]: 'version',
  [Compare_CompareTarget.CREATE]: 'create',
  [Compare_CompareTarget.MOD]: 'mod',
  [Compare_CompareTarget.LEASE]: 'lease',
  [Compare_CompareTarget.UNRECOGNIZED]: undefined,
};

export function compare(c: PbCompare, limits: EtcdLimits): TxnCompare {
  const result = COMPARE_RESULTS[c.result];
  const target = COMPARE_TARGETS[c.target];
  if (result === undefined || target === undefined) {
    throw new EtcdStatusError(status.INVALID_ARGUMENT, 'etcdserver: invalid compare');
  }
  if (c.key.byteLength > limits.maxKeyBytes) throw requestTooLarge();
  // The operand is the union member of the target; a missing one is etcd's zero value.
  const u = c.targetUnion;
  let operand: Uint8Array | number;
  if (target === 'value') operand = u?.$case === 'value' ? u.value : new Uint8Array(0);
  else if (u === undefined || u.$case === 'value') operand = 0;
  else operand = Number(u.value < 0n ? 0n : u.value > 2n ** 53n ? 2n ** 53n : u.value);
  const end = rangeEnd(c.rangeEnd);
  return end === undefined
    ? { key: c.key, target, result, operand }
    : { key: c.key, end, target, result, operand };
}

export interface TxnShape {
  readonly compare: TxnCompare[];
  readonly success: TxnOp[];
  readonly failure: TxnOp[];
  /** It has ranges, and every one asked for a serializable read. */
  readonly serializable: boolean;
}

function requestOps(ops: readonly RequestOp[], limits: EtcdLimits, serial: boolean[]): TxnOp[] {
  const out: TxnOp[] = [];
  for (const op of ops) {
    const r = op.request;
    if (r === undefined)
      throw new EtcdStatusError(status.INVALID_ARGUMENT, 'etcdserver: empty request in txn');
    switch (r.$case) {
      case 'requestRange':
        serial.push(r.value.serializable);
        out.push(rangeOp(r.value, limits));
        break;
      case 'requestPut':
        out.push(putOp(r.value, limits));
        break;
      case 'requestDeleteRange':
        out.push(deleteOp(r.value, limits));
        break;
      case 'requestTxn':
        throw unimplemented('a nested transaction');
    }
  }
  checkIntervals(out);
  return out;
}

/** etcd's rule: within one branch, a key is put at most once and not also deleted. */
function checkIntervals(ops: readonly TxnOp[]): void {
  const puts = new Set<string>();
  const deletes: Array<{ key: Uint8Array; end: Uint8Array | undefined }> = [];
  for (const op of ops) {
    if (op.op === 'put') {
      if (puts.has(op.key)) throw duplicateKey();
      puts.add(op.key);
    } else if (op.op === 'deleteRange') {
      deletes.push({ key: op.key, end: op.end });
    }
  }
  for (const key of puts) {
    const k = utf8(key);
    for (const d of deletes) {
      const inside =
        d.end === undefined
          ? compareBytes(k, d.key) === 0
          : compareBytes(k, d.key) >= 0 &&
            ((d.end.byteLength === 1 && d.end[0] === 0) || compareBytes(k, d.end) < 0);
      if (inside) throw duplicateKey();
    }
  }
}

export function txnShape(
  req: {
    readonly compare: readonly PbCompare[];
    readonly success: readonly RequestOp[];
    readonly failure: readonly RequestOp[];
  },
  limits: EtcdLimits,
): TxnShape {
  if (Math.max(req.compare.length, req.success.length, req.failure.length) > MAX_TXN_OPS) {
    throw tooManyOps();
  }
  const serial: boolean[] = [];
  const compares = req.compare.map((c) => compare(c, limits));
  const success = requestOps(req.success, limits, serial);
  const failure = requestOps(req.failure, limits, serial);
  // Unlike etcd, a transaction without ranges (compares only) is never taken as serializable:
  // its answer would come from this node's state alone, which may be behind.
  const serializable = serial.length > 0 && serial.every((s) => s);
  return { compare: compares, success, failure, serializable };
}

// ------------------------------------------------------------------ answers

export function keyValue(e: KeyedEntry, keysOnly = false): KeyValue {
  return {
    key: utf8(e.key),
    createRevision: BigInt(e.createRevision),
    modRevision: BigInt(e.modRevision),
    version: BigInt(e.version),
    value: keysOnly ? new Uint8Array(0) : utf8(e.value),
    lease: 0n,
  };
}

export function rangeResponse(
  header: ResponseHeader,
  r: RangeResult,
  keysOnly: boolean,
): RangeResponse {
  return {
    header,
    kvs: r.kvs.map((e) => keyValue(e, keysOnly)),
    more: r.more,
    count: BigInt(r.count),
  };
}

/** A transaction's results as etcd's ResponseOps (each with the transaction's header). */
export function responseOps(
  header: ResponseHeader,
  ops: readonly TxnOp[],
  results: readonly TxnOpResult[],
  prevKv: readonly boolean[],
): ResponseOp[] {
  return results.map((r, i): ResponseOp => {
    const op = ops[i];
    if (r.op === 'range') {
      const keysOnly = op?.op === 'range' && op.options.keysOnly;
      return { response: { $case: 'responseRange', value: rangeResponse(header, r, keysOnly) } };
    }
    if (r.op === 'put') {
      const prev = prevKv[i] === true && r.prev !== undefined ? keyValue(r.prev) : undefined;
      return { response: { $case: 'responsePut', value: { header, prevKv: prev } } };
    }
    return {
      response: {
        $case: 'responseDeleteRange',
        value: {
          header,
          deleted: BigInt(r.deleted),
          prevKvs: prevKv[i] === true ? r.prevs.map((e) => keyValue(e)) : [],
        },
      },
    };
  });
}

/** Which operations of a branch asked for the previous key-values. */
export function prevKvFlags(ops: readonly RequestOp[]): boolean[] {
  return ops.map((op) => {
    const r = op.request;
    if (r?.$case === 'requestPut') return r.value.prevKv;
    if (r?.$case === 'requestDeleteRange') return r.value.prevKv;
    return false;
  });
}
