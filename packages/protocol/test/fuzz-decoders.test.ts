import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BadRequestError, type RpcMethod, type RpcRequest, type RpcResponse } from '@kontiki/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeFrame,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeRequestFrame,
  METHOD_SPECS,
  WIRE_LIMITS,
  wire,
} from '../src/index.js';

// Seeded, bounded property tests of every decoder: whatever bytes arrive, a decoder either
// returns a message that obeys every wire rule or throws BadRequestError; nothing else
// escapes. KONTIKI_FUZZ_SEED replays another seed; KONTIKI_FUZZ=long (`pnpm fuzz --long`)
// runs 100,000 cases per property instead of 1,500.

const SEED = Number(process.env.KONTIKI_FUZZ_SEED ?? 20_240_601);
const LONG = process.env.KONTIKI_FUZZ === 'long';
const RUNS = LONG ? 100_000 : 1500;
const TIMEOUT = LONG ? 3_600_000 : 60_000;
const METHODS = Object.keys(METHOD_SPECS) as RpcMethod[];
const MAX = WIRE_LIMITS.maxTermOrIndex;

function okNumber(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= MAX;
}

function okPeer(id: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the rule under test
  return id.length > 0 && id.length <= WIRE_LIMITS.maxIdLength && !/[\u0000-\u001f\u007f]/.test(id);
}

/** Every rule the decoder promises, checked on what it returned. */
function wellFormedRequest(method: RpcMethod, r: RpcRequest<RpcMethod>): void {
  expect(okPeer(r.from) && okPeer(r.to) && okNumber(r.term)).toBe(true);
  expect(r.groupId.length).toBeLessThanOrEqual(WIRE_LIMITS.maxIdLength);
  if (method === 'appendEntries') {
    const a = r as RpcRequest<'appendEntries'>;
    expect(okNumber(a.prevLogIndex) && okNumber(a.leaderCommit)).toBe(true);
    expect(a.prevLogTerm).toBeLessThanOrEqual(a.term);
    let last = a.prevLogTerm;
    a.entries.forEach((e, i) => {
      expect(e.index).toBe(a.prevLogIndex + 1 + i);
      expect(e.term >= last && e.term <= a.term).toBe(true);
      last = e.term;
    });
  }
  if (method === 'requestVote') {
    const v = r as RpcRequest<'requestVote'>;
    expect(okNumber(v.lastLogIndex) && v.lastLogTerm <= v.term).toBe(true);
    if (v.disruptedLeader) expect(okPeer(v.disruptedLeader.peerId)).toBe(true);
  }
  if (method === 'installSnapshot') {
    const s = r as RpcRequest<'installSnapshot'>;
    expect(s.meta.lastIncludedIndex).toBeGreaterThanOrEqual(1);
    expect(s.meta.lastIncludedTerm).toBeLessThanOrEqual(s.term);
    expect(s.meta.configuration.voters.length).toBeGreaterThan(0);
    expect(s.offset + s.data.byteLength).toBeLessThanOrEqual(MAX);
  }
}

function wellFormedResponse(r: RpcResponse<RpcMethod>): void {
  for (const v of Object.values(r)) if (typeof v === 'number') expect(okNumber(v)).toBe(true);
}

const tally = { decoded: 0, accepted: 0, refused: 0 };

/** Runs `fn`; any throw must be a BadRequestError. */
function onlyBadRequest<T>(fn: () => T): T | undefined {
  tally.decoded++;
  try {
    const value = fn();
    tally.accepted++;
    return value;
  } catch (error) {
    if (!(error instanceof BadRequestError)) throw error;
    tally.refused++;
    return undefined;
  }
}

// What `pnpm fuzz` reports: how many decodes ran, and how many were refused.
afterAll(() => {
  const dir = process.env.KONTIKI_FUZZ_REPORT_DIR;
  if (dir === undefined) return;
  mkdirSync(dir, { recursive: true });
  const line = {
    fuzz: 'protocol-decoders',
    seed: SEED,
    casesPerProperty: RUNS,
    ...tally,
    crashes: 0,
  };
  writeFileSync(join(dir, 'protocol-decoders.json'), `${JSON.stringify(line)}\n`);
});

// uint64s clustered at the edges that matter: 0, small, around 2^53, around 2^64.
const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 20n }),
  fc.bigInt({ min: BigInt(MAX) - 3n, max: BigInt(MAX) + 3n }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);
const id = fc.oneof(
  fc.constantFrom('n1', 'n2', 'n3', '', 'g'),
  fc.string({ maxLength: 8 }),
  fc.string({ minLength: 250, maxLength: 300 }),
);
const header = fc.record({ groupId: id, from: id, to: id, term: u64 });
const entries = fc.array(
  fc.record({
    index: u64,
    term: u64,
    type: fc.integer({ min: 0, max: 3 }) as fc.Arbitrary<wire.EntryType>,
    data: fc.uint8Array({ maxLength: 16 }),
  }),
  { maxLength: 6 },
);
const configuration = fc.record({
  voters: fc.array(id, { maxLength: 4 }),
  oldVoters: fc.array(id, { maxLength: 3 }),
  learners: fc.array(id, { maxLength: 3 }),
});

/** Structurally valid protobuf of each request, with any values in its fields. */
const wireRequests: { [M in RpcMethod]: fc.Arbitrary<Uint8Array> } = {
  requestVote: fc
    .record({
      header,
      preVote: fc.boolean(),
      lastLogIndex: u64,
      lastLogTerm: u64,
      disruptedLeader: fc.option(fc.record({ peerId: id, term: u64 }), { nil: undefined }),
    })
    .map((m) => wire.RequestVoteRequest.encode(m).finish()),
  appendEntries: fc
    .record({ header, prevLogIndex: u64, prevLogTerm: u64, entries, leaderCommit: u64 })
    .map((m) => wire.AppendEntriesRequest.encode(m).finish()),
  installSnapshot: fc
    .record({
      header,
      meta: fc.record({ lastIncludedIndex: u64, lastIncludedTerm: u64, configuration }),
      offset: u64,
      data: fc.uint8Array({ maxLength: 16 }),
      done: fc.boolean(),
    })
    .map((m) => wire.InstallSnapshotRequest.encode(m).finish()),
  timeoutNow: header.map((h) => wire.TimeoutNowRequest.encode({ header: h }).finish()),
  readIndex: header.map((h) => wire.ReadIndexRequest.encode({ header: h }).finish()),
  hostHeartbeat: fc
    .record({
      header,
      offers: fc.array(
        fc.record({
          groupId: id,
          term: u64,
          lastIndex: u64,
          lastTerm: u64,
          commitIndex: u64,
        }),
        { maxLength: 3 },
      ),
      woken: fc.array(fc.record({ groupId: id, term: u64 }), { maxLength: 3 }),
      quiescedCount: u64,
      quiescedDigest: u64,
      hasFull: fc.boolean(),
      full: fc.array(fc.record({ groupId: id, term: u64 }), { maxLength: 3 }),
    })
    .map((m) => wire.HostHeartbeatRequest.encode(m).finish()),
};

/** A valid frame, then damaged: bits flipped, cut short, bytes spliced in. */
const validFrame = fc
  .record({ term: fc.nat({ max: 1000 }), last: fc.nat({ max: 1000 }), callId: fc.nat() })
  .map(({ term, last, callId }) =>
    encodeRequestFrame(callId, 'appendEntries', {
      groupId: 'kv',
      from: 'n1',
      to: 'n2',
      term: term + 1,
      prevLogIndex: last,
      prevLogTerm: term,
      leaderCommit: last,
      entries: [{ index: last + 1, term: term + 1, type: 1, data: new Uint8Array([1, 2, 3]) }],
    }),
  );
const damaged = fc
  .tuple(
    validFrame,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    fc.nat(),
  )
  .map(([bytes, edits, cut]) => {
    const out = Uint8Array.from(bytes);
    for (const [at, value] of edits) out[at % out.length] = value;
    return out.subarray(0, out.length - (cut % 4));
  });

describe('fuzzing the decoders (seeded, bounded)', () => {
  it(
    'random bytes: every decoder answers a well-formed message or BAD_REQUEST',
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 96 }), fc.constantFrom(...METHODS), (bytes, m) => {
          const frame = onlyBadRequest(() => decodeFrame(bytes));
          if (frame?.kind === 'request') wellFormedRequest(frame.method, frame.request);
          const request = onlyBadRequest(() => decodeRequest(m, bytes));
          if (request !== undefined) wellFormedRequest(m, request);
          const response = onlyBadRequest(() => decodeResponse(m, bytes));
          if (response !== undefined) wellFormedResponse(response);
        }),
        { seed: SEED, numRuns: RUNS },
      );
    },
    TIMEOUT,
  );

  for (const method of METHODS) {
    it(
      `${method}: any field values are accepted only when they obey every rule, and then exactly`,
      () => {
        fc.assert(
          fc.property(wireRequests[method], (bytes) => {
            const request = onlyBadRequest(() => decodeRequest(method, bytes));
            if (request === undefined) return;
            wellFormedRequest(method, request);
            // What was accepted re-encodes and decodes to itself: nothing was bent into range.
            expect(decodeRequest(method, encodeRequest(method, request))).toEqual(request);
          }),
          { seed: SEED, numRuns: RUNS },
        );
      },
      TIMEOUT,
    );
  }

  it(
    'damaged frames: a flipped byte or a cut never yields a malformed request',
    () => {
      fc.assert(
        fc.property(damaged, (bytes) => {
          const frame = onlyBadRequest(() => decodeFrame(bytes));
          if (frame?.kind === 'request') wellFormedRequest(frame.method, frame.request);
          if (frame?.kind === 'invalid') expect(frame.error.code).toBe('BAD_REQUEST');
        }),
        { seed: SEED, numRuns: RUNS },
      );
    },
    TIMEOUT,
  );
});
