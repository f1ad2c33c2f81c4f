import { Client, credentials, status } from '@grpc/grpc-js';
import {
  InvalidOptionError,
  type Logger,
  RaftError,
  type Transport,
  UnauthenticatedError,
} from '@kontiki/core';
import { encodeRequestFrame, WIRE_LIMITS } from '@kontiki/protocol';
import { type NodeBehind, nodeBehind, throwawayCa } from '@kontiki/testkit/transport-tools';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GrpcTransport, type GrpcTransportOptions, grpcTransport } from '../src/index.js';
import { rawExchange } from './support/raw-exchange.js';

const TOKEN = 'cluster-secret-0123456789abcdef';
const MAX = WIRE_LIMITS.maxTermOrIndex;

/** A logger that keeps the warnings it is given. */
function warnings(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const noop = () => {};
  const logger: Logger = {
    debug: noop,
    info: noop,
    error: noop,
    warn: (message) => lines.push(message),
    child: () => logger,
  };
  return { logger, lines };
}

/** What a non-member would send to take a follower over: a log entry and a term of 2^53 - 2. */
function takeover(to: string): Uint8Array[] {
  return [
    encodeRequestFrame(1, 'appendEntries', {
      groupId: 'g',
      from: 'intruder',
      to,
      term: MAX,
      prevLogIndex: 0,
      prevLogTerm: 0,
      leaderCommit: 1,
      entries: [{ index: 1, term: MAX, type: 1, data: new TextEncoder().encode('pwned') }],
    }),
    encodeRequestFrame(2, 'requestVote', {
      groupId: 'g',
      from: 'intruder',
      to,
      term: MAX,
      preVote: false,
      lastLogIndex: MAX,
      lastLogTerm: MAX,
    }),
    encodeRequestFrame(3, 'timeoutNow', { groupId: 'g', from: 'intruder', to, term: MAX }),
  ];
}

describe('a gRPC endpoint with a token admits only streams that present it', () => {
  const { logger } = warnings();
  let server: GrpcTransport;
  let behind: NodeBehind;
  let raw: Client;
  const opened: Transport[] = [];

  beforeEach(async () => {
    server = await grpcTransport({ listen: '127.0.0.1:0', token: TOKEN, logger });
    behind = await nodeBehind(server, { peerId: 'n1' });
    raw = new Client(server.address ?? '', credentials.createInsecure());
  });

  afterEach(async () => {
    raw.close();
    await Promise.all(opened.splice(0).map((t) => t.close()));
    await behind.close();
    await server.close();
  });

  const refusedTokens: Array<[string, string | undefined]> = [
    ['no token', undefined],
    ['an empty token', ''],
    ['a wrong token', 'not-the-cluster-secret'],
    ['a prefix of the token', TOKEN.slice(0, 8)],
    ['the token with more after it', `${TOKEN}x`],
  ];
  for (const [what, token] of refusedTokens) {
    it(`a stream with ${what} ends UNAUTHENTICATED and nothing on it reaches the node`, async () => {
      const before = behind.facts();
      const outcome = await rawExchange(raw, takeover('n1'), { token });
      expect(outcome.status).toMatchObject({
        code: status.UNAUTHENTICATED,
        kontikiCode: 'UNAUTHENTICATED',
      });
      expect(outcome.frames).toEqual([]);
      expect(behind.reachedTotal()).toBe(0);
      expect(behind.facts()).toEqual(before);
      // The node still takes writes.
      expect(await behind.write('after')).toBe(before.lastLogIndex + 1);
    });
  }

  it('a transport with the wrong token gets UnauthenticatedError on its calls', async () => {
    const intruder = await grpcTransport({ token: 'guess', logger });
    opened.push(intruder);
    const call = intruder.call(
      'timeoutNow',
      { groupId: 'g', from: 'intruder', to: server.address ?? '', term: MAX },
      { timeoutMs: 5000 },
    );
    await expect(call).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(call).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(behind.reachedTotal()).toBe(0);
  });

  it('a transport without any token is refused the same way', async () => {
    const intruder = await grpcTransport({ logger });
    opened.push(intruder);
    await expect(
      intruder.call(
        'readIndex',
        { groupId: 'g', from: 'n2', to: server.address ?? '', term: 1 },
        { timeoutMs: 5000 },
      ),
    ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(behind.reachedTotal()).toBe(0);
  });

  it('a transport with the token reaches the node', async () => {
    const member = await grpcTransport({
      token: TOKEN,
      logger,
      peers: { n1: server.address ?? '' },
    });
    opened.push(member);
    const term = behind.facts().term;
    // n2 is no voter of the node's group, but the token proves it holds the cluster's secret.
    const answer = await member.call(
      'readIndex',
      { groupId: 'g', from: 'n2', to: 'n1', term },
      { timeoutMs: 5000 },
    );
    expect(answer.term).toBe(term);
    expect(behind.reached.get('readIndex')).toBe(1);
  });
});

describe('under mutual TLS a certificate speaks only for the peer ids it names', () => {
  const ca = throwawayCa();
  const server = ca.issue('n1');
  const n2 = ca.issue('n2');
  const byUri = ca.issue('anonymous', { altNames: ['URI:spiffe://kontiki/n4'] });
  afterAll(() => ca.dispose());
  const opened: Transport[] = [];
  let behind: NodeBehind | undefined;
  afterEach(async () => {
    await behind?.close();
    await Promise.all(opened.splice(0).map((t) => t.close()));
  });

  async function open(options: GrpcTransportOptions): Promise<GrpcTransport> {
    const t = await grpcTransport(options);
    opened.push(t);
    return t;
  }

  async function setup(): Promise<{ address: string; node: NodeBehind }> {
    const endpoint = await open({
      listen: '127.0.0.1:0',
      tls: { ca: ca.ca, ...server, mutual: true },
    });
    behind = await nodeBehind(endpoint, { peerId: 'n1' });
    return { address: endpoint.address ?? '', node: behind };
  }

  it("n2's certificate claiming to be n3 is refused before the node sees the request", async () => {
    const { address, node } = await setup();
    const before = node.facts();
    const client = await open({ tls: { ca: ca.ca, ...n2, mutual: true } });
    const call = client.call(
      'appendEntries',
      {
        groupId: 'g',
        from: 'n3',
        to: address,
        term: before.term + 5,
        prevLogIndex: before.lastLogIndex,
        prevLogTerm: before.lastLogTerm,
        leaderCommit: 0,
        entries: [],
      },
      { timeoutMs: 5000 },
    );
    await expect(call).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(call).rejects.toThrow(/names .*n2, not n3/);
    expect(node.reachedTotal()).toBe(0);
    expect(node.facts()).toEqual(before);
  });

  it('n2 speaking as n2 reaches the node', async () => {
    const { address, node } = await setup();
    const client = await open({ tls: { ca: ca.ca, ...n2, mutual: true }, peers: { n1: address } });
    const term = node.facts().term;
    await client.call('readIndex', { groupId: 'g', from: 'n2', to: 'n1', term });
    expect([...node.senders]).toEqual(['n2']);
  });

  it('a URI subject alternative name is an identity too', async () => {
    const { address, node } = await setup();
    const client = await open({
      tls: { ca: ca.ca, ...byUri, mutual: true },
      peers: { n1: address },
    });
    const term = node.facts().term;
    await client.call('readIndex', {
      groupId: 'g',
      from: 'spiffe://kontiki/n4',
      to: 'n1',
      term,
    });
    await expect(
      client.call('readIndex', { groupId: 'g', from: 'n4', to: 'n1', term }),
    ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect([...node.senders]).toEqual(['spiffe://kontiki/n4']);
  });

  it('with verifyPeerId: false any certificate from the CA may claim any id (the old behaviour)', async () => {
    const endpoint = await open({
      listen: '127.0.0.1:0',
      tls: { ca: ca.ca, ...server, mutual: true, verifyPeerId: false },
    });
    behind = await nodeBehind(endpoint, { peerId: 'n1' });
    const client = await open({
      tls: { ca: ca.ca, ...n2, mutual: true },
      peers: { n1: endpoint.address ?? '' },
    });
    const term = behind.facts().term;
    await client.call('readIndex', { groupId: 'g', from: 'n3', to: 'n1', term });
    expect([...behind.senders]).toEqual(['n3']);
  });
});

describe('an endpoint that authenticates nobody says so, and is not opened to the network', () => {
  const opened: Transport[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
  });

  it('without a token or mutual TLS it warns that anyone who can reach it can rewrite the log', async () => {
    const { logger, lines } = warnings();
    const t = await grpcTransport({ listen: '127.0.0.1:0', logger });
    opened.push(t);
    expect(lines).toEqual([
      expect.stringContaining(
        `anyone who can reach ${t.address} can rewrite this node's log`,
      ) as unknown as string,
    ]);
  });

  it('with a token it does not warn', async () => {
    const { logger, lines } = warnings();
    opened.push(await grpcTransport({ listen: '127.0.0.1:0', token: TOKEN, logger }));
    expect(lines).toEqual([]);
  });

  it('without a logger the warning is a process warning (printed by Node)', async () => {
    const seen: string[] = [];
    const listener = (w: Error & { code?: string }) => {
      if (w.code === 'KONTIKI_UNAUTHENTICATED_ENDPOINT') seen.push(w.message);
    };
    process.on('warning', listener);
    try {
      const t = await grpcTransport({ listen: '127.0.0.1:0' });
      opened.push(t);
      const deadline = Date.now() + 5000;
      // Node emits process warnings on the next tick.
      while (seen.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(seen).toEqual([expect.stringContaining(`${t.address}`) as unknown as string]);
    } finally {
      process.off('warning', listener);
    }
  });

  it('listening beyond loopback without authentication is refused unless allowInsecure', async () => {
    const attempt = grpcTransport({ listen: '0.0.0.0:0' });
    await expect(attempt).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(attempt).rejects.toThrow(/without authentication.*allowInsecure/);
    const error = await attempt.catch((e: unknown) => e);
    expect(RaftError.is(error, 'INVALID_OPTION')).toBe(true);
  });
});
