import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { ErrorCode, NotLeaderError, RaftError, type RaftNode } from '@kontiki/core';
import type { DigestBody, MembershipBody, SnapshotBody, StatusBody } from './api-types.js';
import { ApplyLoopError, runApplyLoops } from './apply-loops.js';
import { fetchStatus } from './cluster-observer.js';
import { encodeCommand, type KvCommand, type KvResult, paddedPutCommand } from './commands.js';
import { isAddress, type PeerAddress, type ServerConfig } from './config.js';
import { type ErrorContext, httpErrorOf } from './error-mapping.js';
import { GroupsSummaryCache, type KvGroup, type KvGroups } from './groups.js';
import type { HttpGuard } from './http-guard.js';
import { HttpError, parseJsonObject, readBody, sendError, sendJson } from './http-io.js';
import type { HttpRouteMetrics, ServerMetrics } from './server-metrics.js';
import { STATUS_PAGE } from './status-page.js';
import { WriteDeadlines } from './write-deadline.js';

/** What the HTTP API serves from. The node exists once the server has its members. */
export interface KvApiContext {
  readonly config: ServerConfig;
  /** The server's Raft groups (one unless sharded); a key's requests go to its group. */
  readonly groups: KvGroups;
  readonly metrics: ServerMetrics;
  readonly startedAt: number;
  /** Host, content type and admin checks (http-guard.ts). */
  readonly guard: HttpGuard;
  peers(): ReadonlyMap<string, PeerAddress>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, rest: string) => Promise<void> | void;

/** The value of `name` in the request's query string, if any. */
function queryParam(req: IncomingMessage, name: string): string | undefined {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get(name) ?? undefined;
}

interface Route {
  /** Label in metrics: the path template. */
  readonly name: string;
  readonly prefix: string;
  /** The prefix is the whole path (no key after it). */
  readonly exact: boolean;
  readonly methods: Readonly<Record<string, Handler>>;
}

const encoder = new TextEncoder();

function byteLength(s: string): number {
  return encoder.encode(s).byteLength;
}

/**
 * The HTTP API of a kv-server node (documented in the app's README):
 * GET/PUT/DELETE /kv/{key}, POST /cas/{key}, GET /status, /cluster, /metrics, /digest, /,
 * POST /admin/transfer-leader, /admin/snapshot, /admin/membership and (when enabled)
 * POST /admin/bench.
 */
/** The methods a request that matches no route is counted under (any other: `other`). */
const COMMON_METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'];

export class KvHttpApi {
  private readonly routes: readonly Route[];
  private readonly routeMetrics: ReadonlyMap<Route, HttpRouteMetrics>;
  private readonly unknownRoute: HttpRouteMetrics;
  private readonly deadlines: WriteDeadlines;
  private readonly summary: GroupsSummaryCache;

  constructor(private readonly ctx: KvApiContext) {
    this.deadlines = new WriteDeadlines(ctx.config.writeTimeoutMs);
    this.summary = new GroupsSummaryCache(ctx.groups);
    this.routes = [
      { name: '/', prefix: '/', exact: true, methods: { GET: (_q, s) => this.page(s) } },
      {
        name: '/status',
        prefix: '/status',
        exact: true,
        methods: { GET: (q, s) => this.status(q, s) },
      },
      {
        name: '/cluster',
        prefix: '/cluster',
        exact: true,
        methods: { GET: (_q, s) => this.clusterStatus(s) },
      },
      {
        name: '/metrics',
        prefix: '/metrics',
        exact: true,
        methods: { GET: (_q, s) => this.metricsText(s) },
      },
      {
        name: '/digest',
        prefix: '/digest',
        exact: true,
        methods: { GET: (q, s) => this.digest(q, s) },
      },
      {
        name: '/kv/:key',
        prefix: '/kv/',
        exact: false,
        methods: {
          GET: (q, s, key) => this.get(q, s, key),
          PUT: (q, s, key) => this.put(q, s, key),
          DELETE: (q, s, key) => this.delete(q, s, key),
        },
      },
      {
        name: '/cas/:key',
        prefix: '/cas/',
        exact: false,
        methods: { POST: (q, s, key) => this.cas(q, s, key) },
      },
      {
        name: '/admin/transfer-leader',
        prefix: '/admin/transfer-leader',
        exact: true,
        methods: { POST: (q, s) => this.transferLeader(q, s) },
      },
      {
        name: '/admin/snapshot',
        prefix: '/admin/snapshot',
        exact: true,
        methods: { POST: (q, s) => this.snapshot(q, s) },
      },
      {
        name: '/admin/membership',
        prefix: '/admin/membership',
        exact: true,
        methods: { POST: (q, s) => this.membership(q, s) },
      },
      ...(ctx.config.enableBench
        ? [
            {
              name: '/admin/bench',
              prefix: '/admin/bench',
              exact: true,
              methods: { POST: (q: IncomingMessage, s: ServerResponse) => this.bench(q, s) },
            },
          ]
        : []),
    ];
    this.routeMetrics = new Map(
      this.routes.map((r) => [r, ctx.metrics.httpRoute(r.name, Object.keys(r.methods))]),
    );
    this.unknownRoute = ctx.metrics.httpRoute('unknown', COMMON_METHODS);
  }

  /** Serves one request; never throws (every failure becomes a JSON error answer). */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = req.url ?? '/';
    const path = url.split('?', 1)[0] ?? '/';
    const method = req.method ?? 'GET';
    let metrics = this.unknownRoute;
    try {
      this.refuse(req, this.ctx.guard.checkHost(req));
      if (method === 'GET' || method === 'HEAD') {
        for (const [k, v] of Object.entries(this.ctx.guard.corsHeaders(req))) res.setHeader(k, v);
      }
      const route = this.routes.find((r) =>
        r.exact ? path === r.prefix : path.startsWith(r.prefix),
      );
      if (route === undefined) {
        req.resume();
        throw new HttpError(404, 'NO_ROUTE', `no such route: ${method} ${path}`);
      }
      metrics = this.routeMetrics.get(route) ?? this.unknownRoute;
      const handler = route.methods[method];
      if (handler === undefined) {
        req.resume();
        const allow = Object.keys(route.methods).join(', ');
        throw new HttpError(
          405,
          'METHOD_NOT_ALLOWED',
          `${method} is not allowed on ${route.name}; allowed: ${allow}`,
          {},
          { allow },
        );
      }
      this.refuse(req, this.ctx.guard.checkRequest(req, path));
      await handler(req, res, path.slice(route.prefix.length));
    } catch (error) {
      if (!res.headersSent) {
        sendError(res, httpErrorOf(error, this.errorContext('admin', url)));
      } else {
        res.destroy();
      }
    } finally {
      metrics.done(method, res.statusCode, (performance.now() - started) / 1000);
    }
  }

  /** Throws the guard's refusal, if any; the refused request's body is never read. */
  private refuse(req: IncomingMessage, refusal: HttpError | undefined): void {
    if (refusal === undefined) return;
    req.resume();
    throw new HttpError(refusal.status, refusal.code, refusal.message, refusal.details, {
      ...refusal.headers,
      connection: 'close',
    });
  }

  // ---------------------------------------------------------------- observation

  private page(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(STATUS_PAGE),
    });
    res.end(STATUS_PAGE);
  }

  /**
   * The status document of this node: of its only group; with several groups, of `group`
   * (the primary by default) with a summary of all of them.
   */
  statusBody(group: KvGroup = this.ctx.groups.primary): StatusBody {
    const { config, groups } = this.ctx;
    const node = group.node;
    const s = node?.status();
    const leaderId = s?.leaderId;
    return {
      id: config.id,
      groupId: group.id,
      role: s?.role ?? 'starting',
      term: s?.term ?? 0,
      leaderId: leaderId ?? null,
      leaderHttp: leaderId === undefined ? null : (this.httpOf(leaderId) ?? null),
      commitIndex: s?.commitIndex ?? 0,
      appliedIndex: s?.appliedIndex ?? 0,
      lastLogIndex: s?.lastLogIndex ?? 0,
      lastLogTerm: s?.lastLogTerm ?? 0,
      durableIndex: s?.durableIndex ?? 0,
      snapshotIndex: s?.snapshotIndex ?? 0,
      firstLogIndex: s?.firstLogIndex ?? 1,
      pendingProposals: s?.pendingProposals ?? 0,
      voters: s?.configuration.voters ?? [],
      configuration: s?.configuration ?? { voters: [] },
      peers: [...this.ctx.peers()].map(([id, a]) => ({ id, raft: a.raft, http: a.http ?? null })),
      replication: (s?.peers ?? []).map((p) => ({
        peer: p.peerId,
        state: p.state,
        matchIndex: p.matchIndex,
        nextIndex: p.nextIndex,
      })),
      keys: group.stateMachine.size,
      transport: config.transport,
      storage: config.storage,
      electionTimeoutMs: config.electionTimeoutMs,
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - this.ctx.startedAt) / 1000),
      ...(groups.sharded ? { groups: this.summary.get() } : {}),
    };
  }

  private status(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    sendJson(res, 200, this.statusBody(this.namedGroup(req)), { 'cache-control': 'no-store' });
  }

  /** The group `?group=ID` names (404 when unknown), else the primary one. */
  private namedGroup(req: IncomingMessage): KvGroup {
    const id = queryParam(req, 'group');
    if (id === undefined) return this.ctx.groups.primary;
    const group = this.ctx.groups.byId(id);
    if (group === undefined) {
      throw new HttpError(404, 'NO_GROUP', `no group ${JSON.stringify(id)} on this node`, {
        groups: this.ctx.groups.count,
      });
    }
    return group;
  }

  /**
   * Every member's status as this node can fetch it (what the live page shows): the page
   * asks its own origin only, so that no member needs CORS headers.
   */
  private async clusterStatus(res: ServerResponse): Promise<void> {
    const self = this.statusBody();
    const conf = self.configuration;
    const ids = [
      ...new Set([...conf.voters, ...(conf.oldVoters ?? []), ...(conf.learners ?? []), self.id]),
    ];
    const peers = this.ctx.peers();
    const members = await Promise.all(
      ids.map(async (id) => {
        const http = peers.get(id)?.http ?? null;
        const status =
          id === self.id ? self : http === null ? undefined : await fetchStatus(http, 1000);
        return { id, http, status: status ?? null };
      }),
    );
    sendJson(res, 200, { self, members }, { 'cache-control': 'no-store' });
  }

  private async metricsText(res: ServerResponse): Promise<void> {
    const { text, contentType } = await this.ctx.metrics.render();
    res.writeHead(200, {
      'content-type': contentType,
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  /**
   * The state's digest and the applied index it belongs to, taken in the same turn. With
   * several groups (and no `?group=`): the indexes and terms are sums over the groups and
   * the hash covers every group's digest in order, so that equal answers still mean equal
   * states (what waitForConvergence compares). O(keys), as for one group.
   */
  private digest(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const { groups } = this.ctx;
    const only = queryParam(req, 'group') === undefined ? undefined : this.namedGroup(req);
    const chosen = only === undefined ? groups.all : [only];
    const body = {
      id: this.ctx.config.id,
      appliedIndex: 0,
      commitIndex: 0,
      lastLogIndex: 0,
      lastLogTerm: 0,
      keys: 0,
      sha256: '',
    };
    const hash = chosen.length > 1 ? createHash('sha256') : undefined;
    for (const group of chosen) {
      const s = this.requireNode(group).status();
      const d = group.stateMachine.digest();
      body.appliedIndex += s.appliedIndex;
      body.commitIndex += s.commitIndex;
      body.lastLogIndex += s.lastLogIndex;
      body.lastLogTerm += s.lastLogTerm;
      body.keys += d.keys;
      if (hash === undefined) body.sha256 = d.sha256;
      else hash.update(`${group.id}:${d.sha256}\n`);
    }
    if (hash !== undefined) body.sha256 = hash.digest('hex');
    const answer: DigestBody = body;
    sendJson(res, 200, answer);
  }

  // ---------------------------------------------------------------- key-value

  private async get(req: IncomingMessage, res: ServerResponse, rawKey: string): Promise<void> {
    req.resume();
    const key = this.key(rawKey);
    const group = this.ctx.groups.forKey(key);
    const node = this.requireNode(group);
    let index: number;
    try {
      // ReadIndex: the leader confirms it still leads, and this node (leader or follower)
      // has applied everything committed before the read began. Then the local map is
      // linearizable.
      index = await node.readIndex();
    } catch (error) {
      this.ctx.metrics.read(false);
      throw httpErrorOf(error, this.errorContext('read', req.url ?? ''));
    }
    this.ctx.metrics.read(true);
    const value = group.stateMachine.get(key);
    if (value === undefined) {
      throw new HttpError(404, 'KEY_NOT_FOUND', `no key ${JSON.stringify(key)}`, {
        key,
        index,
      });
    }
    sendJson(res, 200, { key, value, index });
  }

  private async put(req: IncomingMessage, res: ServerResponse, rawKey: string): Promise<void> {
    const key = this.key(rawKey);
    const body = await this.jsonBody(req);
    const value = this.value(body, 'value');
    const r = await this.write(req, { op: 'put', key, value });
    const result = this.resultOf(r.result, 'put');
    sendJson(res, 200, { key, prev: result.prev, index: r.index, term: r.term });
  }

  private async delete(req: IncomingMessage, res: ServerResponse, rawKey: string): Promise<void> {
    req.resume();
    const key = this.key(rawKey);
    const r = await this.write(req, { op: 'delete', key });
    const result = this.resultOf(r.result, 'delete');
    sendJson(res, 200, {
      key,
      deleted: result.prev !== null,
      prev: result.prev,
      index: r.index,
      term: r.term,
    });
  }

  private async cas(req: IncomingMessage, res: ServerResponse, rawKey: string): Promise<void> {
    const key = this.key(rawKey);
    const body = await this.jsonBody(req);
    if (!('expected' in body)) {
      throw new HttpError(400, 'BAD_REQUEST', '"expected" is required (a string, or null)');
    }
    const expected = body.expected === null ? null : this.value(body, 'expected');
    const value = this.value(body, 'value');
    const r = await this.write(req, { op: 'cas', key, expected, value });
    const result = this.resultOf(r.result, 'cas');
    // A failed compare is an answer, not an error: 412 with what the key holds.
    sendJson(res, result.succeeded ? 200 : 412, {
      key,
      succeeded: result.succeeded,
      prev: result.prev,
      index: r.index,
      term: r.term,
    });
  }

  // ---------------------------------------------------------------- admin

  private async transferLeader(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.jsonBody(req);
    const peer = body.peer;
    if (peer !== undefined && peer !== null && typeof peer !== 'string') {
      throw new HttpError(400, 'BAD_REQUEST', '"peer" must be a peer id (a string)');
    }
    const node = this.requireNode(this.namedGroup(req));
    const from = node.id;
    try {
      await node.transferLeadership(typeof peer === 'string' ? peer : undefined);
    } catch (error) {
      throw httpErrorOf(error, this.errorContext('admin', req.url ?? ''));
    }
    // The transfer resolves once this node stepped down; wait (bounded) for the new leader
    // to make itself known, so that the answer can name it.
    const leaderId = await this.nextLeader(node, 2 * this.ctx.config.electionTimeoutMs);
    sendJson(res, 200, {
      from,
      requested: typeof peer === 'string' ? peer : null,
      leaderId: leaderId ?? null,
      term: node.term,
    });
  }

  private nextLeader(node: RaftNode<KvResult>, timeoutMs: number): Promise<string | undefined> {
    const known = (): string | undefined =>
      node.leader !== undefined && node.leader !== node.id ? node.leader : undefined;
    const now = known();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve) => {
      const off = node.on('leaderChange', () => {
        const l = known();
        if (l === undefined) return;
        clearTimeout(timer);
        off();
        resolve(l);
      });
      const timer = setTimeout(() => {
        off();
        resolve(undefined);
      }, timeoutMs);
    });
  }

  /** Takes a snapshot of this node's state now (any node: each one snapshots itself). */
  private async snapshot(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    const node = this.requireNode(this.namedGroup(req));
    let meta: Awaited<ReturnType<RaftNode<KvResult>['snapshot']>>;
    try {
      meta = await node.snapshot();
    } catch (error) {
      throw httpErrorOf(error, this.errorContext('admin', req.url ?? ''));
    }
    const s = node.status();
    const body: SnapshotBody = {
      id: node.id,
      taken: meta !== undefined,
      meta: meta ?? null,
      snapshotIndex: s.snapshotIndex,
      firstLogIndex: s.firstLogIndex,
      lastLogIndex: s.lastLogIndex,
    };
    sendJson(res, 200, body);
  }

  /**
   * Changes the group's membership (leader only; a follower redirects like any write).
   * Members whose addresses the log does not hold yet (nodes being added) are first
   * recorded through the log, so that every node, and every later leader, can reach them;
   * then core's joint-consensus change runs, and the answer comes once C(new) is committed.
   */
  private async membership(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.jsonBody(req);
    const voters = idList(body.voters, 'voters');
    if (voters === undefined || voters.length === 0) {
      throw new HttpError(400, 'BAD_REQUEST', '"voters" must be a non-empty list of peer ids');
    }
    if (this.ctx.groups.sharded) {
      throw new HttpError(
        400,
        'NOT_SUPPORTED',
        `membership changes are not supported with --groups ${this.ctx.groups.count} (each group would need its own change); start the nodes with the members they should have`,
      );
    }
    const learners = idList(body.learners, 'learners') ?? [];
    const given = peerMap(body.peers);
    const members = [...voters, ...learners];
    for (const id of given.keys()) {
      if (!members.includes(id)) {
        throw new HttpError(400, 'BAD_REQUEST', `"peers": ${id} is neither a voter nor a learner`);
      }
    }
    const timeout = body.timeoutMs;
    if (
      timeout !== undefined &&
      (typeof timeout !== 'number' ||
        !Number.isInteger(timeout) ||
        timeout < 1 ||
        timeout > 600_000)
    ) {
      throw new HttpError(400, 'BAD_REQUEST', '"timeoutMs" must be an integer in [1, 600000]');
    }
    const node = this.requireNode();
    if (!node.isLeader) {
      throw httpErrorOf(new NotLeaderError(node.leader), this.errorContext('write', req.url ?? ''));
    }
    const known = this.ctx.peers();
    const missing = members.filter((id) => !given.has(id) && !known.has(id));
    if (missing.length > 0) {
      throw new HttpError(
        400,
        'UNKNOWN_PEER',
        `no address is known for ${missing.join(', ')}: give it in "peers" ({"${missing[0]}":{"raft":"HOST:PORT","http":"HOST:PORT"}})`,
        { peers: missing },
      );
    }
    const previous = node.status().configuration;
    // Every member's addresses, recorded where the log does not already say the same: the
    // first change also records the founding members, whom a joining node must reach too.
    const book = this.ctx.groups.primary.stateMachine.peers;
    const record: Record<string, PeerAddress> = {};
    for (const id of members) {
      const a = given.get(id) ?? (known.get(id) as PeerAddress);
      const b = book.get(id);
      if (b === undefined || b.raft !== a.raft || b.http !== a.http || b.etcd !== a.etcd) {
        record[id] = a;
      }
    }
    const recorded = Object.keys(record);
    if (recorded.length > 0) await this.write(req, { op: 'peers', peers: record });
    try {
      await node.changeConfiguration(
        { voters, ...(learners.length > 0 ? { learners } : {}) },
        typeof timeout === 'number' ? { timeoutMs: timeout } : {},
      );
    } catch (error) {
      if (RaftError.is(error) && error.code === ErrorCode.TIMEOUT) {
        // Core gives up before C(old,new) is proposed: nothing changed.
        throw new HttpError(504, ErrorCode.TIMEOUT, error.message, { outcome: 'not-applied' });
      }
      throw httpErrorOf(error, this.errorContext('write', req.url ?? ''));
    }
    const answer: MembershipBody = {
      previous,
      configuration: node.status().configuration,
      recorded,
      leaderId: node.id,
      term: node.term,
    };
    sendJson(res, 200, answer);
  }

  private async bench(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.jsonBody(req);
    const int = (name: string, fallback: number, min: number, max: number): number => {
      const v = body[name] ?? fallback;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        throw new HttpError(400, 'BAD_REQUEST', `"${name}" must be an integer in [${min}, ${max}]`);
      }
      return v;
    };
    const concurrency = int('concurrency', 1, 1, 4096);
    const durationMs = int('durationMs', 2000, 1, 60_000);
    const warmupMs = int('warmupMs', 500, 0, 60_000);
    const payloadBytes = int('payloadBytes', 100, 32, 1024 * 1024);
    const node = this.requireNode();
    if (!node.isLeader) {
      throw httpErrorOf(new NotLeaderError(node.leader), this.errorContext('write', req.url ?? ''));
    }
    const payload = paddedPutCommand('bench', payloadBytes);
    try {
      const result = await runApplyLoops((data) => node.apply(data), {
        concurrency,
        durationMs,
        warmupMs,
        payload,
      });
      sendJson(res, 200, result);
    } catch (error) {
      if (error instanceof ApplyLoopError)
        throw httpErrorOf(error.cause, this.errorContext('write', ''));
      throw error;
    }
  }

  // ---------------------------------------------------------------- helpers

  private requireNode(group: KvGroup = this.ctx.groups.primary): RaftNode<KvResult> {
    const node = group.node;
    if (node === undefined) {
      throw new HttpError(
        503,
        'STARTING',
        'the node has not started yet',
        { outcome: 'not-applied' },
        { 'retry-after': '1' },
      );
    }
    return node;
  }

  private httpOf(peerId: string): string | undefined {
    return this.ctx.peers().get(peerId)?.http;
  }

  private errorContext(kind: ErrorContext['kind'], url: string): ErrorContext {
    return { kind, url, httpOf: (peer) => this.httpOf(peer) };
  }

  private key(raw: string): string {
    let key: string;
    try {
      key = decodeURIComponent(raw);
    } catch {
      throw new HttpError(400, 'BAD_REQUEST', 'the key is not valid percent-encoding');
    }
    if (key === '') throw new HttpError(400, 'BAD_REQUEST', 'the key is empty');
    const max = this.ctx.config.maxKeyBytes;
    if (byteLength(key) > max) {
      throw new HttpError(400, 'KEY_TOO_LONG', `the key exceeds ${max} bytes`, { limit: max });
    }
    return key;
  }

  private value(body: Record<string, unknown>, field: string): string {
    const v = body[field];
    if (typeof v !== 'string') {
      throw new HttpError(400, 'BAD_REQUEST', `"${field}" is required and must be a string`);
    }
    const max = this.ctx.config.maxValueBytes;
    if (byteLength(v) > max) {
      throw new HttpError(413, 'VALUE_TOO_LARGE', `"${field}" exceeds ${max} bytes`, {
        limit: max,
      });
    }
    return v;
  }

  private async jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    // JSON escapes can take 6 bytes per value byte (\\u0000); the value's own limit is
    // checked exactly once parsed.
    const limit = 6 * this.ctx.config.maxValueBytes + 4096;
    return parseJsonObject(await readBody(req, limit));
  }

  /** Proposes `command` in the group of its key (the primary group for `peers`). */
  private async write(
    req: IncomingMessage,
    command: KvCommand,
  ): Promise<{ index: number; term: number; result: KvResult | undefined }> {
    const { groups } = this.ctx;
    const node = this.requireNode('key' in command ? groups.forKey(command.key) : groups.primary);
    const started = performance.now();
    try {
      const r = await this.deadlines.race(node.apply(encodeCommand(command)));
      this.ctx.metrics.write(command.op, 'ok', (performance.now() - started) / 1000);
      return r;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      this.ctx.metrics.write(command.op, typeof code === 'string' ? code : 'INTERNAL');
      throw httpErrorOf(error, this.errorContext('write', req.url ?? ''));
    }
  }

  private resultOf<O extends KvResult['op']>(
    result: KvResult | undefined,
    op: O,
  ): Extract<KvResult, { op: O }> {
    if (result === undefined || result.op !== op) {
      throw new HttpError(500, 'INTERNAL', `the state machine answered ${JSON.stringify(result)}`);
    }
    return result as Extract<KvResult, { op: O }>;
  }
}

/** A list of distinct non-empty peer ids, or undefined when absent. */
function idList(value: unknown, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) {
    throw new HttpError(400, 'BAD_REQUEST', `"${field}" must be a list of peer ids (strings)`);
  }
  const ids = value as string[];
  if (new Set(ids).size !== ids.length) {
    throw new HttpError(400, 'BAD_REQUEST', `"${field}" lists a peer twice`);
  }
  return ids;
}

/** `{"n4": {"raft": "HOST:PORT", "http"?: "HOST:PORT"}}`, checked. */
function peerMap(value: unknown): Map<string, PeerAddress> {
  const out = new Map<string, PeerAddress>();
  if (value === undefined || value === null) return out;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'BAD_REQUEST', '"peers" must be an object of {raft, http} by peer id');
  }
  for (const [id, v] of Object.entries(value)) {
    const a = v as { raft?: unknown; http?: unknown; etcd?: unknown } | null;
    if (typeof a?.raft !== 'string' || !isAddress(a.raft)) {
      throw new HttpError(400, 'BAD_REQUEST', `"peers": ${id} needs "raft": "HOST:PORT"`);
    }
    if (a.http !== undefined && (typeof a.http !== 'string' || !isAddress(a.http))) {
      throw new HttpError(400, 'BAD_REQUEST', `"peers": ${id} has a bad "http" (HOST:PORT)`);
    }
    if (a.etcd !== undefined && (typeof a.etcd !== 'string' || !isAddress(a.etcd))) {
      throw new HttpError(400, 'BAD_REQUEST', `"peers": ${id} has a bad "etcd" (HOST:PORT)`);
    }
    const address: { raft: string; http?: string; etcd?: string } = { raft: a.raft };
    if (typeof a.http === 'string') address.http = a.http;
    if (typeof a.etcd === 'string') address.etcd = a.etcd;
    out.set(id, address);
  }
  return out;
}
