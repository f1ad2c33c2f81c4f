import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, StatusBody } from '../src/api-types.js';
import { waitForLeader } from '../src/cluster-observer.js';
import { requestJson } from '../src/http-json.js';
import {
  type InProcessServers,
  startInProcessServers,
  TEST_TOKEN,
} from './support/in-process-servers.js';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
}

/** One request with exactly these headers (what a browser or an attacker's script sends). */
function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: {
          ...headers,
          ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const code = (a: Answer) => (a.body as ErrorBody).error?.code;
const bearer = { authorization: `Bearer ${TEST_TOKEN}` };

describe('the HTTP API refuses what a web page could make a browser send', () => {
  let cluster: InProcessServers;
  let base: string;
  let address: string;

  beforeAll(async () => {
    cluster = await startInProcessServers(1, {
      allowedHosts: ['kv.internal'],
      httpTimeouts: { headersMs: 400, requestMs: 800, idleMs: 300 },
    });
    address = cluster.endpoints[0] as string;
    base = `http://${address}`;
    await waitForLeader(cluster.endpoints, { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const voters = async () =>
    ((await requestJson('GET', `${base}/status`)).body as StatusBody).configuration.voters;
  const storedValue = async (key: string) =>
    ((await requestJson('GET', `${base}/kv/${key}`)).body as { value?: string }).value;

  it('a text/plain membership change (a CORS-simple request) is refused with 415 and changes nothing', async () => {
    const before = await voters();
    const res = await send(
      `${base}/admin/membership`,
      'POST',
      { ...bearer, 'content-type': 'text/plain' },
      JSON.stringify({ voters: ['n9'], peers: { n9: { raft: '127.0.0.1:9' } } }),
    );
    expect(res.status).toBe(415);
    expect(code(res)).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(await voters()).toEqual(before);
  });

  it('the same without the secret is refused with 401 before its type is even looked at', async () => {
    const res = await send(
      `${base}/admin/membership`,
      'POST',
      { 'content-type': 'text/plain' },
      JSON.stringify({ voters: ['n9'] }),
    );
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('Bearer');
  });

  for (const type of [
    'text/plain',
    'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
  ]) {
    it(`a compare-and-set sent as ${type} is refused with 415 and the key keeps its value`, async () => {
      await requestJson('PUT', `${base}/kv/guarded`, { body: { value: 'mine' } });
      const res = await send(
        `${base}/cas/guarded`,
        'POST',
        { 'content-type': type },
        JSON.stringify({ expected: 'mine', value: 'theirs' }),
      );
      expect(res.status).toBe(415);
      expect(await storedValue('guarded')).toBe('mine');
    });
  }

  it('a PUT without any body type, and a body-less POST, are refused with 415', async () => {
    expect((await send(`${base}/kv/k`, 'PUT', {}, '{"value":"v"}')).status).toBe(415);
    const snapshot = await send(`${base}/admin/snapshot`, 'POST', bearer);
    expect(snapshot.status).toBe(415);
    expect(await storedValue('k')).toBeUndefined();
  });

  it('JSON writes work as before (curl -H "content-type: application/json")', async () => {
    const put = await send(
      `${base}/kv/curl`,
      'PUT',
      { 'content-type': 'application/json' },
      '{"value":"ok"}',
    );
    expect(put.status).toBe(200);
    expect(await storedValue('curl')).toBe('ok');
    // DELETE always needs a CORS preflight, so it may come without a body type.
    expect((await send(`${base}/kv/curl`, 'DELETE', {})).status).toBe(200);
    expect((await send(`${base}/kv/curl`, 'DELETE', { 'content-type': 'text/plain' })).status).toBe(
      415,
    );
  });

  it('admin endpoints without the secret, or with a wrong one, answer 401', async () => {
    const json = { 'content-type': 'application/json' };
    const tries: Array<[string, Record<string, string>]> = [
      ['/admin/transfer-leader', json],
      ['/admin/snapshot', json],
      ['/admin/membership', json],
      ['/admin/snapshot', { ...json, authorization: 'Bearer wrong' }],
      ['/admin/snapshot', { ...json, authorization: `Bearer ${TEST_TOKEN.slice(0, 10)}` }],
      ['/admin/snapshot', { ...json, authorization: TEST_TOKEN }],
    ];
    for (const [path, headers] of tries) {
      const res = await send(`${base}${path}`, 'POST', headers, '{}');
      expect({ path, status: res.status, code: code(res) }).toEqual({
        path,
        status: 401,
        code: 'UNAUTHORIZED',
      });
    }
    const ok = await send(
      `${base}/admin/snapshot`,
      'POST',
      { ...bearer, 'content-type': 'application/json' },
      '{}',
    );
    expect(ok.status).toBe(200);
  });

  it('a foreign Host (DNS rebinding) is refused with 421, reads and writes alike', async () => {
    const port = address.slice(address.lastIndexOf(':') + 1);
    for (const [method, path, body] of [
      ['GET', '/status', undefined],
      ['GET', '/kv/guarded', undefined],
      ['PUT', '/kv/guarded', '{"value":"rebound"}'],
      ['GET', '/', undefined],
    ] as const) {
      const res = await send(
        `${base}${path}`,
        method,
        { host: `attacker.example:${port}`, 'content-type': 'application/json' },
        body,
      );
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 421 });
    }
    expect(await storedValue('guarded')).toBe('mine');
    // This server's own names pass: its address, localhost, and the configured ones.
    for (const host of [address, `localhost:${port}`, 'kv.internal', 'kv.internal:8443']) {
      expect((await send(`${base}/status`, 'GET', { host })).status).toBe(200);
    }
    // Its name with another port is another server.
    expect((await send(`${base}/status`, 'GET', { host: 'localhost:1' })).status).toBe(421);
  });

  it('sends no CORS headers (none are configured)', async () => {
    const res = await send(`${base}/status`, 'GET', { origin: 'https://attacker.example' });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  /** Opens a TCP connection, writes `text`, and resolves with how long until the server closed it. */
  function closedAfter(text: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const [host, port] = [
        address.slice(0, address.lastIndexOf(':')),
        address.slice(address.lastIndexOf(':') + 1),
      ];
      const socket: Socket = connect(Number(port), host, () => {
        if (text !== '') socket.write(text);
      });
      socket.on('data', () => {});
      socket.on('error', () => {});
      socket.on('close', () => resolve(performance.now() - started));
      // Far beyond the configured bounds: if this fires, the server kept it open.
      setTimeout(() => {
        socket.destroy();
        reject(new Error('the server kept a half-open connection for 10 s'));
      }, 10_000).unref();
    });
  }

  it('a connection that sends half a request head is closed within the headers timeout (slowloris)', async () => {
    // headersTimeout 400 ms, checked every 100 ms.
    const elapsed = await closedAfter(`GET /status HTTP/1.1\r\nHost: ${address}\r\nX-Slow: `);
    expect(elapsed).toBeLessThan(400 + 100 + 1500);
  });

  it('a connection that sends nothing at all is closed too', async () => {
    const elapsed = await closedAfter('');
    expect(elapsed).toBeLessThan(400 + 100 + 1500);
  });

  it('a request whose body never finishes is closed within the request timeout', async () => {
    const elapsed = await closedAfter(
      `PUT /kv/slow HTTP/1.1\r\nHost: ${address}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"va`,
    );
    expect(elapsed).toBeLessThan(800 + 100 + 1500);
    expect(await storedValue('slow')).toBeUndefined();
  });

  it('200 half-open connections at once are all closed', async () => {
    const all = await Promise.all(
      Array.from({ length: 200 }, () => closedAfter(`GET / HTTP/1.1\r\nHost: ${address}\r\n`)),
    );
    expect(all).toHaveLength(200);
    // The server still answers.
    expect((await requestJson('GET', `${base}/status`)).status).toBe(200);
  });
});

describe('CORS only for the configured origin', () => {
  let cluster: InProcessServers;
  beforeAll(async () => {
    cluster = await startInProcessServers(1, { corsOrigin: 'https://dashboard.example' });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('answers GETs from that origin with its name, and others without', async () => {
    const url = `http://${cluster.endpoints[0]}/status`;
    const mine = await send(url, 'GET', { origin: 'https://dashboard.example' });
    expect(mine.headers['access-control-allow-origin']).toBe('https://dashboard.example');
    const other = await send(url, 'GET', { origin: 'https://attacker.example' });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('the live page keeps working without CORS', () => {
  let cluster: InProcessServers;
  beforeAll(async () => {
    cluster = await startInProcessServers(3);
    await waitForLeader(cluster.endpoints, { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('the page loads, and its one data endpoint, /cluster, holds every member’s status', async () => {
    const base = `http://${cluster.endpoints[1]}`;
    const page = await requestJson('GET', `${base}/`);
    expect(page.status).toBe(200);
    expect(page.text).toContain("fetch('/cluster'");
    // The page's script asks only its own origin: no other URL is fetched.
    expect(page.text).not.toMatch(/fetch\('http/);
    const res = await requestJson('GET', `${base}/cluster`);
    expect(res.status).toBe(200);
    const body = res.body as {
      self: StatusBody;
      members: Array<{ id: string; http: string | null; status: StatusBody | null }>;
    };
    expect(body.self.id).toBe('n2');
    expect(body.members.map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(body.members.every((m) => m.status !== null)).toBe(true);
    expect(body.members.filter((m) => m.status?.role === 'leader')).toHaveLength(1);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});
