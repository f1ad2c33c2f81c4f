import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Transport } from '@kontiki/core';
import { throwawayCa } from '@kontiki/testkit/transport-tools';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type WebSocketConstructor, wsClientTransport } from '../src/client.js';
import { type WsTransport, wsTransport } from '../src/index.js';

const handler = {
  requestVote: async () => ({ term: 1, granted: true }),
  appendEntries: async () => ({ term: 1, success: true, lastLogIndex: 0 }),
  installSnapshot: async () => ({ term: 1, success: true }),
  timeoutNow: async (r: { term: number }) => ({ term: r.term, success: true }),
  readIndex: async () => ({ term: 1, success: true, readIndex: 1 }),
};

/**
 * What a browser offers: the standard WebSocket API and nothing more (no ping, no
 * terminate, no Node options). Built on `ws`, exposing only the standard members.
 */
class BrowserLikeWebSocket {
  private readonly inner: WebSocket;
  constructor(url: string, protocols?: string | string[]) {
    this.inner = new WebSocket(url, protocols);
  }
  get binaryType(): string {
    return this.inner.binaryType;
  }
  set binaryType(value: string) {
    this.inner.binaryType = value as 'arraybuffer';
  }
  get readyState(): number {
    return this.inner.readyState;
  }
  get bufferedAmount(): number {
    return this.inner.bufferedAmount;
  }
  send(data: Uint8Array): void {
    this.inner.send(data);
  }
  close(code?: number, reason?: string): void {
    this.inner.close(code, reason);
  }
  addEventListener(
    type: 'open' | 'message' | 'close' | 'error',
    listener: (event: never) => void,
  ): void {
    this.inner.addEventListener(type, listener as () => void);
  }
}

describe('the browser-capable client', () => {
  const opened: Transport[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
  });

  it('calls a server through an injected standard WebSocket, with the token', async () => {
    const server = await wsTransport({ listen: '127.0.0.1:0', token: 't' });
    opened.push(server);
    server.serve('g', handler);
    const client = wsClientTransport({
      WebSocket: BrowserLikeWebSocket as unknown as WebSocketConstructor,
      peers: { leader: `ws://${server.address}/kontiki` },
      token: 't',
    });
    opened.push(client);
    expect(
      await client.call(
        'timeoutNow',
        { groupId: 'g', from: 'browser', to: 'leader', term: 4 },
        { timeoutMs: 5000 },
      ),
    ).toEqual({ term: 4, success: true });
    expect(() => client.serve('g', handler)).toThrow(/cannot serve/);
  });

  it('without any WebSocket constructor it fails with INVALID_OPTION', () => {
    // Node 20 has no global WebSocket.
    const global = globalThis as { WebSocket?: unknown };
    if (global.WebSocket !== undefined) return expect(global.WebSocket).toBeDefined();
    expect(() => wsClientTransport({})).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });

  it('its modules import nothing from Node or from ws', () => {
    const files = [
      'client.ts',
      'client-options.ts',
      'ws-client.ts',
      'peer-connection.ts',
      'web-socket.ts',
      'backoff.ts',
    ];
    let seen = 0;
    for (const file of files) {
      const source = readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8');
      // Only import and export statements (the TSDoc examples mention other packages).
      const imports = [...source.matchAll(/^(?:import|export)\b[^;]*?from '([^']+)';/gm)].map(
        (m) => m[1],
      );
      seen += imports.length;
      for (const name of imports) {
        expect(name, `${file} imports ${name}`).toMatch(
          /^(\.\/|@kontiki\/core$|@kontiki\/protocol$)/,
        );
      }
    }
    // The pattern does find the imports, so the check above is not vacuous.
    expect(seen).toBeGreaterThan(10);
  });
});

describe('TLS: serving on an HTTPS server (wss://)', () => {
  const ca = throwawayCa();
  const node = ca.issue('node');
  afterAll(() => ca.dispose());
  const opened: Transport[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
  });

  async function tlsServer(): Promise<{
    transport: WsTransport;
    url: string;
    close(): Promise<void>;
  }> {
    const https = createServer({ cert: node.cert, key: node.key });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', () => resolve()));
    const transport = await wsTransport({ server: https });
    transport.serve('g', handler);
    const url = `wss://${transport.address}/kontiki`;
    return {
      transport,
      url,
      async close() {
        await transport.close();
        await new Promise<void>((resolve) => {
          https.close(() => resolve());
          https.closeAllConnections();
        });
      },
    };
  }

  it('a client that trusts the CA calls over wss', async () => {
    const server = await tlsServer();
    try {
      class TrustingWebSocket extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { ca: ca.ca });
        }
      }
      const client = wsClientTransport({
        WebSocket: TrustingWebSocket as unknown as WebSocketConstructor,
        peers: { s: server.url },
      });
      opened.push(client);
      expect(
        await client.call(
          'timeoutNow',
          { groupId: 'g', from: 'c', to: 's', term: 2 },
          { timeoutMs: 5000 },
        ),
      ).toEqual({ term: 2, success: true });
    } finally {
      await Promise.all(opened.splice(0).map((t) => t.close()));
      await server.close();
    }
  });

  it('a client that does not trust the CA cannot connect', async () => {
    const server = await tlsServer();
    try {
      const client = wsClientTransport({
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        peers: { s: server.url },
      });
      opened.push(client);
      await expect(
        client.call(
          'timeoutNow',
          { groupId: 'g', from: 'c', to: 's', term: 2 },
          { timeoutMs: 5000 },
        ),
      ).rejects.toMatchObject({ code: 'UNREACHABLE' });
    } finally {
      await Promise.all(opened.splice(0).map((t) => t.close()));
      await server.close();
    }
  });
});
