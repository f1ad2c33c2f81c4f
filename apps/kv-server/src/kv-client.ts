import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  CasBody,
  DeleteBody,
  DigestBody,
  ErrorBody,
  GetBody,
  MembershipBody,
  PutBody,
  SnapshotBody,
  StatusBody,
  TransferBody,
} from './api-types.js';
import { type JsonResponse, requestJson, TransportFailure } from './http-json.js';

/**
 * A request the cluster refused or could not answer. `outcome` (writes only) says whether
 * the write certainly did not take effect (`not-applied`) or may have (`unknown`).
 */
export class KvError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number | undefined,
    readonly outcome: 'not-applied' | 'unknown' | undefined,
  ) {
    super(message);
    this.name = 'KvError';
  }
}

export interface KvClientOptions {
  /** Deadline of one HTTP request. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** How long to keep trying other nodes while no leader answers. Default 10 s. */
  readonly retryForMs?: number;
  /** The cluster's secret, sent to the admin endpoints (transfer, snapshot, membership). */
  readonly token?: string;
}

interface CallSpec {
  readonly kind: 'read' | 'write';
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  /** Statuses that are answers, not errors. */
  readonly accept: readonly number[];
  /** Ask this node only (no rotation, no redirect to the leader). */
  readonly endpoint?: string;
  /** This call's request deadline, instead of the client's. */
  readonly requestTimeoutMs?: number;
  /** An /admin/ endpoint: send the cluster's secret. */
  readonly admin?: boolean;
}

/** What `setMembers` asks for. */
export interface MembershipRequest {
  readonly voters: readonly string[];
  readonly learners?: readonly string[];
  /** Addresses of members the group does not know yet (nodes being added). */
  readonly peers?: Readonly<
    Record<string, { readonly raft: string; readonly http?: string; readonly etcd?: string }>
  >;
  /** How long new members may take to catch up before the change is given up (server default: 20 election timeouts). */
  readonly timeoutMs?: number;
}

const MAX_ATTEMPTS = 1000;
const ROUND_PAUSE_MS = 50;
/**
 * The pause after a round in which a node said it knows no leader: it has given up on the
 * old one, so an election is under way and ends within a few round trips; asking again
 * sooner finds the new leader sooner (up to 40 ms after a failover). For a few rounds only
 * (an election that lasts is not about to end); elsewhere (a leader that refuses connections
 * and that the others still believe in) the longer pause.
 */
const ELECTION_PAUSE_MS = 10;
const ELECTION_ROUNDS = 20;

function keyPath(prefix: string, key: string): string {
  return `${prefix}${encodeURIComponent(key)}`;
}

/** "host:port" of a redirect's Location, or undefined. */
function hostOf(location: string | string[] | undefined): string | undefined {
  if (typeof location !== 'string') return undefined;
  try {
    return new URL(location).host;
  } catch {
    return undefined;
  }
}

/**
 * A client of a kv-server cluster. Writes go to the leader: it follows 307 redirects and
 * remembers the leader; a node that refuses connections or knows no leader is skipped for
 * the next one, until `retryForMs`. A write whose outcome is unknown is never retried
 * (the caller decides); reads are retried on any failure.
 */
export class KvClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 512 });
  private readonly requestTimeoutMs: number;
  private readonly retryForMs: number;
  private readonly token: string | undefined;
  private leaderHint: string | undefined;

  constructor(
    readonly endpoints: readonly string[],
    options: KvClientOptions = {},
  ) {
    if (endpoints.length === 0) throw new Error('KvClient needs at least one endpoint');
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.retryForMs = options.retryForMs ?? 10_000;
    this.token = options.token;
  }

  /** Linearizable read; null when the key does not exist. Any node serves it (or `endpoint`). */
  async get(key: string, options: { endpoint?: string } = {}): Promise<GetBody | null> {
    const res = await this.call({
      kind: 'read',
      method: 'GET',
      path: keyPath('/kv/', key),
      accept: [200, 404],
      ...options,
    });
    if (res.status === 404) {
      if ((res.body as ErrorBody | undefined)?.error.code === 'KEY_NOT_FOUND') return null;
      throw this.errorOf(res, 'read');
    }
    return res.body as GetBody;
  }

  async put(key: string, value: string): Promise<PutBody> {
    const res = await this.call({
      kind: 'write',
      method: 'PUT',
      path: keyPath('/kv/', key),
      body: { value },
      accept: [200],
    });
    return res.body as PutBody;
  }

  async delete(key: string): Promise<DeleteBody> {
    const res = await this.call({
      kind: 'write',
      method: 'DELETE',
      path: keyPath('/kv/', key),
      accept: [200],
    });
    return res.body as DeleteBody;
  }

  /** Compare-and-set; `expected` null means "the key must not exist". */
  async cas(key: string, expected: string | null, value: string): Promise<CasBody> {
    const res = await this.call({
      kind: 'write',
      method: 'POST',
      path: keyPath('/cas/', key),
      body: { expected, value },
      accept: [200, 412],
    });
    return res.body as CasBody;
  }

  async status(endpoint: string): Promise<StatusBody> {
    const res = await this.call({
      kind: 'read',
      method: 'GET',
      path: '/status',
      accept: [200],
      endpoint,
    });
    return res.body as StatusBody;
  }

  async digest(endpoint: string): Promise<DigestBody> {
    const res = await this.call({
      kind: 'read',
      method: 'GET',
      path: '/digest',
      accept: [200],
      endpoint,
    });
    return res.body as DigestBody;
  }

  /** Asks the leader to hand leadership to `peer` (or to the most up-to-date follower). */
  async transferLeader(peer?: string): Promise<TransferBody> {
    const res = await this.call({
      kind: 'write',
      method: 'POST',
      path: '/admin/transfer-leader',
      body: peer === undefined ? {} : { peer },
      accept: [200],
      admin: true,
    });
    return res.body as TransferBody;
  }

  /**
   * Asks one node to take a snapshot of its own state now (`endpoint`, else the first
   * endpoint): every node snapshots itself, there is no cluster-wide snapshot.
   */
  async snapshot(endpoint?: string): Promise<SnapshotBody> {
    const res = await this.call({
      kind: 'read',
      method: 'POST',
      path: '/admin/snapshot',
      body: {},
      accept: [200],
      admin: true,
      endpoint: endpoint ?? (this.endpoints[0] as string),
      // Writing a large state to disk can take longer than a request usually does.
      requestTimeoutMs: Math.max(this.requestTimeoutMs, 60_000),
    });
    return res.body as SnapshotBody;
  }

  /**
   * Changes the group's membership through its leader (redirects followed, BUSY retried
   * while the client's retry time lasts). Resolves once the new configuration is committed.
   */
  async setMembers(request: MembershipRequest): Promise<MembershipBody> {
    const res = await this.call({
      kind: 'write',
      method: 'POST',
      path: '/admin/membership',
      body: request,
      accept: [200],
      admin: true,
      // New members catch up first: the answer may take as long as the change's timeout.
      requestTimeoutMs: Math.max(this.requestTimeoutMs, (request.timeoutMs ?? 60_000) + 10_000),
    });
    return res.body as MembershipBody;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private async call(spec: CallSpec): Promise<JsonResponse> {
    const deadline = Date.now() + this.retryForMs;
    const fixed = spec.endpoint;
    let index = Math.max(0, fixed ? 0 : this.endpoints.indexOf(this.leaderHint ?? ''));
    let target = fixed ?? this.leaderHint ?? (this.endpoints[0] as string);
    let triesThisRound = 0;
    let electing = false;
    let electionRounds = 0;
    let last: Error = new KvError('UNAVAILABLE', 'no node answered', undefined, 'not-applied');

    for (let attempt = 0; attempt < MAX_ATTEMPTS && Date.now() < deadline; attempt++) {
      let res: JsonResponse | undefined;
      try {
        res = await requestJson(spec.method, `http://${target}${spec.path}`, {
          body: spec.body,
          timeoutMs: spec.requestTimeoutMs ?? this.requestTimeoutMs,
          agent: this.agent,
          ...(spec.admin && this.token !== undefined
            ? { headers: { authorization: `Bearer ${this.token}` } }
            : {}),
        });
      } catch (error) {
        if (!(error instanceof TransportFailure)) throw error;
        if (spec.kind === 'write' && error.kind === 'failed') {
          if (this.leaderHint === target) this.leaderHint = undefined;
          throw new KvError('UNREACHABLE', error.message, undefined, 'unknown');
        }
        last = error;
      }

      if (res !== undefined) {
        if (spec.accept.includes(res.status)) {
          if (spec.kind === 'write') this.leaderHint = target;
          return res;
        }
        const redirect = res.status === 307 ? hostOf(res.headers.location) : undefined;
        if (redirect !== undefined && fixed === undefined) {
          this.leaderHint = redirect;
          target = redirect;
          continue;
        }
        const error = this.errorOf(res, spec.kind);
        if (res.status === 503 && error.code === 'NOT_LEADER') {
          electing ||= (res.body as ErrorBody | undefined)?.error.leaderId === null;
        }
        const retryable =
          spec.kind === 'read'
            ? res.status === 503 || res.status === 504
            : res.status === 503 && error.outcome === 'not-applied';
        if (!retryable) throw error;
        last = error;
      }

      // Next node; after a full round without an answer, pause before the next round.
      if (this.leaderHint === target) this.leaderHint = undefined;
      if (fixed === undefined) {
        index = (index + 1) % this.endpoints.length;
        target = this.endpoints[index] as string;
      }
      triesThisRound++;
      if (fixed !== undefined || triesThisRound >= this.endpoints.length) {
        const fast = electing && electionRounds++ < ELECTION_ROUNDS;
        await sleep(fast ? ELECTION_PAUSE_MS : ROUND_PAUSE_MS);
        triesThisRound = 0;
        electing = false;
      }
    }
    throw last;
  }

  private errorOf(res: JsonResponse, kind: 'read' | 'write'): KvError {
    const e = (res.body as ErrorBody | undefined)?.error;
    const code = e?.code ?? `HTTP_${res.status}`;
    const message = e?.message ?? (res.text.slice(0, 200) || `HTTP ${res.status}`);
    // A 4xx refusal happens before anything is proposed: certainly not applied.
    const refused = res.status >= 400 && res.status < 500 ? 'not-applied' : 'unknown';
    const outcome = kind === 'write' ? (e?.outcome ?? refused) : undefined;
    return new KvError(code, message, res.status, outcome);
  }
}
