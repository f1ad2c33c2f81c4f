import type { CommittedEntry, SnapshotMeta, SnapshotReader, SnapshotWriter } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import {
  decodeCommand,
  encodeCommand,
  encodePut,
  type KvCommand,
  paddedPutCommand,
} from '../src/commands.js';
import { KvStateMachine } from '../src/kv-state-machine.js';
import { SnapshotFormatError, WRITE_CHUNK_BYTES } from '../src/snapshot-codec.js';

function entries(...commands: Array<KvCommand | Uint8Array>): CommittedEntry[] {
  return commands.map((c, i) => ({
    index: i + 1,
    term: 1,
    data: c instanceof Uint8Array ? c : encodeCommand(c),
  }));
}

describe('commands in log entries', () => {
  it('decode to what was encoded, for every kind of command', () => {
    const commands: KvCommand[] = [
      { op: 'put', key: 'a/b c', value: 'ünïcødé "quoted"\n' },
      { op: 'delete', key: 'k' },
      { op: 'cas', key: 'k', expected: null, value: 'v' },
      { op: 'cas', key: 'k', expected: 'old', value: '' },
    ];
    for (const c of commands) expect(decodeCommand(encodeCommand(c))).toEqual(c);
  });

  it('puts and deletes are binary: the UTF-8 bytes as they are, behind a tag byte', () => {
    const utf8 = (s: string) => new TextEncoder().encode(s);
    expect([...encodeCommand({ op: 'put', key: 'k', value: 'v"\n' })]).toEqual([
      0x01,
      1,
      ...utf8('k'),
      ...utf8('v"\n'),
    ]);
    expect([...encodeCommand({ op: 'delete', key: 'kë' })]).toEqual([0x02, ...utf8('kë')]);
    // A key of 200 bytes: its length takes two varint bytes.
    const key = 'é'.repeat(100);
    const value = 'x'.repeat(70_000);
    const data = encodePut(utf8(key), utf8(value));
    expect([...data.subarray(0, 3)]).toEqual([0x01, 0xc8, 0x01]);
    expect(data.byteLength).toBe(3 + 200 + 70_000);
    expect(decodeCommand(data)).toEqual({ op: 'put', key, value });
    expect(decodeCommand(encodePut(utf8(''), utf8('')))).toEqual({ op: 'put', key: '', value: '' });
    // A leading byte order mark is kept, in the key and in the value.
    for (const c of [
      { op: 'put', key: '\ufeffk', value: '\ufeffv' },
      { op: 'delete', key: '\ufeffk' },
    ] as KvCommand[]) {
      expect(decodeCommand(encodeCommand(c))).toEqual(c);
    }
    // Earlier logs' JSON puts and deletes still decode.
    expect(decodeCommand(utf8('{"op":"put","k":"a","v":"1"}'))).toEqual({
      op: 'put',
      key: 'a',
      value: '1',
    });
    expect(decodeCommand(utf8('{"op":"delete","k":"a"}'))).toEqual({ op: 'delete', key: 'a' });
  });

  it('text with a lone surrogate has no UTF-8 form: such puts and deletes stay JSON, intact', () => {
    const commands: KvCommand[] = [
      { op: 'put', key: 'lone\ud800', value: 'v' },
      { op: 'put', key: 'k', value: 'x\udc00y' },
      { op: 'delete', key: '\udfff' },
    ];
    for (const c of commands) {
      const data = encodeCommand(c);
      expect(data[0]).toBe(0x7b); // '{'
      expect(decodeCommand(data)).toEqual(c);
    }
  });

  it('refuse a damaged binary put or delete without throwing', () => {
    const bad = (...b: number[]) => decodeCommand(new Uint8Array(b));
    expect(bad(0x01)).toBe('put with a bad key length');
    expect(bad(0x01, 0x80)).toBe('put with a bad key length');
    expect(bad(0x01, 5, 0x61)).toBe('put with a bad key length');
    expect(bad(0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)).toBe('put with a bad key length');
    expect(bad(0x01, 1, 0xff, 0x61)).toBe('not UTF-8');
    expect(bad(0x01, 1, 0x61, 0xc3)).toBe('not UTF-8');
    expect(bad(0x02, 0xed, 0xa0, 0x80)).toBe('not UTF-8');
  });

  it('say what is wrong with data that is not a command', () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    expect(decodeCommand(new Uint8Array([0xff, 0xfe]))).toBe('not UTF-8 JSON');
    expect(decodeCommand(bytes('[1]'))).toBe('no key');
    expect(decodeCommand(bytes('{"op":"put","k":"a"}'))).toBe('put without value');
    expect(decodeCommand(bytes('{"op":"drop","k":"a"}'))).toBe('unknown op "drop"');
    expect(decodeCommand(bytes('{"op":"cas","k":"a","e":1,"v":"x"}'))).toBe(
      'cas without expected value',
    );
  });

  it('pad a put to exactly the requested size (benchmark payloads)', () => {
    for (const size of [64, 100, 1000]) {
      const data = paddedPutCommand('bench', size);
      expect(data.byteLength).toBe(size);
      expect(decodeCommand(data)).toMatchObject({ op: 'put', key: 'bench' });
    }
    // The smallest: tag, key length, key.
    expect(paddedPutCommand('bench', 7).byteLength).toBe(7);
    expect(() => paddedPutCommand('bench', 6)).toThrow(RangeError);
  });
});

describe('the key-value state machine', () => {
  it('returns each command its result: previous values, CAS success or failure', () => {
    const sm = new KvStateMachine();
    const results = sm.onApply(
      entries(
        { op: 'put', key: 'a', value: '1' },
        { op: 'put', key: 'a', value: '2' },
        { op: 'cas', key: 'a', expected: '1', value: 'x' },
        { op: 'cas', key: 'a', expected: '2', value: '3' },
        { op: 'cas', key: 'b', expected: null, value: 'new' },
        { op: 'cas', key: 'b', expected: null, value: 'again' },
        { op: 'delete', key: 'a' },
        { op: 'delete', key: 'a' },
      ),
    );
    expect(results.map((r) => ({ ...r, prevEntry: undefined }))).toEqual([
      { op: 'put', prev: null, revision: 2 },
      { op: 'put', prev: '1', revision: 3 },
      { op: 'cas', succeeded: false, prev: '2', revision: 3 },
      { op: 'cas', succeeded: true, prev: '2', revision: 4 },
      { op: 'cas', succeeded: true, prev: null, revision: 5 },
      { op: 'cas', succeeded: false, prev: 'new', revision: 5 },
      { op: 'delete', prev: '3', revision: 6 },
      { op: 'delete', prev: null, revision: 6 },
    ]);
    expect(sm.get('a')).toBeUndefined();
    expect(sm.get('b')).toBe('new');
    expect(sm.size).toBe(1);
  });

  it('applies an entry that is not a command as a no-op instead of stopping', () => {
    const sm = new KvStateMachine();
    const results = sm.onApply(
      entries(new TextEncoder().encode('garbage'), { op: 'put', key: 'k', value: 'v' }),
    );
    expect(results[0]).toEqual({ op: 'invalid', reason: 'not UTF-8 JSON' });
    expect(sm.get('k')).toBe('v');
  });

  it('gives equal states equal digests, and counts revisions as part of the state', () => {
    const a = new KvStateMachine();
    const b = new KvStateMachine();
    a.onApply(entries({ op: 'put', key: 'x', value: '1' }, { op: 'put', key: 'y', value: '2' }));
    b.onApply(entries({ op: 'put', key: 'x', value: '1' }, { op: 'put', key: 'y', value: '2' }));
    expect(a.digest()).toEqual(b.digest());
    // The same pairs written in another order carry other revisions: another state.
    const swapped = new KvStateMachine();
    swapped.onApply(
      entries({ op: 'put', key: 'y', value: '2' }, { op: 'put', key: 'x', value: '1' }),
    );
    expect(swapped.digest().sha256).not.toBe(a.digest().sha256);
    b.onApply(entries({ op: 'put', key: 'x', value: '1!' }));
    expect(b.digest().sha256).not.toBe(a.digest().sha256);
    // Keys and values that would run together in a naive concatenation stay distinct.
    const c = new KvStateMachine();
    const d = new KvStateMachine();
    c.onApply(entries({ op: 'put', key: 'ab', value: 'c' }));
    d.onApply(entries({ op: 'put', key: 'a', value: 'bc' }));
    expect(c.digest().sha256).not.toBe(d.digest().sha256);
  });
});

/** A snapshot storage in memory that records the chunks it was given. */
class RecordingWriter implements SnapshotWriter {
  readonly chunks: Uint8Array[] = [];
  readonly meta: SnapshotMeta = {
    lastIncludedIndex: 1,
    lastIncludedTerm: 1,
    configuration: { voters: ['n1'] },
  };
  async write(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk.slice());
  }
  async openReader(): Promise<SnapshotReader> {
    return readerOf(this.bytes());
  }
  async commit(): Promise<void> {}
  async abort(): Promise<void> {}
  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}

/** A reader over `bytes` that hands out at most `piece` bytes per read (as a store may). */
function readerOf(bytes: Uint8Array, piece = Number.MAX_SAFE_INTEGER): SnapshotReader {
  return {
    meta: { lastIncludedIndex: 1, lastIncludedTerm: 1, configuration: { voters: ['n1'] } },
    size: bytes.byteLength,
    read: async (offset, maxBytes) => bytes.slice(offset, offset + Math.min(maxBytes, piece)),
    close: async () => {},
  };
}

function machineWith(commands: KvCommand[]): KvStateMachine {
  const sm = new KvStateMachine();
  sm.onApply(entries(...commands));
  return sm;
}

async function saved(sm: KvStateMachine): Promise<RecordingWriter> {
  const w = new RecordingWriter();
  await sm.onSnapshotSave(w);
  return w;
}

describe('snapshots of the key-value state', () => {
  const tricky: KvCommand[] = [
    { op: 'put', key: 'plain', value: 'v' },
    { op: 'put', key: 'ünïcødé/🚀', value: '' },
    { op: 'put', key: 'lone\ud800surrogate', value: 'x\udc00y' },
    // A leading U+FEFF (byte order mark) is text like any other: nothing may strip it.
    { op: 'put', key: '\ufeffbom', value: '\ufeff\ufeffv' },
    { op: 'put', key: '', value: 'empty key (the API refuses it; the machine does not care)' },
    { op: 'put', key: 'gone', value: '1' },
    { op: 'delete', key: 'gone' },
    {
      op: 'peers',
      peers: {
        n4: { raft: '127.0.0.1:7004', http: '127.0.0.1:8004', etcd: '127.0.0.1:9004' },
        n5: { raft: 'h:1' },
      },
    },
  ];

  it('round-trip: keys, values (lone surrogates included) and peer addresses', async () => {
    const a = machineWith(tricky);
    const w = await saved(a);
    const b = machineWith([{ op: 'put', key: 'stale', value: 'replaced by the load' }]);
    await b.onSnapshotLoad(readerOf(w.bytes()));
    expect(b.digest()).toEqual(a.digest());
    expect(b.get('stale')).toBeUndefined();
    expect(b.get('lone\ud800surrogate')).toBe('x\udc00y');
    expect(b.get('\ufeffbom')).toBe('\ufeff\ufeffv');
    expect(b.get('ünïcødé/🚀')).toBe('');
    // Revisions survive: the store's, and each key's.
    expect(b.revision).toBe(a.revision);
    expect(b.entry('plain')).toEqual(a.entry('plain'));
    expect(b.entry('plain')).toEqual({
      key: 'plain',
      value: 'v',
      createRevision: 2,
      modRevision: 2,
      version: 1,
    });
    expect(b.peers).toEqual(
      new Map([
        ['n4', { raft: '127.0.0.1:7004', http: '127.0.0.1:8004', etcd: '127.0.0.1:9004' }],
        ['n5', { raft: 'h:1' }],
      ]),
    );
  });

  it('is written in chunks of at most 64 KiB and read back from small pieces', async () => {
    const commands: KvCommand[] = [];
    for (let i = 0; i < 20_000; i++) commands.push({ op: 'put', key: `key/${i}`, value: `v${i}` });
    // One value larger than a chunk: it is split, never buffered whole in a chunk.
    commands.push({ op: 'put', key: 'big', value: 'b'.repeat(300_000) });
    const a = machineWith(commands);
    const w = await saved(a);
    expect(w.chunks.length).toBeGreaterThan(5);
    expect(Math.max(...w.chunks.map((c) => c.byteLength))).toBeLessThanOrEqual(WRITE_CHUNK_BYTES);
    // Compact: a tag and a length byte or three per pair besides the strings themselves.
    const utf8 = (x: string) => new TextEncoder().encode(x).byteLength;
    const varint = (n: number) => (n < 128 ? 1 : n < 16_384 ? 2 : 3);
    // The trailer: tag, pair count, peer count, store revision, checksum.
    let expected = 5 + 1 + varint(commands.length) + 1 + varint(a.revision) + 32;
    for (const c of commands) {
      if (c.op !== 'put') continue;
      const revisions = 2 * varint(a.entry(c.key)?.modRevision ?? 0) + 1;
      expected += 1 + varint(utf8(c.key)) + utf8(c.key) + varint(utf8(c.value)) + utf8(c.value);
      expected += revisions;
    }
    expect(w.bytes().byteLength).toBe(expected);
    for (const piece of [1_000, 7, Number.MAX_SAFE_INTEGER]) {
      const b = new KvStateMachine();
      await b.onSnapshotLoad(readerOf(w.bytes(), piece));
      expect(b.digest()).toEqual(a.digest());
    }
  });

  it('an empty state has a snapshot too', async () => {
    const w = await saved(new KvStateMachine());
    const b = machineWith([{ op: 'put', key: 'k', value: 'v' }]);
    await b.onSnapshotLoad(readerOf(w.bytes()));
    expect(b.size).toBe(0);
    expect(b.digest()).toEqual(new KvStateMachine().digest());
  });

  it('refuses a damaged, truncated, extended, foreign or newer snapshot and keeps its state', async () => {
    const good = new Uint8Array((await saved(machineWith(tricky))).bytes());
    const flipped = good.slice();
    flipped[20] = (flipped[20] as number) ^ 0x01;
    const newer = good.slice();
    newer[4] = 3;
    const older = good.slice();
    older[4] = 1;
    const foreign = good.slice();
    foreign[0] = 0x00;
    const cases: Array<[Uint8Array, RegExp]> = [
      [flipped, /checksum|UTF-8|record type|counts|truncated|too long/],
      [good.slice(0, good.byteLength - 1), /truncated|checksum/],
      [good.slice(0, 30), /truncated|too short/],
      [new Uint8Array([...good, 0]), /bytes after the checksum/],
      [newer, /version 3 is not supported/],
      [older, /version 1 \(written by a kv-server from before revisions\) is not supported/],
      [foreign, /not a key-value snapshot/],
    ];
    for (const [bytes, message] of cases) {
      const sm = machineWith([{ op: 'put', key: 'mine', value: 'kept' }]);
      const before = sm.digest();
      await expect(sm.onSnapshotLoad(readerOf(bytes, 100))).rejects.toThrow(message);
      await expect(sm.onSnapshotLoad(readerOf(bytes, 100))).rejects.toBeInstanceOf(
        SnapshotFormatError,
      );
      expect(sm.digest()).toEqual(before);
    }
  });

  it('a failing writer fails the save (core then aborts the snapshot)', async () => {
    const sm = machineWith(
      Array.from(
        { length: 30_000 },
        (_, i): KvCommand => ({ op: 'put', key: `k${i}`, value: 'v' }),
      ),
    );
    let calls = 0;
    const w = new RecordingWriter();
    w.write = async () => {
      calls++;
      if (calls === 2) throw new Error('disk full');
    };
    await expect(sm.onSnapshotSave(w)).rejects.toThrow('disk full');
  });
});

describe('peer addresses in the log', () => {
  it('encode, decode, and merge into what the machine knows', () => {
    const c: KvCommand = {
      op: 'peers',
      peers: { n4: { raft: 'a:1', http: 'a:2', etcd: 'a:3' } },
    };
    expect(decodeCommand(encodeCommand(c))).toEqual(c);
    const sm = machineWith([c, { op: 'peers', peers: { n5: { raft: 'b:1' } } }]);
    expect([...sm.peers.keys()]).toEqual(['n4', 'n5']);
    expect(sm.size).toBe(0);
    const bytes = (s: string) => new TextEncoder().encode(s);
    expect(decodeCommand(bytes('{"op":"peers","p":{"n4":{}}}'))).toBe(
      'peer "n4" without a Raft address',
    );
    expect(decodeCommand(bytes('{"op":"peers"}'))).toBe('peers without a map');
  });
});
