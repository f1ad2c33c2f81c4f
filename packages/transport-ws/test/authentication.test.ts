import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import {
  InvalidOptionError,
  type Logger,
  type Transport,
  UnauthenticatedError,
} from '@kontiki/core';
import { encodeHello, encodeRequestFrame, PROTOCOL_VERSION, WIRE_LIMITS } from '@kontiki/protocol';
import {
  type NodeBehind,
  type NodeCredentials,
  nodeBehind,
  throwawayCa,
} from '@kontiki/testkit/transport-tools';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  CloseCode,
  type WebSocketConstructor,
  type WsTransport,
  type WsTransportOptions,
  wsTransport,
} from '../src/index.js';
import { rawClient } from './support/raw-client.js';

const TOKEN = 'cluster-secret-0123456789abcdef';
const MAX = WIRE_LIMITS.maxTermOrIndex;

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

/** What a non-member would send to take the node over: a log entry and a term of 2^53 - 2. */
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
  ];
}

describe('a WebSocket endpoint with a token admits only connections whose hello carries it', () => {
  const { logger } = warnings();
  let server: WsTransport;
  let behind: NodeBehind;
  let url: string;
  const opened: Transport[] = [];

  beforeEach(async () => {
    server = await wsTransport({ listen: '127.0.0.1:0', token: TOKEN, logger });
    behind = await nodeBehind(server, { peerId: 'n1' });
    url = `ws://${server.address}/kontiki`;
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
    await behind.close();
    await server.close();
  });

  const hellos: Array<[string, Uint8Array[]]> = [
    ['no hello at all', []],
    ['an empty token', [encodeHello(PROTOCOL_VERSION, '')]],
    ['a wrong token', [encodeHello(PROTOCOL_VERSION, 'not-the-cluster-secret')]],
    ['a prefix of the token', [encodeHello(PROTOCOL_VERSION, TOKEN.slice(0, 8))]],
    ['the token with more after it', [encodeHello(PROTOCOL_VERSION, `${TOKEN}x`)]],
  ];
  for (const [what, hello] of hellos) {
    it(`a connection with ${what} is closed UNAUTHENTICATED and nothing on it reaches the node`, async () => {
      const before = behind.facts();
      const raw = await rawClient(url);
      for (const frame of [...hello, ...takeover('n1')]) raw.socket.send(frame);
      expect((await raw.closed).code).toBe(CloseCode.POLICY_VIOLATION);
      expect(raw.frames).toMatchObject([
        { kind: 'error', callId: 0, error: { code: 'UNAUTHENTICATED' } },
      ]);
      expect(behind.reachedTotal()).toBe(0);
      expect(behind.facts()).toEqual(before);
      expect(await behind.write('after')).toBe(before.lastLogIndex + 1);
    });
  }

  it('a transport with the wrong token gets UnauthenticatedError on its calls', async () => {
    const intruder = await wsTransport({ token: 'guess' });
    opened.push(intruder);
    const call = intruder.call(
      'timeoutNow',
      { groupId: 'g', from: 'intruder', to: server.address ?? '', term: MAX },
      { timeoutMs: 5000 },
    );
    await expect(call).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(behind.reachedTotal()).toBe(0);
  });

  it('a transport with the token reaches the node', async () => {
    const member = await wsTransport({ token: TOKEN, peers: { n1: url } });
    opened.push(member);
    const term = behind.facts().term;
    // n2 is no voter of the node's group, but the token proves it holds the cluster's secret.
    await member.call('readIndex', { groupId: 'g', from: 'n2', to: 'n1', term });
    expect(behind.reached.get('readIndex')).toBe(1);
  });
});

describe('over an HTTPS server that verifies client certificates, a certificate speaks only for its names', () => {
  const ca = throwawayCa();
  const serverCert = ca.issue('n1');
  const n2 = ca.issue('n2');
  afterAll(() => ca.dispose());
  let https: HttpsServer;
  let endpoint: WsTransport;
  let behind: NodeBehind;
  const opened: Transport[] = [];

  beforeEach(async () => {
    https = createHttpsServer({
      ...serverCert,
      ca: ca.ca,
      requestCert: true,
      rejectUnauthorized: true,
    });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    endpoint = await wsTransport({ server: https });
    behind = await nodeBehind(endpoint, { peerId: 'n1' });
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
    await behind.close();
    await endpoint.close();
    await new Promise<void>((resolve) => {
      https.close(() => resolve());
      https.closeAllConnections();
    });
  });

  function clientWith(creds: NodeCredentials): Promise<WsTransport> {
    class TlsWebSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { ...creds, ca: ca.ca });
      }
    }
    const options: WsTransportOptions = {
      WebSocket: TlsWebSocket as unknown as WebSocketConstructor,
      peers: () => `wss://${endpoint.address}/kontiki`,
    };
    return wsTransport(options).then((t) => {
      opened.push(t);
      return t;
    });
  }

  it("n2's certificate claiming to be n3 is refused before the node sees the request", async () => {
    const before = behind.facts();
    const client = await clientWith(n2);
    const call = client.call(
      'timeoutNow',
      { groupId: 'g', from: 'n3', to: 'n1', term: before.term + 3 },
      { timeoutMs: 5000 },
    );
    await expect(call).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(call).rejects.toThrow(/names .*n2, not n3/);
    expect(behind.reachedTotal()).toBe(0);
    expect(behind.facts()).toEqual(before);
  });

  it('n2 speaking as n2 reaches the node', async () => {
    const client = await clientWith(n2);
    const term = behind.facts().term;
    await client.call('readIndex', { groupId: 'g', from: 'n2', to: 'n1', term });
    expect([...behind.senders]).toEqual(['n2']);
  });
});

describe('a WebSocket endpoint that authenticates nobody says so, and is not opened to the network', () => {
  const opened: Transport[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
  });

  it('without a token it warns that anyone who can reach it can rewrite the log', async () => {
    const { logger, lines } = warnings();
    const t = await wsTransport({ listen: '127.0.0.1:0', logger });
    opened.push(t);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`anyone who can reach ${t.address} can rewrite this node's log`);
  });

  it('with a token it does not warn', async () => {
    const { logger, lines } = warnings();
    opened.push(await wsTransport({ listen: '127.0.0.1:0', token: TOKEN, logger }));
    expect(lines).toEqual([]);
  });

  it('listening beyond loopback without a token is refused unless allowInsecure', async () => {
    await expect(wsTransport({ listen: '0.0.0.0:0' })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(wsTransport({ listen: '[::]:0' })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
  });
});
