import { BadRequestError, EntryType, RaftError } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  decodeRequest,
  decodeResponse,
  encodeErrorFrame,
  encodeHello,
  encodeRequest,
  PROTOCOL_VERSION,
  WIRE_LIMITS,
  wire,
} from '../src/index.js';

// Each case below is a message an honest Kontiki node never sends. The decoder must refuse it
// with BAD_REQUEST, so that no handler (no Raft node) ever sees it.

const MAX = WIRE_LIMITS.maxTermOrIndex;
const TOO_BIG = BigInt(Number.MAX_SAFE_INTEGER); // 2^53 - 1: one above what the wire accepts

function header(over: Partial<wire.RpcHeader> = {}): wire.RpcHeader {
  return { groupId: 'g', from: 'n1', to: 'n2', term: 5n, ...over };
}

function refused(fn: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(BadRequestError);
  expect(RaftError.is(thrown, 'BAD_REQUEST')).toBe(true);
  expect((thrown as Error).message).toMatch(message);
}

const vote = (over: Partial<wire.RequestVoteRequest> = {}) =>
  wire.RequestVoteRequest.encode({
    header: header(),
    preVote: false,
    lastLogIndex: 3n,
    lastLogTerm: 4n,
    disruptedLeader: undefined,
    ...over,
  }).finish();

const entry = (index: bigint, term: bigint): wire.LogEntry => ({
  index,
  term,
  type: wire.EntryType.ENTRY_TYPE_DATA,
  data: new Uint8Array(0),
});

const append = (over: Partial<wire.AppendEntriesRequest> = {}) =>
  wire.AppendEntriesRequest.encode({
    header: header(),
    prevLogIndex: 10n,
    prevLogTerm: 4n,
    entries: [entry(11n, 4n), entry(12n, 5n)],
    leaderCommit: 9n,
    ...over,
  }).finish();

const conf = (over: Partial<wire.Configuration> = {}): wire.Configuration => ({
  voters: ['n1', 'n2', 'n3'],
  oldVoters: [],
  learners: [],
  ...over,
});

const snapshot = (
  over: Partial<wire.InstallSnapshotRequest> = {},
  meta: Partial<wire.SnapshotMeta> = {},
) =>
  wire.InstallSnapshotRequest.encode({
    header: header(),
    meta: { lastIncludedIndex: 100n, lastIncludedTerm: 4n, configuration: conf(), ...meta },
    offset: 0n,
    data: new Uint8Array(8),
    done: false,
    ...over,
  }).finish();

describe('terms and indexes stay below 2^53 - 1', () => {
  it('the largest accepted term is 2^53 - 2: the next election (term + 1) is still exact', () => {
    const request = decodeRequest(
      'timeoutNow',
      wire.TimeoutNowRequest.encode({ header: header({ term: BigInt(MAX) }) }).finish(),
    );
    expect(request.term).toBe(MAX);
    expect(Number.isSafeInteger(request.term + 1)).toBe(true);
  });

  it('a term of 2^53 - 1, which would overflow the next election, is refused', () => {
    refused(
      () =>
        decodeRequest(
          'timeoutNow',
          wire.TimeoutNowRequest.encode({ header: header({ term: TOO_BIG }) }).finish(),
        ),
      /term 9007199254740991 is out of range/,
    );
  });

  it('every index of a request is bounded the same way', () => {
    refused(() => decodeRequest('requestVote', vote({ lastLogIndex: TOO_BIG })), /lastLogIndex/);
    refused(
      () => decodeRequest('appendEntries', append({ prevLogIndex: TOO_BIG, entries: [] })),
      /prevLogIndex/,
    );
    refused(
      () => decodeRequest('appendEntries', append({ leaderCommit: TOO_BIG })),
      /leaderCommit/,
    );
    refused(
      () =>
        decodeRequest(
          'appendEntries',
          append({ prevLogIndex: TOO_BIG - 1n, entries: [entry(TOO_BIG, 4n)] }),
        ),
      /entry index/,
    );
    refused(
      () => decodeRequest('installSnapshot', snapshot({}, { lastIncludedIndex: TOO_BIG })),
      /lastIncludedIndex/,
    );
    refused(() => decodeRequest('installSnapshot', snapshot({ offset: TOO_BIG })), /offset/);
  });

  it('terms and indexes in answers are bounded too (a hostile server cannot push them on a caller)', () => {
    const rv = wire.RequestVoteResponse.encode({
      term: TOO_BIG,
      granted: true,
      leaderId: '',
    }).finish();
    refused(() => decodeResponse('requestVote', rv), /term/);
    const ae = wire.AppendEntriesResponse.encode({
      term: 5n,
      success: false,
      lastLogIndex: 1n,
      conflictTerm: 1n,
      conflictIndex: TOO_BIG,
    }).finish();
    refused(() => decodeResponse('appendEntries', ae), /conflictIndex/);
    const ri = wire.ReadIndexResponse.encode({
      term: 5n,
      success: true,
      readIndex: TOO_BIG,
    }).finish();
    refused(() => decodeResponse('readIndex', ri), /readIndex/);
  });

  it('a snapshot chunk that would end beyond 2^53 bytes is refused', () => {
    refused(
      () => decodeRequest('installSnapshot', snapshot({ offset: TOO_BIG - 2n })),
      /beyond 2\^53/,
    );
  });
});

describe('ids are non-empty, bounded and printable', () => {
  it('an empty sender or receiver is refused', () => {
    refused(
      () => decodeRequest('requestVote', vote({ header: header({ from: '' }) })),
      /from is empty/,
    );
    refused(
      () => decodeRequest('requestVote', vote({ header: header({ to: '' }) })),
      /to is empty/,
    );
  });

  it(`a peer id of ${WIRE_LIMITS.maxIdLength} characters passes, one more is refused`, () => {
    const ok = 'p'.repeat(WIRE_LIMITS.maxIdLength);
    expect(decodeRequest('requestVote', vote({ header: header({ from: ok }) })).from).toBe(ok);
    refused(
      () => decodeRequest('requestVote', vote({ header: header({ from: `${ok}p` }) })),
      /from is 257 characters long/,
    );
  });

  it('a group id beyond the bound is refused', () => {
    refused(
      () =>
        decodeRequest(
          'readIndex',
          wire.ReadIndexRequest.encode({
            header: header({ groupId: 'g'.repeat(10_000) }),
          }).finish(),
        ),
      /group id is 10000 characters long/,
    );
  });

  it('an id with a control character (a forged log line) is refused', () => {
    refused(
      () => decodeRequest('requestVote', vote({ header: header({ from: 'n1\nINFO leader n9' }) })),
      /control character/,
    );
    refused(
      () => decodeRequest('requestVote', vote({ header: header({ groupId: 'g\u0000' }) })),
      /control character/,
    );
  });

  it('a disrupted leader without an id, or of a later term than the candidate, is refused', () => {
    refused(
      () => decodeRequest('requestVote', vote({ disruptedLeader: { peerId: '', term: 4n } })),
      /disruptedLeader.peerId is empty/,
    );
    refused(
      () => decodeRequest('requestVote', vote({ disruptedLeader: { peerId: 'n3', term: 6n } })),
      /disruptedLeader.term 6 is above the sender's term 5/,
    );
  });
});

describe('messages are what an honest sender sends', () => {
  it('a candidate whose last entry is of a later term than its own is refused', () => {
    refused(
      () => decodeRequest('requestVote', vote({ lastLogTerm: 6n })),
      /lastLogTerm 6 is above/,
    );
  });

  it('entries must follow prevLogIndex without a gap', () => {
    refused(
      () => decodeRequest('appendEntries', append({ entries: [entry(12n, 4n)] })),
      /entry 0 has index 12; expected 11/,
    );
    refused(
      () => decodeRequest('appendEntries', append({ entries: [entry(11n, 4n), entry(11n, 4n)] })),
      /entry 1 has index 11; expected 12/,
    );
  });

  it('entry terms never go down, and never below prevLogTerm', () => {
    refused(
      () => decodeRequest('appendEntries', append({ entries: [entry(11n, 5n), entry(12n, 4n)] })),
      /entry 12 has term 4, below 5/,
    );
    refused(() => decodeRequest('appendEntries', append({ entries: [entry(11n, 3n)] })), /below 4/);
  });

  it('no entry, nor prevLogTerm, of a term after the leader’s own', () => {
    refused(
      () => decodeRequest('appendEntries', append({ entries: [entry(11n, 6n)] })),
      /entry 11's term 6 is above/,
    );
    refused(
      () => decodeRequest('appendEntries', append({ prevLogTerm: 6n, entries: [] })),
      /prevLogTerm 6 is above/,
    );
  });

  it(`more than ${WIRE_LIMITS.maxEntries} entries in one AppendEntries are refused`, () => {
    const entries = Array.from({ length: WIRE_LIMITS.maxEntries + 1 }, (_, i) =>
      entry(BigInt(i + 1), 1n),
    );
    refused(
      () => decodeRequest('appendEntries', append({ prevLogIndex: 0n, prevLogTerm: 0n, entries })),
      /1000001 entries/,
    );
  });

  it('a snapshot must cover an entry, of a term no later than the sender’s', () => {
    refused(
      () => decodeRequest('installSnapshot', snapshot({}, { lastIncludedIndex: 0n })),
      /index 1 or more/,
    );
    refused(
      () => decodeRequest('installSnapshot', snapshot({}, { lastIncludedTerm: 6n })),
      /lastIncludedTerm 6 is above/,
    );
  });
});

describe('configurations are well-formed', () => {
  const withConf = (c: Partial<wire.Configuration>) => () =>
    decodeRequest('installSnapshot', snapshot({}, { configuration: conf(c) }));

  it('no voters at all is refused', () => refused(withConf({ voters: [] }), /voters is empty/));
  it('a voter listed twice is refused', () =>
    refused(withConf({ voters: ['n1', 'n1'] }), /names n1 twice/));
  it('an empty member id is refused', () =>
    refused(withConf({ learners: [''] }), /learners entry is empty/));
  it('a learner that is also a voter is refused', () =>
    refused(withConf({ learners: ['n2'] }), /n2 is both a voter and a learner/));
  it('a voter being demoted (an old voter and a learner) passes', () => {
    const r = withConf({ voters: ['n1', 'n2'], oldVoters: ['n1', 'n2', 'n3'], learners: ['n3'] })();
    expect(r.meta.configuration).toEqual({
      voters: ['n1', 'n2'],
      oldVoters: ['n1', 'n2', 'n3'],
      learners: ['n3'],
    });
  });
  it(`more than ${WIRE_LIMITS.maxMembers} members in a list are refused`, () => {
    const many = Array.from({ length: WIRE_LIMITS.maxMembers + 1 }, (_, i) => `n${i}`);
    refused(withConf({ voters: many }), /lists 1025 peers/);
  });
});

describe('envelopes: a bad request fails only its call, connection-level fields are bounded', () => {
  it('an invalid request body comes back as an `invalid` frame for that call id', () => {
    const bytes = wire.Envelope.encode({
      callId: 7n,
      method: wire.Method.METHOD_REQUEST_VOTE,
      timeoutMs: 0,
      body: {
        $case: 'requestVoteRequest',
        value: wire.RequestVoteRequest.decode(vote({ header: header({ term: TOO_BIG }) })),
      },
    }).finish();
    const frame = decodeFrame(bytes);
    expect(frame.kind).toBe('invalid');
    expect(frame).toMatchObject({ callId: 7, error: { code: 'BAD_REQUEST' } });
  });

  it('a hello with an oversized token is not a hello', () => {
    const frame = decodeFrame(
      encodeHello(PROTOCOL_VERSION, 't'.repeat(WIRE_LIMITS.maxTokenLength + 1)),
    );
    expect(frame.kind).toBe('invalid');
  });

  it("an error's long message is cut and its malformed ids dropped", () => {
    const bytes = wire.Envelope.encode({
      callId: 3n,
      method: wire.Method.METHOD_UNSPECIFIED,
      timeoutMs: 0,
      body: {
        $case: 'error',
        value: {
          code: 'NOT_LEADER',
          message: 'x'.repeat(100_000),
          leaderId: 'n2\r\nforged',
          groupId: '',
          peerId: '',
        },
      },
    }).finish();
    const frame = decodeFrame(bytes);
    if (frame.kind !== 'error') throw new Error(`expected an error frame, got ${frame.kind}`);
    expect(frame.error.code).toBe('NOT_LEADER');
    expect(frame.error.message.length).toBeLessThanOrEqual(WIRE_LIMITS.maxErrorMessageLength + 3);
    expect((frame.error as { leaderId?: string }).leaderId).toBeUndefined();
  });

  it('a well-formed error keeps its leader id', () => {
    const frame = decodeFrame(
      encodeErrorFrame(4, Object.assign(new RaftError('NOT_LEADER', 'no'), { leaderId: 'n3' })),
    );
    expect(frame).toMatchObject({ kind: 'error', error: { code: 'NOT_LEADER', leaderId: 'n3' } });
  });
});

describe('a valid request still decodes to exactly what was sent', () => {
  it('an AppendEntries at the edges of every rule', () => {
    const request = {
      groupId: '',
      from: 'n1',
      to: 'p'.repeat(WIRE_LIMITS.maxIdLength),
      term: MAX,
      prevLogIndex: MAX - 2,
      prevLogTerm: MAX,
      leaderCommit: MAX,
      entries: [
        { index: MAX - 1, term: MAX, type: EntryType.Data, data: new Uint8Array([1]) },
        { index: MAX, term: MAX, type: EntryType.Configuration, data: new Uint8Array([2]) },
      ],
    };
    expect(decodeRequest('appendEntries', encodeRequest('appendEntries', request))).toEqual(
      request,
    );
  });
});
