import { EventEmitter } from 'node:events';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { CommittedEntry } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import {
  decodeCommand,
  encodeCommand,
  type KvCommand,
  type KvResult,
  type TxnOp,
} from '../src/commands.js';
import { bytes, prefixEnd } from '../src/etcd/etcd-client.js';
import { WatchHub } from '../src/etcd/etcd-watch.js';
import {
  WatchCreateRequest,
  type WatchRequest,
  type WatchResponse,
} from '../src/gen/etcdserverpb/rpc.js';
import { DEFAULT_RANGE_OPTIONS, type RangeOptions } from '../src/kv-entry.js';
import { INITIAL_REVISION, KvStateMachine } from '../src/kv-state-machine.js';

let nextIndex = 1;
function apply(sm: KvStateMachine, ...commands: KvCommand[]): KvResult[] {
  const entries: CommittedEntry[] = commands.map((c) => ({
    index: nextIndex++,
    term: 1,
    // Through the log's encoding, as on a node.
    data: encodeCommand(c),
  }));
  return [...sm.onApply(entries)];
}

const put = (key: string, value: string): KvCommand => ({ op: 'put', key, value });
const range = (key: string, options: Partial<RangeOptions> = {}, end?: Uint8Array): TxnOp => ({
  op: 'range',
  key: bytes(key),
  ...(end === undefined ? {} : { end }),
  options: { ...DEFAULT_RANGE_OPTIONS, ...options },
});

describe("etcd's revisions in the key-value state machine", () => {
  it('a new store is at revision 1; each write that changes something makes the next one', () => {
    const sm = new KvStateMachine();
    expect(sm.revision).toBe(INITIAL_REVISION);
    apply(sm, put('a', '1'), put('b', '1'), put('a', '2'));
    expect(sm.revision).toBe(4);
    expect(sm.entry('a')).toEqual({
      key: 'a',
      value: '2',
      createRevision: 2,
      modRevision: 4,
      version: 2,
    });
    expect(sm.entry('b')).toMatchObject({ createRevision: 3, modRevision: 3, version: 1 });
    // Deleting a missing key and a failed CAS change nothing: no new revision.
    const [del, cas] = apply(
      sm,
      { op: 'delete', key: 'missing' },
      { op: 'cas', key: 'a', expected: 'x', value: 'y' },
    );
    expect(del).toMatchObject({ op: 'delete', prev: null, revision: 4 });
    expect(cas).toMatchObject({ op: 'cas', succeeded: false, revision: 4 });
    expect(sm.revision).toBe(4);
  });

  it('a key deleted and put again starts over: new create revision, version 1', () => {
    const sm = new KvStateMachine();
    apply(sm, put('k', '1'), put('k', '2'), { op: 'delete', key: 'k' }, put('k', '3'));
    expect(sm.entry('k')).toEqual({
      key: 'k',
      value: '3',
      createRevision: 5,
      modRevision: 5,
      version: 1,
    });
  });

  it('a result carries the key as it was before, with its revisions', () => {
    const sm = new KvStateMachine();
    apply(sm, put('k', 'old'));
    const [r] = apply(sm, put('k', 'new'));
    expect(r).toEqual({
      op: 'put',
      prev: 'old',
      prevEntry: { key: 'k', value: 'old', createRevision: 2, modRevision: 2, version: 1 },
      revision: 3,
    });
  });
});

describe('ranges, in byte order as etcd orders keys', () => {
  const sm = new KvStateMachine();
  apply(sm, put('b', '2'), put('a/2', 'x'), put('a/1', 'y'), put('a', '0'), put('é', 'e'));
  apply(sm, put('a/1', 'z'));
  const keys = (r: { key: string }[]) => r.map((e) => e.key);

  it('one key; a prefix; everything from a key on; [key, end)', () => {
    expect(keys(sm.range(bytes('a/1')))).toEqual(['a/1']);
    expect(keys(sm.range(bytes('nope')))).toEqual([]);
    expect(keys(sm.range(bytes('a/'), prefixEnd(bytes('a/'))))).toEqual(['a/1', 'a/2']);
    expect(keys(sm.range(bytes('a'), new Uint8Array([0])))).toEqual(['a', 'a/1', 'a/2', 'b', 'é']);
    expect(keys(sm.range(bytes('a/2'), bytes('é')))).toEqual(['a/2', 'b']);
    // An empty or inverted range holds nothing.
    expect(keys(sm.range(bytes('b'), bytes('a')))).toEqual([]);
    // A key that is not UTF-8 names no key (keys are text).
    expect(sm.range(new Uint8Array([0xff, 0xfe]))).toEqual([]);
  });

  it('count, limit, keys only, sort, revision filters (etcd semantics)', () => {
    const txn = (op: TxnOp) => sm.readTxn({ op: 'txn', compare: [], success: [op], failure: [] });
    const all = new Uint8Array([0]);
    const limited = txn(range('a', { limit: 2 }, all)).responses[0];
    expect(limited).toMatchObject({ op: 'range', count: 5, more: true });
    expect(limited?.op === 'range' && keys([...limited.kvs])).toEqual(['a', 'a/1']);
    const counted = txn(range('a', { countOnly: true }, all)).responses[0];
    expect(counted).toEqual({ op: 'range', kvs: [], count: 5, more: false });
    const byMod = txn(range('a', { sortTarget: 'mod', sortOrder: 'descend' }, all)).responses[0];
    expect(byMod?.op === 'range' && keys([...byMod.kvs])).toEqual(['a/1', 'é', 'a', 'a/2', 'b']);
    const recent = txn(range('a', { minModRevision: 6 }, all)).responses[0];
    expect(recent?.op === 'range' && keys([...recent.kvs])).toEqual(['a/1', 'é']);
    expect(recent).toMatchObject({ count: 5 });
  });
});

describe("etcd's transactions in the state machine", () => {
  const cas = (key: string, expected: string, value: string): KvCommand => ({
    op: 'txn',
    compare: [{ key: bytes(key), target: 'value', result: 'equal', operand: bytes(expected) }],
    success: [{ op: 'put', key, value }],
    failure: [range(key)],
  });

  it('run the success branch when every compare holds, else the failure branch', () => {
    const sm = new KvStateMachine();
    apply(sm, put('k', 'v1'));
    const [ok, failed] = apply(sm, cas('k', 'v1', 'v2'), cas('k', 'v1', 'v3'));
    expect(ok).toMatchObject({ op: 'txn', succeeded: true, revision: 3 });
    expect(failed).toMatchObject({ op: 'txn', succeeded: false, revision: 3 });
    expect(failed?.op === 'txn' && failed.responses[0]).toMatchObject({
      op: 'range',
      kvs: [{ key: 'k', value: 'v2', modRevision: 3, version: 2 }],
    });
    expect(sm.get('k')).toBe('v2');
  });

  it('compare version, create and mod revisions with =, !=, > and <; a missing key has zeros', () => {
    const sm = new KvStateMachine();
    apply(sm, put('k', 'a'), put('k', 'b')); // create 2, mod 3, version 2
    const holds = (
      target: 'version' | 'create' | 'mod' | 'value',
      result: 'equal' | 'notEqual' | 'greater' | 'less',
      operand: number | string,
      key = 'k',
    ): boolean => {
      const r = sm.readTxn({
        op: 'txn',
        compare: [
          {
            key: bytes(key),
            target,
            result,
            operand: typeof operand === 'string' ? bytes(operand) : operand,
          },
        ],
        success: [],
        failure: [],
      });
      return r.succeeded;
    };
    expect(holds('version', 'equal', 2)).toBe(true);
    expect(holds('version', 'greater', 1)).toBe(true);
    expect(holds('version', 'less', 2)).toBe(false);
    expect(holds('create', 'equal', 2)).toBe(true);
    expect(holds('create', 'notEqual', 2)).toBe(false);
    expect(holds('mod', 'equal', 3)).toBe(true);
    expect(holds('mod', 'less', 4)).toBe(true);
    expect(holds('value', 'greater', 'a')).toBe(true);
    expect(holds('value', 'notEqual', 'b')).toBe(false);
    // Absent: version/create/mod are 0 (how a client asks "does not exist"); a value compare fails.
    expect(holds('version', 'equal', 0, 'missing')).toBe(true);
    expect(holds('mod', 'greater', 0, 'missing')).toBe(false);
    expect(holds('value', 'notEqual', 'x', 'missing')).toBe(false);
  });

  it('share one new revision across their writes, and see their own writes', () => {
    const sm = new KvStateMachine();
    apply(sm, put('p/1', 'x'), put('p/2', 'y'), put('q', 'z')); // revision 4
    const [r] = apply(sm, {
      op: 'txn',
      compare: [],
      success: [
        { op: 'put', key: 'n1', value: '1' },
        { op: 'deleteRange', key: bytes('p/'), end: prefixEnd(bytes('p/')) },
        { op: 'put', key: 'n2', value: '2' },
        range('n', {}, prefixEnd(bytes('n'))),
      ],
      failure: [],
    });
    expect(r).toMatchObject({ op: 'txn', succeeded: true, revision: 5 });
    const responses = r?.op === 'txn' ? r.responses : [];
    expect(responses[1]).toMatchObject({ op: 'deleteRange', deleted: 2 });
    expect(responses[3]).toMatchObject({
      op: 'range',
      kvs: [
        { key: 'n1', modRevision: 5 },
        { key: 'n2', modRevision: 5 },
      ],
    });
    expect(sm.range(bytes('p/'), prefixEnd(bytes('p/')))).toEqual([]);
  });

  it('a put that keeps the value refuses the whole transaction when the key is missing', () => {
    const sm = new KvStateMachine();
    apply(sm, put('k', 'v'));
    const [refused] = apply(sm, {
      op: 'txn',
      compare: [],
      success: [
        { op: 'put', key: 'other', value: 'x' },
        { op: 'put', key: 'missing', value: '', ignoreValue: true },
      ],
      failure: [],
    });
    expect(refused).toEqual({ op: 'txnRefused', reason: 'KEY_NOT_FOUND', revision: 2 });
    expect(sm.get('other')).toBeUndefined();
    const [kept] = apply(sm, {
      op: 'txn',
      compare: [],
      success: [{ op: 'put', key: 'k', value: '', ignoreValue: true }],
      failure: [],
    });
    expect(kept).toMatchObject({ op: 'txn', revision: 3 });
    expect(sm.entry('k')).toMatchObject({ value: 'v', version: 2 });
  });

  it('a read-only transaction runs outside the log; one that writes is refused there', () => {
    const sm = new KvStateMachine();
    expect(() =>
      sm.readTxn({
        op: 'txn',
        compare: [],
        success: [],
        failure: [{ op: 'put', key: 'k', value: 'v' }],
      }),
    ).toThrow(/must go through the log/);
    expect(sm.revision).toBe(1);
  });

  it('transactions round-trip through the log encoding, bytes included', () => {
    const c: KvCommand = {
      op: 'txn',
      compare: [
        {
          key: new Uint8Array([0xff, 0]),
          end: new Uint8Array([0]),
          target: 'mod',
          result: 'less',
          operand: 7,
        },
        { key: bytes('k'), target: 'value', result: 'notEqual', operand: new Uint8Array([1, 2]) },
      ],
      success: [
        { op: 'put', key: 'k', value: 'v', ignoreValue: true },
        { op: 'deleteRange', key: bytes('a'), end: bytes('b') },
      ],
      failure: [
        range('x', { limit: 3, sortOrder: 'descend', sortTarget: 'value', keysOnly: true }),
      ],
    };
    expect(decodeCommand(encodeCommand(c))).toEqual(c);
    const bad = new TextEncoder().encode(
      '{"op":"txn","c":[{"k":"!!","t":"mod","r":"less","v":1}],"s":[],"f":[]}',
    );
    expect(decodeCommand(bad)).toBe('txn compare without a key');
  });
});

describe('the changes a watch hears', () => {
  it('every write that changes something is told once, with its revision and what it replaced', () => {
    const sm = new KvStateMachine();
    const heard: Array<[number, string[]]> = [];
    sm.listen({
      onChange: (revision, events) =>
        heard.push([
          revision,
          events.map(
            (e) => `${e.type} ${e.kv.key}@${e.kv.modRevision} prev=${e.prev?.value ?? '-'}`,
          ),
        ]),
      onReset: (revision) => heard.push([revision, ['reset']]),
    });
    apply(
      sm,
      put('a', '1'),
      put('a', '2'),
      { op: 'delete', key: 'missing' },
      { op: 'cas', key: 'a', expected: 'nope', value: 'x' },
      {
        op: 'txn',
        compare: [],
        success: [
          { op: 'put', key: 'b', value: '1' },
          { op: 'deleteRange', key: bytes('a') },
        ],
        failure: [],
      },
    );
    expect(heard).toEqual([
      [2, ['put a@2 prev=-']],
      [3, ['put a@3 prev=1']],
      [4, ['put b@4 prev=-', 'delete a@4 prev=2']],
    ]);
  });
});

describe('the watch history', () => {
  it('keeps the latest changes up to a bound; a watch can start from the oldest it holds', () => {
    const sm = new KvStateMachine();
    const hub = new WatchHub(sm, 5);
    // A new store has had no change: a watch may start from its first revision.
    expect(hub.oldestRevision).toBe(1);
    for (let i = 0; i < 8; i++) apply(sm, put(`k${i}`, 'v'));
    expect(sm.revision).toBe(9);
    // Five changes kept (revisions 5..9): the oldest start is 5.
    expect(hub.oldestRevision).toBe(5);
    expect(hub.since(7).map((r) => r.revision)).toEqual([7, 8, 9]);
    hub.close();
  });
});

/** A Watch stream's server side, in memory: what the hub wrote to it. */
class FakeWatchCall extends EventEmitter {
  readonly written: WatchResponse[] = [];
  ended = false;
  write(r: WatchResponse): boolean {
    this.written.push(r);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  create(c: Partial<WatchCreateRequest>): void {
    const req: WatchRequest = {
      requestUnion: { $case: 'createRequest', value: WatchCreateRequest.fromPartial(c) },
    };
    this.emit('data', req);
  }
}

function serve(hub: WatchHub): FakeWatchCall {
  const call = new FakeWatchCall();
  hub.serve(call as unknown as ServerDuplexStream<WatchRequest, WatchResponse>, (revision) => ({
    clusterId: 1n,
    memberId: 1n,
    revision: BigInt(revision),
    raftTerm: 1n,
  }));
  return call;
}

describe('watches that cannot be served from the history', () => {
  it('one that starts before the oldest change kept is cancelled with the oldest revision it could start from', () => {
    const sm = new KvStateMachine();
    const hub = new WatchHub(sm, 3);
    for (let i = 0; i < 6; i++) apply(sm, put('k', `v${i}`)); // revisions 2..7; 5..7 kept
    const call = serve(hub);
    call.create({ key: bytes('k'), startRevision: 4n });
    expect(call.written.map((r) => [r.created, r.canceled, r.compactRevision])).toEqual([
      [true, false, 0n],
      [false, true, 5n],
    ]);
    call.create({ key: bytes('k'), startRevision: 5n, watchId: 7n });
    const replayed = call.written.slice(2);
    expect(replayed[0]).toMatchObject({ created: true, watchId: 7n });
    expect(replayed[1]?.events.map((e) => e.kv?.modRevision)).toEqual([5n, 6n, 7n]);
    hub.close();
  });

  it('a snapshot installed under a live watch cancels it: the changes in between are unknown', async () => {
    const sm = new KvStateMachine();
    const hub = new WatchHub(sm);
    const call = serve(hub);
    call.create({ key: bytes('k') });
    apply(sm, put('k', '1'));
    expect(call.written.map((r) => r.events.length)).toEqual([0, 1]);
    // What another node saved, three revisions further on.
    const other = new KvStateMachine();
    apply(other, put('k', '1'), put('k', '2'), put('k', '3'));
    const chunks: Uint8Array[] = [];
    const meta = { lastIncludedIndex: 3, lastIncludedTerm: 1, configuration: { voters: ['n1'] } };
    await other.onSnapshotSave({
      meta,
      write: async (c: Uint8Array) => void chunks.push(c.slice()),
      openReader: async () => {
        throw new Error('not read back in this test');
      },
      commit: async () => {},
      abort: async () => {},
    });
    const bytesOf = Buffer.concat(chunks);
    await sm.onSnapshotLoad({
      meta,
      size: bytesOf.byteLength,
      read: async (offset: number, max: number) => bytesOf.subarray(offset, offset + max),
      close: async () => {},
    });
    const last = call.written.at(-1);
    expect(last).toMatchObject({ canceled: true, compactRevision: 5n });
    // Later changes reach no cancelled watch.
    const count = call.written.length;
    apply(sm, put('k', '5'));
    expect(call.written).toHaveLength(count);
    hub.close();
  });
});

describe('the watch history, by size', () => {
  it('drops the oldest changes when their keys and values pass the byte bound', () => {
    const sm = new KvStateMachine();
    const hub = new WatchHub(sm, 1000, 250);
    for (let i = 0; i < 5; i++) apply(sm, put(`k${i}`, 'x'.repeat(100)));
    // Each change holds ~102 bytes: two fit under 250, so the oldest start is revision 5.
    expect(hub.oldestRevision).toBe(5);
    hub.close();
  });
});
