import type { RpcHandler, Transport } from '@kontiki/core';
import {
  encodeBatch,
  encodeHello,
  encodeRequestFrame,
  encodeResponseFrame,
  PROTOCOL_VERSION,
  wire,
} from '@kontiki/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { CloseCode, type WsTransport, wsTransport } from '../src/index.js';
import { type RawClient, rawClient } from './support/raw-client.js';

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

describe('bad input on the WebSocket endpoint harms only the connection that sent it', () => {
  let server: WsTransport;
  let good: Transport;
  let counter: { calls: number };
  let url: string;
  const raws: RawClient[] = [];
  const request = (groupId = 'g') => ({ groupId, from: 'raw', to: server.address ?? '', term: 3 });
  const connect = async () => {
    const raw = await rawClient(url);
    raws.push(raw);
    return raw;
  };

  beforeEach(async () => {
    server = await wsTransport({
      listen: '127.0.0.1:0',
      token: 'open sesame',
      maxPayloadBytes: 1024 * 1024,
      // Long enough for a loaded machine to deliver a hello; the no-hello test waits it out.
      helloTimeoutMs: 2000,
    });
    const counting = countingHandler();
    counter = counting.counter;
    server.serve('g', counting.handler);
    url = `ws://${server.address}/kontiki`;
    good = await wsTransport({ token: 'open sesame' });
    // A connection that behaves, open through every bad one below.
    expect(await good.call('readIndex', request(), { timeoutMs: 5000 })).toMatchObject({
      readIndex: 9,
    });
  });

  afterEach(async () => {
    for (const raw of raws.splice(0)) raw.socket.terminate();
    await good.close();
    await server.close();
  });

  /** The good connection still gets answers, and nothing else reached the handler. */
  async function serverCarriesOn(handlerCallsBefore: number): Promise<void> {
    expect(counter.calls).toBe(handlerCallsBefore);
    expect(await good.call('readIndex', request(), { timeoutMs: 5000 })).toMatchObject({
      readIndex: 9,
    });
    expect(counter.calls).toBe(handlerCallsBefore + 1);
  }

  it('garbage bytes get a BAD_REQUEST and close that connection (1003)', async () => {
    const raw = await connect();
    raw.socket.send(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x01]));
    expect(await raw.closed).toMatchObject({ code: CloseCode.UNSUPPORTED_DATA });
    expect(raw.frames).toMatchObject([
      { kind: 'error', callId: 0, error: { code: 'BAD_REQUEST' } },
    ]);
    await serverCarriesOn(1);
  });

  it('a text frame closes that connection (1003)', async () => {
    const raw = await connect();
    raw.socket.send('{"method":"appendEntries"}');
    expect((await raw.closed).code).toBe(CloseCode.UNSUPPORTED_DATA);
    await serverCarriesOn(1);
  });

  it('a request before the hello is refused as UNAUTHENTICATED (1008)', async () => {
    const raw = await connect();
    raw.socket.send(encodeRequestFrame(1, 'readIndex', request()));
    expect((await raw.closed).code).toBe(CloseCode.POLICY_VIOLATION);
    expect(raw.frames).toMatchObject([
      { kind: 'error', callId: 0, error: { code: 'UNAUTHENTICATED' } },
    ]);
    await serverCarriesOn(1);
  });

  it('a wrong token is refused as UNAUTHENTICATED (1008), even with requests right behind it', async () => {
    const raw = await connect();
    raw.socket.send(encodeHello(PROTOCOL_VERSION, 'guess'));
    raw.socket.send(encodeRequestFrame(1, 'readIndex', request()));
    expect((await raw.closed).code).toBe(CloseCode.POLICY_VIOLATION);
    expect(raw.frames).toMatchObject([
      { kind: 'error', callId: 0, error: { code: 'UNAUTHENTICATED', message: 'wrong token' } },
    ]);
    await serverCarriesOn(1);
  });

  it('another protocol version is refused with BAD_REQUEST (1008)', async () => {
    const raw = await connect();
    raw.socket.send(encodeHello(PROTOCOL_VERSION + 1, 'open sesame'));
    expect((await raw.closed).code).toBe(CloseCode.POLICY_VIOLATION);
    expect(raw.frames).toMatchObject([
      { kind: 'error', callId: 0, error: { code: 'BAD_REQUEST' } },
    ]);
    await serverCarriesOn(1);
  });

  it('a client that never says hello is closed after helloTimeoutMs', async () => {
    const raw = await connect();
    expect((await raw.closed).code).toBe(CloseCode.POLICY_VIOLATION);
    expect(raw.frames).toMatchObject([
      { kind: 'error', callId: 0, error: { code: 'UNAUTHENTICATED' } },
    ]);
    await serverCarriesOn(1);
  });

  it('an unknown method gets BAD_REQUEST for that call; the connection goes on', async () => {
    const raw = await connect();
    raw.socket.send(encodeHello(PROTOCOL_VERSION, 'open sesame'));
    raw.socket.send(
      wire.Envelope.encode({
        callId: 1n,
        method: 77 as wire.Method,
        timeoutMs: 0,
        body: {
          $case: 'readIndexRequest',
          value: { header: { groupId: 'g', from: 'raw', to: 'x', term: 3n } },
        },
      }).finish(),
    );
    raw.socket.send(encodeRequestFrame(2, 'readIndex', request()));
    expect(await raw.framesIn(2)).toMatchObject([
      { kind: 'error', callId: 1, error: { code: 'BAD_REQUEST' } },
      { kind: 'response', callId: 2, response: { readIndex: 9 } },
    ]);
    await serverCarriesOn(2);
  });

  it('requests batched in one frame are each answered, the answers of one turn in one frame; a bad envelope in the batch fails only its call', async () => {
    const raw = await connect();
    raw.socket.send(encodeHello(PROTOCOL_VERSION, 'open sesame'));
    const unknown = wire.Envelope.encode({
      callId: 2n,
      method: 77 as wire.Method,
      timeoutMs: 0,
      body: {
        $case: 'readIndexRequest',
        value: { header: { groupId: 'g', from: 'raw', to: 'x', term: 3n } },
      },
    }).finish();
    raw.socket.send(
      encodeBatch([
        encodeRequestFrame(1, 'readIndex', request()),
        unknown,
        encodeRequestFrame(3, 'readIndex', request()),
      ]),
    );
    const frames = [...(await raw.framesIn(3))].sort((a, b) =>
      'callId' in a && 'callId' in b ? a.callId - b.callId : 0,
    );
    expect(frames).toMatchObject([
      { kind: 'response', callId: 1, response: { readIndex: 9 } },
      { kind: 'error', callId: 2, error: { code: 'BAD_REQUEST' } },
      { kind: 'response', callId: 3, response: { readIndex: 9 } },
    ]);
    expect(raw.messages()).toBe(1);
    await serverCarriesOn(3);
  });

  it('a batch that runs past its end closes that connection (1003)', async () => {
    const raw = await connect();
    raw.socket.send(encodeHello(PROTOCOL_VERSION, 'open sesame'));
    const batch = encodeBatch([encodeRequestFrame(1, 'readIndex', request())]);
    raw.socket.send(batch.subarray(0, batch.length - 2));
    expect((await raw.closed).code).toBe(CloseCode.UNSUPPORTED_DATA);
    await serverCarriesOn(1);
  });

  it('a request for a group the endpoint does not host gets UNKNOWN_GROUP', async () => {
    const raw = await connect();
    raw.socket.send(encodeHello(PROTOCOL_VERSION, 'open sesame'));
    raw.socket.send(encodeRequestFrame(1, 'readIndex', request('elsewhere')));
    expect(await raw.framesIn(1)).toMatchObject([
      { kind: 'error', callId: 1, error: { code: 'UNKNOWN_GROUP' } },
    ]);
    await serverCarriesOn(1);
  });

  it('a frame a client may not send (an answer) closes that connection', async () => {
    const raw = await connect();
    raw.socket.send(encodeHello(PROTOCOL_VERSION, 'open sesame'));
    raw.socket.send(encodeResponseFrame(1, 'readIndex', { term: 1, success: true, readIndex: 1 }));
    expect((await raw.closed).code).toBe(CloseCode.POLICY_VIOLATION);
    await serverCarriesOn(1);
  });

  it('a frame above maxPayloadBytes closes that connection (1009)', async () => {
    const raw = await connect();
    raw.socket.send(encodeHello(PROTOCOL_VERSION, 'open sesame'));
    raw.socket.send(new Uint8Array(2 * 1024 * 1024));
    expect((await raw.closed).code).toBe(CloseCode.TOO_BIG);
    await serverCarriesOn(1);
  });

  it('a transport with the wrong token gets UNAUTHENTICATED on its calls', async () => {
    const intruder = await wsTransport({ token: 'wrong' });
    try {
      await expect(
        intruder.call('readIndex', request(), { timeoutMs: 5000 }),
      ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    } finally {
      await intruder.close();
    }
    await serverCarriesOn(1);
  });

  it('a call above maxPayloadBytes fails with BAD_REQUEST before it is sent', async () => {
    const small = await wsTransport({ token: 'open sesame', maxPayloadBytes: 1024 });
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
      expect(await small.call('readIndex', request(), { timeoutMs: 5000 })).toMatchObject({
        readIndex: 9,
      });
    } finally {
      await small.close();
    }
    await serverCarriesOn(2);
  });
});

describe('bounds: nothing grows without limit', () => {
  const opened: Transport[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
  });

  async function hangingServer(options: Parameters<typeof wsTransport>[0] = {}) {
    const server = await wsTransport({ listen: '127.0.0.1:0', ...options });
    opened.push(server);
    const received: number[] = [];
    const { handler } = countingHandler();
    server.serve('g', {
      ...handler,
      timeoutNow: (r) => {
        received.push(r.term);
        return new Promise(() => {});
      },
    });
    return { server, received, to: server.address ?? '' };
  }

  it('calls beyond maxPendingCalls to one peer fail with BUSY on the caller', async () => {
    const { to } = await hangingServer();
    const client = await wsTransport({ maxPendingCalls: 3 });
    opened.push(client);
    const pending = [1, 2, 3].map((term) =>
      client
        .call('timeoutNow', { groupId: 'g', from: 'c', to, term }, { timeoutMs: 60_000 })
        .catch((e: unknown) => e),
    );
    await expect(
      client.call('timeoutNow', { groupId: 'g', from: 'c', to, term: 4 }),
    ).rejects.toMatchObject({ code: 'BUSY' });
    await client.close();
    expect(await Promise.all(pending)).toMatchObject([
      { code: 'SHUTDOWN' },
      { code: 'SHUTDOWN' },
      { code: 'SHUTDOWN' },
    ]);
  });

  it('requests beyond the server bound on one connection are answered BUSY without reaching the handler', async () => {
    const { to, received } = await hangingServer({ maxPendingCalls: 2 });
    const client = await wsTransport({});
    opened.push(client);
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

  it('bytes beyond maxBufferedBytes fail with BUSY instead of queueing', async () => {
    const { to } = await hangingServer();
    const client = await wsTransport({ maxBufferedBytes: 64 * 1024 });
    opened.push(client);
    const snapshot = (data: Uint8Array) => ({
      groupId: 'g',
      from: 'c',
      to,
      term: 1,
      meta: { lastIncludedIndex: 1, lastIncludedTerm: 1, configuration: { voters: ['a'] } },
      offset: 0,
      data,
      done: false,
    });
    // The connection is not open yet: the first call waits in the queue, the second would overflow it.
    const first = client
      .call('installSnapshot', snapshot(new Uint8Array(40 * 1024)), { timeoutMs: 60_000 })
      .catch((e: unknown) => e);
    await expect(
      client.call('installSnapshot', snapshot(new Uint8Array(40 * 1024))),
    ).rejects.toMatchObject({ code: 'BUSY' });
    await client.close();
    await first;
  });

  it('peer ids that are names reach their URLs through the `peers` resolver', async () => {
    const server = await wsTransport({ listen: '127.0.0.1:0' });
    opened.push(server);
    server.serve('g', countingHandler().handler);
    const client = await wsTransport({
      peers: (id) => (id === 'n2' ? `ws://${server.address}/kontiki` : undefined),
    });
    opened.push(client);
    expect(
      await client.call(
        'readIndex',
        { groupId: 'g', from: 'n1', to: 'n2', term: 2 },
        { timeoutMs: 5000 },
      ),
    ).toMatchObject({ readIndex: 9 });
    await expect(
      client.call('readIndex', { groupId: 'g', from: 'n1', to: 'n3', term: 2 }),
    ).rejects.toMatchObject({ code: 'UNREACHABLE' });
  });

  it('a peer that is down fails calls fast with UNREACHABLE and backs off before retrying', async () => {
    const client = await wsTransport({ reconnectBackoff: { initialMs: 60_000, maxMs: 60_000 } });
    opened.push(client);
    // Port 1 on loopback refuses connections.
    const first = client.call('timeoutNow', {
      groupId: 'g',
      from: 'c',
      to: '127.0.0.1:1',
      term: 1,
    });
    await expect(first).rejects.toMatchObject({
      code: 'UNREACHABLE',
      message: expect.stringMatching(/cannot connect/),
    });
    const second = client.call('timeoutNow', {
      groupId: 'g',
      from: 'c',
      to: '127.0.0.1:1',
      term: 1,
    });
    await expect(second).rejects.toMatchObject({
      code: 'UNREACHABLE',
      message: expect.stringMatching(/next attempt in/),
    });
  });
});

describe('dead connections are detected by ping/pong', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('a server that stops answering pings is dropped and its pending calls fail with UNREACHABLE', async () => {
    // A WebSocket server that accepts the connection, then neither answers nor pongs.
    const mute = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: false });
    await new Promise<void>((resolve) => mute.once('listening', () => resolve()));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const c of mute.clients) c.terminate();
          mute.close(() => resolve());
        }),
    );
    const port = (mute.address() as { port: number }).port;
    const client = await wsTransport({ pingIntervalMs: 50 });
    cleanups.push(() => client.close());
    const call = client.call(
      'timeoutNow',
      { groupId: 'g', from: 'c', to: `127.0.0.1:${port}`, term: 1 },
      { timeoutMs: 60_000 },
    );
    await expect(call).rejects.toMatchObject({ code: 'UNREACHABLE' });
  });

  it('a client that stops answering pings is dropped by the server', async () => {
    const server = await wsTransport({ listen: '127.0.0.1:0', pingIntervalMs: 50 });
    cleanups.push(() => server.close());
    const mute = new WebSocket(`ws://${server.address}/kontiki`, { autoPong: false });
    mute.on('error', () => {});
    const closed = new Promise<number>((resolve) => mute.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => mute.once('open', () => resolve()));
    mute.send(encodeHello(PROTOCOL_VERSION, ''));
    // 1006: the server cut the TCP connection without a close frame (terminate).
    expect(await closed).toBe(1006);
  });
});
