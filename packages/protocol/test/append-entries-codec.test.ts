import { type AppendEntriesRequest, type AppendEntriesResponse, EntryType } from '@kontiki/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeAppendEntriesRequestFrame,
  encodeAppendEntriesResponseFrame,
} from '../src/append-entries-codec.js';
import { decodeFrameGenerated } from '../src/frame.js';
import { decodeFrame, METHOD_SPECS, wire } from '../src/index.js';

// The hand-written AppendEntries encoder must write exactly the bytes of the generated one:
// any difference would be a second dialect of the same protocol.

const spec = METHOD_SPECS.appendEntries;

function generatedRequest(callId: number, r: AppendEntriesRequest, timeoutMs: number) {
  return wire.Envelope.encode({
    callId: BigInt(callId),
    method: spec.wire,
    timeoutMs,
    body: spec.request.toBody(r),
  }).finish();
}

function generatedResponse(callId: number, r: AppendEntriesResponse) {
  return wire.Envelope.encode({
    callId: BigInt(callId),
    method: spec.wire,
    timeoutMs: 0,
    body: spec.response.toBody(r),
  }).finish();
}

const uint = fc.oneof(
  fc.constantFrom(0, 1, 127, 128, 2 ** 31, 2 ** 32, 2 ** 35 + 3, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 0, max: 1_000_000 }),
);
const id = fc.oneof(fc.constantFrom('', 'n1', 'grüße', '节点'), fc.string({ maxLength: 12 }));

const request = fc.record({
  groupId: id,
  from: id,
  to: id,
  term: uint,
  prevLogIndex: uint,
  prevLogTerm: uint,
  leaderCommit: uint,
  entries: fc.array(
    fc.record({
      index: uint,
      term: uint,
      type: fc.constantFrom(EntryType.Data, EntryType.Configuration),
      data: fc.uint8Array({ maxLength: 300 }),
    }),
    { maxLength: 8 },
  ),
});

const response = fc.record(
  {
    term: uint,
    success: fc.boolean(),
    lastLogIndex: uint,
    conflictTerm: uint,
    conflictIndex: uint,
  },
  { requiredKeys: ['term', 'success', 'lastLogIndex'] },
);

describe('the hand-written AppendEntries encoder', () => {
  it('writes the same bytes as the generated encoder, for requests of every shape', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        request,
        fc.integer({ min: 0, max: 2 ** 33 }),
        (callId, r, timeoutMs) => {
          const mine = encodeAppendEntriesRequestFrame(callId, r, timeoutMs);
          expect(mine).toEqual(generatedRequest(callId, r, Math.min(timeoutMs, 0xffff_ffff)));
        },
      ),
      { seed: 7, numRuns: 500 },
    );
  });

  it('writes the same bytes as the generated encoder, for responses with and without conflict hints', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), response, (callId, r) => {
        expect(encodeAppendEntriesResponseFrame(callId, r)).toEqual(generatedResponse(callId, r));
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it('a megabyte of entries decodes back to what was sent, sharing no buffer with it', () => {
    const data = new Uint8Array(64 * 1024).map((_, i) => i & 0xff);
    const r: AppendEntriesRequest = {
      groupId: 'kv',
      from: 'n1',
      to: 'n2',
      term: 4,
      prevLogIndex: 100,
      prevLogTerm: 4,
      leaderCommit: 100,
      entries: Array.from({ length: 16 }, (_, i) => ({
        index: 101 + i,
        term: 4,
        type: EntryType.Data,
        data,
      })),
    };
    const bytes = encodeAppendEntriesRequestFrame(9, r, 500);
    const frame = decodeFrame(bytes);
    expect(frame).toMatchObject({ kind: 'request', callId: 9, method: 'appendEntries' });
    if (frame.kind !== 'request') throw new Error('not a request');
    const got = frame.request as AppendEntriesRequest;
    expect({ ...got, entries: [] }).toEqual({ ...r, entries: [] });
    expect(got.entries.map((e) => [e.index, e.term, e.type])).toEqual(
      r.entries.map((e) => [e.index, e.term, e.type]),
    );
    for (const e of got.entries) {
      // Byte-for-byte (toEqual on a megabyte takes seconds).
      expect(Buffer.compare(e.data, data)).toBe(0);
      expect(e.data.buffer).not.toBe(data.buffer);
    }
  });

  it('refuses what the generated path refuses: unsafe numbers and unknown entry types', () => {
    const base: AppendEntriesRequest = {
      groupId: 'g',
      from: 'a',
      to: 'b',
      term: 1,
      prevLogIndex: 0,
      prevLogTerm: 0,
      leaderCommit: 0,
      entries: [],
    };
    expect(() => encodeAppendEntriesRequestFrame(1, { ...base, term: 2 ** 53 }, 0)).toThrow(/term/);
    expect(() => encodeAppendEntriesRequestFrame(1, { ...base, prevLogIndex: -1 }, 0)).toThrow(
      /prevLogIndex/,
    );
    const badType = { index: 1, term: 1, type: 9, data: new Uint8Array() } as unknown;
    expect(() =>
      encodeAppendEntriesRequestFrame(
        1,
        { ...base, entries: [badType as AppendEntriesRequest['entries'][number]] },
        0,
      ),
    ).toThrow(/entry type/);
  });
});

describe('the fast AppendEntries decoder', () => {
  const outcome = (decode: () => unknown) => {
    try {
      return { frame: decode() };
    } catch (error) {
      return { threw: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
  };

  // Requests as a leader sends them, and as a stranger might: bad terms, gaps, terms going
  // down, terms above the sender's, out-of-range numbers, control characters in ids.
  const wild = fc.record({
    groupId: fc.oneof(id, fc.constant('bad\u0001id')),
    from: id,
    to: id,
    term: uint,
    prevLogIndex: uint,
    prevLogTerm: uint,
    leaderCommit: uint,
    entries: fc.array(
      fc.record({
        index: uint,
        term: uint,
        type: fc.constantFrom(EntryType.Data, EntryType.Configuration),
        data: fc.uint8Array({ maxLength: 40 }),
      }),
      { maxLength: 5 },
    ),
  });

  it('reads every request exactly as the generated decoder does, refusals included', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), wild, (callId, r) => {
        const bytes = encodeAppendEntriesRequestFrame(callId, r, 500);
        expect(outcome(() => decodeFrame(bytes))).toEqual(
          outcome(() => decodeFrameGenerated(bytes)),
        );
      }),
      { seed: 11, numRuns: 1500 },
    );
  });

  it('leaves damaged, padded or foreign bytes to the generated decoder, with the same result', () => {
    const valid = encodeAppendEntriesRequestFrame(
      3,
      {
        groupId: 'g',
        from: 'a',
        to: 'b',
        term: 2,
        prevLogIndex: 1,
        prevLogTerm: 1,
        leaderCommit: 1,
        entries: [{ index: 2, term: 2, type: EntryType.Data, data: new Uint8Array([1, 2, 3]) }],
      },
      500,
    );
    fc.assert(
      fc.property(
        fc.oneof(
          // A byte changed, bytes cut off, unknown fields appended, or random bytes.
          fc
            .tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }))
            .map(([at, b]) => valid.map((x, i) => (i === at ? b : x))),
          fc.nat(valid.length - 1).map((n) => valid.slice(0, n)),
          fc.uint8Array({ minLength: 1, maxLength: 8 }).map((tail) => {
            const out = new Uint8Array(valid.length + tail.length);
            out.set(valid);
            out.set(tail, valid.length);
            return out;
          }),
          fc.uint8Array({ maxLength: 64 }),
        ),
        (bytes) => {
          expect(outcome(() => decodeFrame(bytes))).toEqual(
            outcome(() => decodeFrameGenerated(bytes)),
          );
        },
      ),
      { seed: 12, numRuns: 3000 },
    );
  });
});
