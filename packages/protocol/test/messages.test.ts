import {
  type AppendEntriesRequest,
  BadRequestError,
  EntryType,
  type InstallSnapshotRequest,
  RaftError,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
} from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  WIRE_LIMITS,
  wire,
} from '../src/index.js';

const header = { groupId: 'group-1', from: '10.0.0.1:7000', to: '10.0.0.2:7000', term: 7 };
// The smallest request the wire accepts: an empty group name is a name; peer ids are not empty.
const empty = { groupId: '', from: 'a', to: 'b', term: 0 };
const MAX = WIRE_LIMITS.maxTermOrIndex;

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** Representative, empty and extreme values of every request and response. */
const requests: { [M in RpcMethod]: RpcRequest<M>[] } = {
  requestVote: [
    { ...header, preVote: true, lastLogIndex: 41, lastLogTerm: 6 },
    {
      ...header,
      preVote: false,
      term: MAX,
      lastLogIndex: MAX,
      lastLogTerm: MAX,
      disruptedLeader: { peerId: 'n3', term: 6 },
    },
    { ...empty, preVote: false, lastLogIndex: 0, lastLogTerm: 0 },
  ],
  appendEntries: [
    {
      ...header,
      prevLogIndex: 10,
      prevLogTerm: 6,
      leaderCommit: 9,
      entries: [
        { index: 11, term: 7, type: EntryType.Configuration, data: bytes(40, 1) },
        { index: 12, term: 7, type: EntryType.Data, data: new Uint8Array(0) },
      ],
    },
    { ...empty, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, entries: [] },
  ],
  installSnapshot: [
    {
      ...header,
      meta: {
        lastIncludedIndex: 1000,
        lastIncludedTerm: 5,
        configuration: { voters: ['a', 'b', 'c'], oldVoters: ['a', 'b'], learners: ['d'] },
      },
      offset: 65536,
      data: bytes(1024, 2),
      done: false,
    },
    {
      ...empty,
      meta: { lastIncludedIndex: 1, lastIncludedTerm: 0, configuration: { voters: ['a'] } },
      offset: 0,
      data: new Uint8Array(0),
      done: true,
    },
  ],
  timeoutNow: [header, empty],
  readIndex: [header, empty],
  hostHeartbeat: [
    {
      ...header,
      groupId: '',
      term: 0,
      offers: [{ groupId: 'g1', term: 7, lastIndex: 40, lastTerm: 7, commitIndex: 40 }],
      woken: [{ groupId: 'g2', term: MAX }],
      quiescedCount: 3,
      quiescedDigest: 2 ** 48 - 1,
      full: [],
    },
    { ...empty, offers: [], woken: [], quiescedCount: 0, quiescedDigest: 0 },
  ],
};

const responses: { [M in RpcMethod]: RpcResponse<M>[] } = {
  requestVote: [
    { term: 7, granted: true },
    { term: 0, granted: false },
  ],
  appendEntries: [
    { term: 7, success: true, lastLogIndex: 12 },
    { term: 7, success: false, lastLogIndex: 30, conflictTerm: 4, conflictIndex: 21 },
    { term: 0, success: false, lastLogIndex: 0, conflictTerm: 0, conflictIndex: 0 },
  ],
  installSnapshot: [
    { term: 5, success: true },
    { term: 0, success: false },
  ],
  timeoutNow: [
    { term: 9, success: true },
    { term: 0, success: false },
  ],
  readIndex: [
    { term: 9, success: true, readIndex: 77 },
    { term: 0, success: false, readIndex: 0 },
  ],
  hostHeartbeat: [
    { term: 0, accepted: ['g1', ''], mismatch: true, wake: ['g3'] },
    { term: 0, accepted: [], mismatch: false, wake: [] },
  ],
};

const methods = Object.keys(requests) as RpcMethod[];

describe('every message survives a round trip through its protobuf encoding', () => {
  for (const method of methods) {
    it(`${method} requests, including the empty one`, () => {
      for (const request of requests[method]) {
        expect(decodeRequest(method, encodeRequest(method, request))).toEqual(request);
      }
    });
    it(`${method} responses, including the empty one`, () => {
      for (const response of responses[method]) {
        expect(decodeResponse(method, encodeResponse(method, response))).toEqual(response);
      }
    });
  }

  it('an AppendEntries of one 8 MiB entry keeps every byte', () => {
    const data = bytes(8 * 1024 * 1024, 3);
    const request: AppendEntriesRequest = {
      ...header,
      prevLogIndex: 1,
      prevLogTerm: 1,
      leaderCommit: 1,
      entries: [{ index: 2, term: 7, type: EntryType.Data, data }],
    };
    const decoded = decodeRequest('appendEntries', encodeRequest('appendEntries', request));
    expect(decoded.entries).toHaveLength(1);
    expect(Buffer.compare(decoded.entries[0]?.data ?? new Uint8Array(0), data)).toBe(0);
  });

  it('an AppendEntries of 20,000 entries keeps their order, terms and types', () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => ({
      index: i + 1,
      term: 1 + Math.floor(i / 1000),
      type: i % 100 === 0 ? EntryType.Configuration : EntryType.Data,
      data: bytes(i % 64, i),
    }));
    const request: AppendEntriesRequest = {
      ...header,
      term: 20,
      prevLogIndex: 0,
      prevLogTerm: 0,
      leaderCommit: 0,
      entries,
    };
    expect(decodeRequest('appendEntries', encodeRequest('appendEntries', request))).toEqual(
      request,
    );
  });

  it('an InstallSnapshot chunk of 4 MiB keeps every byte', () => {
    const request: InstallSnapshotRequest = {
      ...header,
      meta: { lastIncludedIndex: 99, lastIncludedTerm: 3, configuration: { voters: ['a'] } },
      offset: 4 * 1024 * 1024,
      data: bytes(4 * 1024 * 1024, 4),
      done: true,
    };
    const { data, ...rest } = decodeRequest(
      'installSnapshot',
      encodeRequest('installSnapshot', request),
    );
    // Deep equality on 4 MiB is slow in vitest: compare the bytes natively.
    expect(Buffer.compare(data, request.data)).toBe(0);
    expect(rest).toEqual(omitData(request));
  });

  it('empty oldVoters and learners come back absent, as core encodes a configuration', () => {
    const request: InstallSnapshotRequest = {
      ...header,
      meta: {
        lastIncludedIndex: 1,
        lastIncludedTerm: 1,
        configuration: { voters: ['a'], oldVoters: [], learners: [] },
      },
      offset: 0,
      data: new Uint8Array(0),
      done: true,
    };
    const decoded = decodeRequest('installSnapshot', encodeRequest('installSnapshot', request));
    expect(decoded.meta.configuration).toStrictEqual({ voters: ['a'] });
  });
});

function omitData(request: InstallSnapshotRequest): Omit<InstallSnapshotRequest, 'data'> {
  const { data: _data, ...rest } = request;
  return rest;
}

function expectBadRequest(fn: () => unknown, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(BadRequestError);
  expect(RaftError.is(thrown, 'BAD_REQUEST')).toBe(true);
  if (message) expect((thrown as Error).message).toMatch(message);
}

describe('bad input fails with a typed BadRequestError', () => {
  it('truncated bytes', () => {
    const full = encodeRequest('appendEntries', requests.appendEntries[0] as AppendEntriesRequest);
    expectBadRequest(
      () => decodeRequest('appendEntries', full.subarray(0, full.length - 5)),
      /malformed/,
    );
  });

  it('bytes that are not protobuf at all', () => {
    expectBadRequest(() =>
      decodeRequest(
        'requestVote',
        new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      ),
    );
    expectBadRequest(() => decodeResponse('readIndex', new Uint8Array([0x0f])));
  });

  it('a request without its header', () => {
    expectBadRequest(() => decodeRequest('timeoutNow', new Uint8Array(0)), /no header/);
  });

  it('an InstallSnapshot without its meta', () => {
    const bytes = wire.InstallSnapshotRequest.encode({
      header: { groupId: 'g', from: 'a', to: 'b', term: 1n },
      meta: undefined,
      offset: 0n,
      data: new Uint8Array(0),
      done: true,
    }).finish();
    expectBadRequest(() => decodeRequest('installSnapshot', bytes), /meta/);
  });

  it('an index above Number.MAX_SAFE_INTEGER', () => {
    const bytes = wire.AppendEntriesRequest.encode({
      header: { groupId: 'g', from: 'a', to: 'b', term: 1n },
      prevLogIndex: BigInt(Number.MAX_SAFE_INTEGER) + 1n,
      prevLogTerm: 1n,
      entries: [],
      leaderCommit: 0n,
    }).finish();
    expectBadRequest(() => decodeRequest('appendEntries', bytes), /MAX_SAFE_INTEGER/);
  });

  it('a term of 2^64 - 1 inside an entry', () => {
    const bytes = wire.AppendEntriesRequest.encode({
      header: { groupId: 'g', from: 'a', to: 'b', term: 1n },
      prevLogIndex: 0n,
      prevLogTerm: 0n,
      entries: [
        {
          index: 1n,
          term: 2n ** 64n - 1n,
          type: wire.EntryType.ENTRY_TYPE_DATA,
          data: new Uint8Array(0),
        },
      ],
      leaderCommit: 0n,
    }).finish();
    expectBadRequest(() => decodeRequest('appendEntries', bytes), /entry term/);
  });

  it('an entry of an unknown type', () => {
    const bytes = wire.AppendEntriesRequest.encode({
      header: { groupId: 'g', from: 'a', to: 'b', term: 1n },
      prevLogIndex: 0n,
      prevLogTerm: 0n,
      entries: [{ index: 1n, term: 1n, type: 9 as wire.EntryType, data: new Uint8Array(0) }],
      leaderCommit: 0n,
    }).finish();
    expectBadRequest(() => decodeRequest('appendEntries', bytes), /entry type/);
  });

  it('a core message with a number that is not a safe non-negative integer', () => {
    expectBadRequest(() => encodeResponse('requestVote', { term: -1, granted: true }));
    expectBadRequest(() => encodeResponse('requestVote', { term: 1.5, granted: true }));
    expectBadRequest(() => encodeResponse('requestVote', { term: 2 ** 53, granted: true }));
  });

  it('a method that is not an RPC', () => {
    expectBadRequest(
      () => encodeRequest('__proto__' as RpcMethod, empty as never),
      /unknown method/,
    );
  });
});
