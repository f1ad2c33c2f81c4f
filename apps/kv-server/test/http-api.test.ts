import { request } from 'node:http';
import { Script } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, StatusBody } from '../src/api-types.js';
import { waitForLeader } from '../src/cluster-observer.js';
import { requestJson } from '../src/http-json.js';
import {
  type InProcessServers,
  startInProcessServers,
  TEST_TOKEN,
} from './support/in-process-servers.js';
import { sampleOf } from './support/prometheus-text.js';

/** Sends a chunked body (no Content-Length) of `size` bytes; resolves with status and body. */
function sendChunked(url: string, size: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'PUT', headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    const chunk = Buffer.alloc(16 * 1024, 'a');
    for (let sent = 0; sent < size; sent += chunk.byteLength) req.write(chunk);
    req.end();
  });
}

function errorOf(body: unknown): ErrorBody['error'] {
  return (body as ErrorBody).error;
}

describe('the HTTP API of a single node', () => {
  let cluster: InProcessServers;
  let base: string;

  beforeAll(async () => {
    cluster = await startInProcessServers(1);
    base = `http://${cluster.endpoints[0]}`;
    await waitForLeader(cluster.endpoints, { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('puts, reads, compares-and-sets and deletes a key', async () => {
    const put = await requestJson('PUT', `${base}/kv/greeting`, { body: { value: 'hello' } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ key: 'greeting', prev: null });
    const get = await requestJson('GET', `${base}/kv/greeting`);
    expect(get.status).toBe(200);
    expect(get.body).toMatchObject({ key: 'greeting', value: 'hello' });

    const failed = await requestJson('POST', `${base}/cas/greeting`, {
      body: { expected: 'bye', value: 'x' },
    });
    expect(failed.status).toBe(412);
    expect(failed.body).toMatchObject({ succeeded: false, prev: 'hello' });
    const swapped = await requestJson('POST', `${base}/cas/greeting`, {
      body: { expected: 'hello', value: 'hi' },
    });
    expect(swapped.status).toBe(200);
    expect(swapped.body).toMatchObject({ succeeded: true, prev: 'hello' });
    const created = await requestJson('POST', `${base}/cas/fresh`, {
      body: { expected: null, value: 'first' },
    });
    expect(created.body).toMatchObject({ succeeded: true, prev: null });

    const del = await requestJson('DELETE', `${base}/kv/greeting`);
    expect(del.body).toMatchObject({ deleted: true, prev: 'hi' });
    const gone = await requestJson('GET', `${base}/kv/greeting`);
    expect(gone.status).toBe(404);
    expect(errorOf(gone.body).code).toBe('KEY_NOT_FOUND');
    const again = await requestJson('DELETE', `${base}/kv/greeting`);
    expect(again.body).toMatchObject({ deleted: false, prev: null });
  });

  it('takes any key, percent-encoded in the path, slashes included', async () => {
    const key = 'users/ä b?c#d';
    const put = await requestJson('PUT', `${base}/kv/${encodeURIComponent(key)}`, {
      body: { value: 'v' },
    });
    expect(put.body).toMatchObject({ key });
    const get = await requestJson('GET', `${base}/kv/${encodeURIComponent(key)}`);
    expect(get.body).toMatchObject({ key, value: 'v' });
  });

  it('answers bad input with a 4xx JSON error and keeps serving', async () => {
    const cases: Array<[string, string, unknown, number, string]> = [
      ['PUT', '/kv/k', '{not json', 400, 'BAD_REQUEST'],
      ['PUT', '/kv/k', '[1,2]', 400, 'BAD_REQUEST'],
      ['PUT', '/kv/k', { value: 42 }, 400, 'BAD_REQUEST'],
      ['PUT', '/kv/k', {}, 400, 'BAD_REQUEST'],
      ['PUT', '/kv/k', { value: 'x'.repeat(1025) }, 413, 'VALUE_TOO_LARGE'],
      ['PUT', '/kv/k', { value: 'x'.repeat(20_000) }, 413, 'PAYLOAD_TOO_LARGE'],
      ['PUT', `/kv/${'k'.repeat(65)}`, { value: 'v' }, 400, 'KEY_TOO_LONG'],
      ['PUT', '/kv/%E0%A4%A', { value: 'v' }, 400, 'BAD_REQUEST'],
      ['PUT', '/kv/', { value: 'v' }, 400, 'BAD_REQUEST'],
      ['POST', '/cas/k', { value: 'v' }, 400, 'BAD_REQUEST'],
      ['POST', '/cas/k', { expected: 7, value: 'v' }, 400, 'BAD_REQUEST'],
      ['GET', '/nowhere', undefined, 404, 'NO_ROUTE'],
      ['POST', '/kv/k', { value: 'v' }, 405, 'METHOD_NOT_ALLOWED'],
      ['POST', '/admin/bench', {}, 404, 'NO_ROUTE'],
      ['POST', '/admin/transfer-leader', { peer: 5 }, 400, 'BAD_REQUEST'],
    ];
    const admin = { authorization: `Bearer ${TEST_TOKEN}` };
    for (const [method, path, body, status, code] of cases) {
      const res =
        typeof body === 'string'
          ? await rawRequest(method, `${base}${path}`, body)
          : await requestJson(method, `${base}${path}`, { body, headers: admin });
      expect({ method, path, status: res.status, code: errorOf(res.body)?.code }).toEqual({
        method,
        path,
        status,
        code,
      });
      expect(errorOf(res.body).message.length).toBeGreaterThan(0);
    }
    const chunked = await sendChunked(`${base}/kv/k`, 1024 * 1024);
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe('PAYLOAD_TOO_LARGE');

    const put = await requestJson('PUT', `${base}/kv/after`, { body: { value: 'still fine' } });
    expect(put.status).toBe(200);
    expect((await requestJson('GET', `${base}/kv/after`)).body).toMatchObject({
      value: 'still fine',
    });
    expect(
      (await requestJson('POST', `${base}/kv/k`)).headers.allow,
      'a 405 says what is allowed',
    ).toBe('GET, PUT, DELETE');
  });

  it('reports its status, without CORS headers (none are configured)', async () => {
    const res = await requestJson('GET', `${base}/status`, {
      headers: { origin: 'http://elsewhere.example' },
    });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const s = res.body as StatusBody;
    expect(s).toMatchObject({ id: 'n1', role: 'leader', leaderId: 'n1', transport: 'grpc' });
    expect(s.leaderHttp).toBe(cluster.endpoints[0]);
    expect(s.appliedIndex).toBe(s.commitIndex);
    expect(s.peers).toEqual([{ id: 'n1', raft: expect.any(String), http: cluster.endpoints[0] }]);
  });

  it("serves Prometheus metrics that count what happened: its own, the Raft node's and the process's", async () => {
    await requestJson('PUT', `${base}/kv/m`, { body: { value: 'v' } });
    await requestJson('GET', `${base}/nowhere`);
    await requestJson('BREW', `${base}/kv/m`);
    const res = await requestJson('GET', `${base}/metrics`);
    expect(res.headers['content-type']).toContain('text/plain; version=0.0.4');
    const text = res.text;
    const value = (name: string, labels: Record<string, string>) => sampleOf(text, name, labels);
    // The server's state, read when scraped; every series names the node.
    expect(text).toMatch(/^# TYPE kontiki_raft_is_leader gauge$/m);
    expect(value('kontiki_raft_is_leader', { node: 'n1' })).toBe(1);
    expect(value('kontiki_raft_role', { role: 'leader', node: 'n1' })).toBe(1);
    expect(value('kontiki_raft_role', { role: 'follower', node: 'n1' })).toBe(0);
    // Its requests, by prom-client children (an unserved method counts as "other").
    expect(
      value('kontiki_kv_proposals_total', { op: 'put', code: 'ok', node: 'n1' }),
    ).toBeGreaterThan(0);
    expect(
      value('kontiki_http_requests_total', {
        route: 'unknown',
        method: 'GET',
        code: '404',
        node: 'n1',
      }),
    ).toBeGreaterThan(0);
    expect(
      value('kontiki_http_requests_total', {
        route: '/kv/:key',
        method: 'other',
        code: '405',
        node: 'n1',
      }),
    ).toBeGreaterThan(0);
    expect(text).not.toContain('method="BREW"');
    expect(
      value('kontiki_kv_proposal_duration_seconds_bucket', { le: '+Inf', op: 'put', node: 'n1' }),
    ).toBeGreaterThan(0);
    // The Raft node's, through core's metrics hook.
    expect(value('kontiki_raft_has_leader', { group: 'kv', node: 'n1' })).toBe(1);
    expect(value('kontiki_raft_leader_changes_seen_total', { group: 'kv', node: 'n1' })).toBe(1);
    const applied = value('kontiki_raft_applied_index', { group: 'kv', node: 'n1' }) ?? 0;
    expect(applied).toBeGreaterThan(0);
    expect(value('kontiki_raft_proposals_applied_total', { group: 'kv', node: 'n1' })).toBe(
      applied,
    );
    expect(
      value('kontiki_disk_log_sync_duration_seconds_count', { group: 'kv', node: 'n1' }),
    ).toBeGreaterThan(0);
    // The process's own (prom-client's default metrics).
    expect(value('process_resident_memory_bytes', { node: 'n1' })).toBeGreaterThan(0);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds\{node="n1"\} [0-9.e-]+$/m);
    // Every sample line is "name{labels} value" or "name value".
    for (const line of text.trim().split('\n')) {
      if (line !== '' && !line.startsWith('#')) {
        expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eInfNa]+$/);
      }
    }
  });

  it('serves the live cluster page', async () => {
    const res = await requestJson('GET', `${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.text).toContain("fetch('/cluster'");
    // Its script at least compiles (it runs in a browser, which these tests do not have).
    const script = /<script>([\s\S]*)<\/script>/.exec(res.text)?.[1];
    expect(script).toBeDefined();
    expect(() => new Script(script as string)).not.toThrow();
  });
});

function rawRequest(method: string, url: string, body: string) {
  return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: {
          'content-length': Buffer.byteLength(body),
          'content-type': 'application/json',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString()),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
