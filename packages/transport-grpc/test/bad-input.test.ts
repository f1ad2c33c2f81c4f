import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { RpcHandler, Transport } from '@kontiki/core';
import {
  decodeFrame,
  encodeBatch,
  encodeHello,
  encodeRequestFrame,
  PROTOCOL_VERSION,
  splitBatch,
  wire,
} from '@kontiki/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ERROR_CODE_KEY,
  type GrpcTransport,
  grpcTransport,
  PROTOCOL_VERSION_KEY,
} from '../src/index.js';

const PATH = '/kontiki.raft.v1.RaftService/Exchange';
const asBuffer = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const identity = (bytes: Buffer) => bytes;

/** A handler that counts what reaches it. */
function countingHandler() {
  const counter = { calls: 0 };
  const count = () => {
    counter.calls++;
  };
  const handler: RpcHandler = {
    requestVote: async (r) => {
      count();
      return { term: r.term, granted: true };
    },
    appendEntries: async (r) => {
      count();
      return { term: r.term, success: true, lastLogIndex: 0 };
    },
    installSnapshot: async (r) => {
      count();
      return { term: r.term, success: true };
    },
    timeoutNow: async (r) => {
      count();
      return { term: r.term, success: true };
    },
    readIndex: async (r) => {
      count();
      return { term: r.term, success: true, readIndex: 9 };
    },
  };
  return { counter, handler };
}

interface RawOutcome {
  /** The envelopes that came back (a batch counts as the envelopes in it). */
  readonly frames: Uint8Array[];
  /** The gRPC messages they came in. */
  readonly messages: number;
  readonly status: { code: number; details: string; kontikiCode: string | undefined };
}

/** Opens a raw Exchange stream, writes `messages`, and collects what comes back until the stream ends. */
function rawExchange(
  client: Client,
  messages: Uint8Array[],
  options: { version?: string | null; endAfterFrames?: number } = {},
): Promise<RawOutcome> {
  const metadata = new Metadata();
  if (options.version !== null)
    metadata.set(PROTOCOL_VERSION_KEY, options.version ?? String(PROTOCOL_VERSION));
  const stream = client.makeBidiStreamRequest<Buffer, Buffer>(PATH, identity, identity, metadata, {
    deadline: Date.now() + 10_000,
  });
  const frames: Uint8Array[] = [];
  let received = 0;
  stream.on('data', (message: Buffer) => {
    received++;
    const before = frames.length;
    frames.push(...splitBatch(new Uint8Array(message.buffer, message.byteOffset, message.length)));
    // A well-behaved exchange stays open: end our side once the expected answers are in.
    const end = options.endAfterFrames;
    if (end !== undefined && before < end && frames.length >= end) stream.end();
  });
  return new Promise((resolve) => {
    stream.on('error', (_error: ServiceError) => {});
    stream.on('status', (s) => {
      const code = s.metadata.get(ERROR_CODE_KEY)[0];
      resolve({
        frames,
        messages: received,
        status: {
          code: s.code,
          details: s.details,
          kontikiCode: typeof code === 'string' ? code : undefined,
        },
      });
    });
    for (const m of messages) stream.write(asBuffer(m));
  });
}

describe('bad input on the gRPC endpoint harms only the connection that sent it', () => {
  let server: GrpcTransport;
  let good: Transport;
  let raw: Client;
  let counter: { calls: number };
  const request = (groupId = 'g') => ({ groupId, from: 'raw', to: server.address ?? '', term: 3 });

  beforeEach(async () => {
    server = await grpcTransport({ listen: '127.0.0.1:0', maxMessageBytes: 1024 * 1024 });
    const counting = countingHandler();
    counter = counting.counter;
    server.serve('g', counting.handler);
    good = await grpcTransport({});
    raw = new Client(server.address ?? '', credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
    });
  });

  afterEach(async () => {
    raw.close();
    await good.close();
    await server.close();
  });

  /** The server still answers a well-behaved caller, and nothing else reached the handler. */
  async function serverCarriesOn(handlerCallsBefore: number): Promise<void> {
    expect(counter.calls).toBe(handlerCallsBefore);
    expect(await good.call('readIndex', request(), { timeoutMs: 5000 })).toEqual({
      term: 3,
      success: true,
      readIndex: 9,
    });
    expect(counter.calls).toBe(handlerCallsBefore + 1);
  }

  it('garbage bytes end that stream with INVALID_ARGUMENT and BAD_REQUEST', async () => {
    const outcome = await rawExchange(raw, [new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x01, 0x02])]);
    expect(outcome.status).toMatchObject({
      code: status.INVALID_ARGUMENT,
      kontikiCode: 'BAD_REQUEST',
    });
    await serverCarriesOn(0);
  });

  it('a stream without the protocol version is refused', async () => {
    const outcome = await rawExchange(raw, [encodeRequestFrame(1, 'readIndex', request())], {
      version: null,
    });
    expect(outcome.status).toMatchObject({
      code: status.INVALID_ARGUMENT,
      kontikiCode: 'BAD_REQUEST',
    });
    expect(outcome.status.details).toMatch(/protocol version/);
    await serverCarriesOn(0);
  });

  it('a stream of another protocol version is refused', async () => {
    const outcome = await rawExchange(raw, [encodeRequestFrame(1, 'readIndex', request())], {
      version: '999',
    });
    expect(outcome.status.kontikiCode).toBe('BAD_REQUEST');
    await serverCarriesOn(0);
  });

  it('an unknown method gets BAD_REQUEST for that call, and the stream goes on', async () => {
    const unknown = wire.Envelope.encode({
      callId: 1n,
      method: 42 as wire.Method,
      timeoutMs: 0,
      body: {
        $case: 'readIndexRequest',
        value: { header: { groupId: 'g', from: 'raw', to: 'x', term: 3n } },
      },
    }).finish();
    const outcome = await rawExchange(
      raw,
      [unknown, encodeRequestFrame(2, 'readIndex', request())],
      { endAfterFrames: 2 },
    );
    const frames = outcome.frames.map((f) => decodeFrame(f));
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatchObject({ kind: 'error', callId: 1, error: { code: 'BAD_REQUEST' } });
    expect(frames[1]).toMatchObject({ kind: 'response', callId: 2, response: { readIndex: 9 } });
    expect(outcome.status.code).toBe(status.OK);
    await serverCarriesOn(1);
  });

  it('requests batched in one message are each answered, the answers of one turn in one message; a bad envelope in the batch fails only its call', async () => {
    const unknown = wire.Envelope.encode({
      callId: 2n,
      method: 42 as wire.Method,
      timeoutMs: 0,
      body: {
        $case: 'readIndexRequest',
        value: { header: { groupId: 'g', from: 'raw', to: 'x', term: 3n } },
      },
    }).finish();
    const batch = encodeBatch([
      encodeRequestFrame(1, 'readIndex', request()),
      unknown,
      encodeRequestFrame(3, 'readIndex', request()),
    ]);
    const outcome = await rawExchange(raw, [batch], { endAfterFrames: 3 });
    const frames = outcome.frames
      .map((f) => decodeFrame(f))
      .sort((a, b) => ('callId' in a && 'callId' in b ? a.callId - b.callId : 0));
    expect(frames).toMatchObject([
      { kind: 'response', callId: 1, response: { readIndex: 9 } },
      { kind: 'error', callId: 2, error: { code: 'BAD_REQUEST' } },
      { kind: 'response', callId: 3, response: { readIndex: 9 } },
    ]);
    expect(outcome.messages).toBe(1);
    expect(outcome.status.code).toBe(status.OK);
    await serverCarriesOn(2);
  });

  it('a batch that runs past its end ends that stream with BAD_REQUEST', async () => {
    const batch = encodeBatch([encodeRequestFrame(1, 'readIndex', request())]);
    const outcome = await rawExchange(raw, [batch.subarray(0, batch.length - 2)]);
    expect(outcome.status).toMatchObject({
      code: status.INVALID_ARGUMENT,
      kontikiCode: 'BAD_REQUEST',
    });
    await serverCarriesOn(0);
  });

  it('a request for a group the endpoint does not host gets UNKNOWN_GROUP', async () => {
    const outcome = await rawExchange(
      raw,
      [encodeRequestFrame(1, 'readIndex', request('elsewhere'))],
      { endAfterFrames: 1 },
    );
    expect(outcome.frames.map((f) => decodeFrame(f))).toMatchObject([
      { kind: 'error', callId: 1, error: { code: 'UNKNOWN_GROUP' } },
    ]);
    await serverCarriesOn(0);
  });

  it('a frame a client may not send (a hello, an answer) ends that stream', async () => {
    const outcome = await rawExchange(raw, [encodeHello(PROTOCOL_VERSION, '')]);
    expect(outcome.status).toMatchObject({
      code: status.INVALID_ARGUMENT,
      kontikiCode: 'BAD_REQUEST',
    });
    await serverCarriesOn(0);
  });

  it('a message above maxMessageBytes ends that stream with RESOURCE_EXHAUSTED', async () => {
    const big = encodeRequestFrame(1, 'installSnapshot', {
      ...request(),
      meta: { lastIncludedIndex: 1, lastIncludedTerm: 1, configuration: { voters: ['a'] } },
      offset: 0,
      data: new Uint8Array(2 * 1024 * 1024),
      done: true,
    });
    const outcome = await rawExchange(raw, [big]);
    expect(outcome.status.code).toBe(status.RESOURCE_EXHAUSTED);
    await serverCarriesOn(0);
  });

  it('a call above maxMessageBytes fails with BAD_REQUEST before it is sent', async () => {
    const small = await grpcTransport({ maxMessageBytes: 1024 });
    try {
      const call = small.call(
        'appendEntries',
        {
          ...request(),
          prevLogIndex: 0,
          prevLogTerm: 0,
          leaderCommit: 0,
          entries: [{ index: 1, term: 1, type: 1, data: new Uint8Array(4096) }],
        },
        { timeoutMs: 5000 },
      );
      await expect(call).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      // The connection is unharmed: a small call on it still succeeds.
      expect(await small.call('readIndex', request(), { timeoutMs: 5000 })).toMatchObject({
        readIndex: 9,
      });
    } finally {
      await small.close();
    }
    await serverCarriesOn(1);
  });

  it('a call to a method the service does not have gets UNIMPLEMENTED', async () => {
    const outcome = await new Promise<number>((resolve) => {
      raw.makeUnaryRequest(
        '/kontiki.raft.v1.RaftService/Nope',
        identity,
        identity,
        Buffer.from([1, 2, 3]),
        (error) => {
          resolve(error?.code ?? status.OK);
        },
      );
    });
    expect(outcome).toBe(status.UNIMPLEMENTED);
    await serverCarriesOn(0);
  });
});

describe('limits of the calling side', () => {
  const opened: Transport[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
  });

  it('calls beyond maxPendingCalls to one peer fail with BUSY, without reaching it', async () => {
    const server = await grpcTransport({ listen: '127.0.0.1:0' });
    opened.push(server);
    let received = 0;
    const { handler } = countingHandler();
    server.serve('g', {
      ...handler,
      timeoutNow: () => {
        received++;
        return new Promise(() => {});
      },
    });
    const client = await grpcTransport({ maxPendingCalls: 3 });
    opened.push(client);
    const to = server.address ?? '';
    const pending = [1, 2, 3].map((term) =>
      client
        .call('timeoutNow', { groupId: 'g', from: 'c', to, term }, { timeoutMs: 60_000 })
        .catch((e: unknown) => e),
    );
    await expect(
      client.call('timeoutNow', { groupId: 'g', from: 'c', to, term: 4 }, { timeoutMs: 60_000 }),
    ).rejects.toMatchObject({ code: 'BUSY' });
    await client.close();
    expect(await Promise.all(pending)).toHaveLength(3);
    expect(received).toBeLessThanOrEqual(3);
  });

  it('requests beyond the server bound on one stream are answered BUSY without reaching the handler', async () => {
    const server = await grpcTransport({ listen: '127.0.0.1:0', maxPendingCalls: 2 });
    opened.push(server);
    const received: number[] = [];
    server.serve('g', {
      ...countingHandler().handler,
      timeoutNow: (r) => {
        received.push(r.term);
        return new Promise(() => {});
      },
    });
    const client = await grpcTransport({});
    opened.push(client);
    const to = server.address ?? '';
    const calls = [1, 2, 3, 4].map((term) =>
      client.call('timeoutNow', { groupId: 'g', from: 'c', to, term }, { timeoutMs: 60_000 }),
    );
    await expect(calls[2]).rejects.toMatchObject({ code: 'BUSY' });
    await expect(calls[3]).rejects.toMatchObject({ code: 'BUSY' });
    expect(received).toEqual([1, 2]);
    const rest = calls.slice(0, 2).map((c) => c.catch((e: unknown) => e));
    await client.close();
    await Promise.all(rest);
  });

  it('peer ids that are names reach their addresses through the `peers` map', async () => {
    const server = await grpcTransport({ listen: '127.0.0.1:0' });
    opened.push(server);
    server.serve('g', countingHandler().handler);
    const client = await grpcTransport({ peers: new Map([['n2', server.address ?? '']]) });
    opened.push(client);
    expect(
      await client.call(
        'readIndex',
        { groupId: 'g', from: 'n1', to: 'n2', term: 2 },
        { timeoutMs: 5000 },
      ),
    ).toMatchObject({ readIndex: 9 });
  });

  it('a peer id without an address fails with UNREACHABLE', async () => {
    const client = await grpcTransport({ peers: { n1: '127.0.0.1:1' } });
    opened.push(client);
    await expect(
      client.call('timeoutNow', { groupId: 'g', from: 'c', to: 'n2', term: 1 }),
    ).rejects.toMatchObject({ code: 'UNREACHABLE' });
  });

  it('bad options fail at creation with INVALID_OPTION', async () => {
    await expect(grpcTransport({ listen: 'no-port' })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
    await expect(grpcTransport({ maxMessageBytes: -1 })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
    await expect(
      grpcTransport({ reconnectBackoff: { initialMs: 500, maxMs: 100 } }),
    ).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });
});
