import type { NodeStatus, RaftHostStats, Role } from '@kontiki/core';
import { PrometheusMetrics } from '@kontiki/metrics-prometheus';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { GroupsSummaryBody } from './api-types.js';

const ROLES: readonly Role[] = [
  'follower',
  'candidate',
  'leader',
  'transferring',
  'error',
  'shutdown',
];

/** Latency buckets in seconds: 0.5 ms to 10 s. */
const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** gRPC status codes by number, as go-grpc-prometheus (and so etcd) names them. */
const GRPC_CODES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

/** What the metrics read when scraped. */
export interface MetricsSource {
  readonly id: string;
  status(): NodeStatus | undefined;
  keys(): number;
  /** With many groups: their summary (counts, not a series per group). */
  groups?(): GroupsSummaryBody;
  /** With many groups: the endpoint's RaftHost. */
  host?(): RaftHostStats | undefined;
}

/** A gauge set when scraped to what `read` returns (left alone when it returns undefined). */
function readGauge(
  registers: Registry[],
  name: string,
  help: string,
  read: () => number | undefined,
): Gauge {
  return new Gauge({
    name,
    help,
    registers,
    collect(this: Gauge) {
      const v = read();
      if (v !== undefined) this.set(v);
    },
  });
}

/** prom-client children of one metric, made once per label value and kept (nested by label). */
class Children<C> {
  private readonly made = new Map<string | number, C>();
  constructor(private readonly make: (key: string | number) => C) {}
  get(key: string | number): C {
    let c = this.made.get(key);
    if (c === undefined) {
      c = this.make(key);
      this.made.set(key, c);
    }
    return c;
  }
}

/** What one HTTP route records per request: its children are made once per method and status. */
export class HttpRouteMetrics {
  private readonly byMethod: Children<Children<Counter.Internal>>;
  private readonly methods: ReadonlySet<string>;
  constructor(
    requests: Counter<string>,
    private readonly duration: Histogram.Internal<string>,
    route: string,
    methods: readonly string[],
  ) {
    this.methods = new Set(methods);
    this.byMethod = new Children(
      (method) =>
        new Children((code) =>
          requests.labels({ route, method: String(method), code: String(code) }),
        ),
    );
  }

  done(method: string, status: number, seconds: number): void {
    // A client may send any method: those the route does not serve count as one.
    const m = this.methods.has(method) ? method : 'other';
    this.byMethod.get(m).get(status).inc();
    this.duration.observe(seconds);
  }
}

/** What one unary gRPC method of the etcd API records per call. */
export class GrpcMethodMetrics {
  private readonly byCode: Children<Counter.Internal>;
  constructor(
    handled: Counter<string>,
    private readonly handling: Histogram.Internal<string>,
    service: string,
    method: string,
  ) {
    const labels = { grpc_type: 'unary', grpc_service: service, grpc_method: method };
    this.byCode = new Children((code) =>
      handled.labels({ ...labels, grpc_code: GRPC_CODES[Number(code)] ?? String(code) }),
    );
  }

  /** A call ended with gRPC status `code` (0: OK) after `seconds`. */
  done(code: number, seconds: number): void {
    this.byCode.get(code).inc();
    this.handling.observe(seconds);
  }
}

/**
 * The kv-server's metrics, on prom-client: the process's own (`collectDefaultMetrics`), the
 * Raft node's (core's metrics hook, through `@kontiki/metrics-prometheus`), the node's state
 * read at scrape time, and the server's requests. Every series carries `node="<id>"`.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  /** The sink the Raft node reports to (`NodeOptions.metrics`). */
  readonly raft: PrometheusMetrics;
  private readonly httpRequests: Counter<string>;
  private readonly httpDuration: Histogram<string>;
  private readonly grpcHandled: Counter<string>;
  private readonly grpcHandling: Histogram<string>;
  private readonly writes: Children<Children<Counter.Internal>>;
  private readonly writeDuration: Children<Histogram.Internal<string>>;
  private readonly readsOk: Counter.Internal;
  private readonly readsFailed: Counter.Internal;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: source.id });
    collectDefaultMetrics({ register: this.registry });
    this.raft = new PrometheusMetrics({ registry: this.registry });

    // The node's state, read when scraped (what core's hook does not report).
    const fromStatus = (name: string, help: string, pick: (s: NodeStatus) => number): void => {
      readGauge(registers, name, help, () => {
        const s = source.status();
        return s === undefined ? undefined : pick(s);
      });
    };
    fromStatus(
      'kontiki_raft_last_log_index',
      'Index of the last entry in the log.',
      (s) => s.lastLogIndex,
    );
    fromStatus(
      'kontiki_raft_snapshot_index',
      'Index the latest snapshot covers (0: none).',
      (s) => s.snapshotIndex,
    );
    fromStatus(
      'kontiki_raft_first_log_index',
      'Index of the first entry kept in the log (after compaction).',
      (s) => s.firstLogIndex,
    );
    fromStatus(
      'kontiki_raft_voters',
      'Voters in the latest configuration (both sides while joint).',
      (s) => new Set([...s.configuration.voters, ...(s.configuration.oldVoters ?? [])]).size,
    );
    fromStatus(
      'kontiki_raft_durable_index',
      'Highest log index written durably.',
      (s) => s.durableIndex,
    );
    fromStatus('kontiki_raft_is_leader', '1 if this node is the leader.', (s) =>
      s.role === 'leader' ? 1 : 0,
    );
    new Gauge({
      name: 'kontiki_raft_role',
      help: 'The role of this node (1 for the current role).',
      labelNames: ['role'],
      registers,
      collect(this: Gauge<'role'>) {
        const s = source.status();
        if (s !== undefined) for (const role of ROLES) this.set({ role }, s.role === role ? 1 : 0);
      },
    });
    new Gauge({
      name: 'kontiki_raft_follower_match_index',
      help: 'Highest index each follower holds (leader only).',
      labelNames: ['peer'],
      registers,
      collect(this: Gauge<'peer'>) {
        // Only the followers of now: a former leader shows none.
        this.reset();
        for (const p of source.status()?.peers ?? []) this.set({ peer: p.peerId }, p.matchIndex);
      },
    });
    new Gauge({
      name: 'kontiki_kv_keys',
      help: 'Keys in the key-value state.',
      registers,
      collect(this: Gauge) {
        this.set(source.keys());
      },
    });

    if (source.groups) this.groupMetrics(source.groups, source.host);

    const proposals = new Counter({
      name: 'kontiki_kv_proposals_total',
      help: 'Writes proposed on this node, by outcome code.',
      labelNames: ['op', 'code'],
      registers,
    });
    this.writes = new Children(
      (op) => new Children((code) => proposals.labels({ op: String(op), code: String(code) })),
    );
    const proposalDuration = new Histogram({
      name: 'kontiki_kv_proposal_duration_seconds',
      help: 'From proposal to applied, for writes that succeeded.',
      labelNames: ['op'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.writeDuration = new Children((op) => proposalDuration.labels({ op: String(op) }));
    const reads = new Counter({
      name: 'kontiki_kv_reads_total',
      help: 'Linearizable reads served, by outcome code.',
      labelNames: ['code'],
      registers,
    });
    this.readsOk = reads.labels({ code: 'ok' });
    this.readsFailed = reads.labels({ code: 'error' });
    this.httpRequests = new Counter({
      name: 'kontiki_http_requests_total',
      help: 'HTTP requests, by route, method and status.',
      labelNames: ['route', 'method', 'code'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'kontiki_http_request_duration_seconds',
      help: 'HTTP request duration, by route.',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    // etcd's own names for its gRPC API (go-grpc-prometheus), so its dashboards apply.
    this.grpcHandled = new Counter({
      name: 'grpc_server_handled_total',
      help: 'etcd API calls completed, by service, method and gRPC status code.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
      registers,
    });
    this.grpcHandling = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'etcd API calls, from the request to the answer.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
  }

  /** The children of one HTTP route (`methods`: those it serves; others count as `other`). */
  httpRoute(route: string, methods: readonly string[]): HttpRouteMetrics {
    return new HttpRouteMetrics(
      this.httpRequests,
      this.httpDuration.labels({ route }),
      route,
      methods,
    );
  }

  /** The children of one unary method of the etcd API. */
  grpcMethod(service: string, method: string): GrpcMethodMetrics {
    const labels = { grpc_type: 'unary', grpc_service: service, grpc_method: method };
    return new GrpcMethodMetrics(
      this.grpcHandled,
      this.grpcHandling.labels(labels),
      service,
      method,
    );
  }

  /** A write ended with `code` ('ok' or an error code); `seconds` when it succeeded. */
  write(op: string, code: string, seconds?: number): void {
    this.writes.get(op).get(code).inc();
    if (seconds !== undefined) this.writeDuration.get(op).observe(seconds);
  }

  read(ok: boolean): void {
    (ok ? this.readsOk : this.readsFailed).inc();
  }

  /** The exposition text, and its content type. */
  async render(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  /**
   * Many groups on one endpoint: a few series that summarise them (the per-group state above
   * is the primary group's), read when scraped from the summary the status API also serves
   * and from the RaftHost's counts.
   */
  private groupMetrics(
    groups: () => GroupsSummaryBody,
    host: (() => RaftHostStats | undefined) | undefined,
  ): void {
    const registers = [this.registry];
    const fromSummary = (name: string, help: string, pick: (s: GroupsSummaryBody) => number) =>
      readGauge(registers, name, help, () => pick(groups()));
    fromSummary('kontiki_groups', 'Raft groups this node runs.', (s) => s.count);
    fromSummary('kontiki_groups_led', 'Groups this node leads.', (s) => s.ledHere);
    fromSummary(
      'kontiki_groups_with_leader',
      'Groups whose leader this node knows.',
      (s) => s.withLeader,
    );
    fromSummary(
      'kontiki_groups_lagging',
      'Groups whose applied index is far behind their commit index.',
      (s) => s.laggards.count,
    );
    new Gauge({
      name: 'kontiki_groups_led_by',
      help: 'Groups by the node this one believes leads them.',
      labelNames: ['leader'],
      registers,
      collect(this: Gauge<'leader'>) {
        this.reset();
        for (const [leader, n] of Object.entries(groups().leadersPerNode)) this.set({ leader }, n);
      },
    });
    if (host === undefined) return;
    new Gauge({
      name: 'kontiki_host_groups_quiesced',
      help: 'Groups quiesced with each peer endpoint: led here (side="leader") or there.',
      labelNames: ['peer', 'side'],
      registers,
      collect(this: Gauge<'peer' | 'side'>) {
        this.reset();
        for (const p of host()?.peers ?? []) {
          this.set({ peer: p.peerId, side: 'leader' }, p.quiescedLeading);
          this.set({ peer: p.peerId, side: 'follower' }, p.quiescedFollowing);
        }
      },
    });
    new Gauge({
      name: 'kontiki_host_peer_alive',
      help: '1 if the peer endpoint was heard from within an election timeout.',
      labelNames: ['peer'],
      registers,
      collect(this: Gauge<'peer'>) {
        this.reset();
        for (const p of host()?.peers ?? []) this.set({ peer: p.peerId }, p.alive ? 1 : 0);
      },
    });
    // Totals kept by the host, exported as counters (set to the host's count when scraped).
    const total = (name: string, help: string, pick: (s: RaftHostStats) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect(this: Counter) {
          const stats = host();
          if (stats === undefined) return;
          this.reset();
          this.inc(pick(stats));
        },
      });
    total('kontiki_host_beats_sent_total', 'Node-level heartbeats sent.', (s) => s.beatsSent);
    total(
      'kontiki_host_beats_failed_total',
      'Node-level heartbeats that failed.',
      (s) => s.beatsFailed,
    );
    total(
      'kontiki_host_offers_accepted_total',
      'Quiescence offers accepted.',
      (s) => s.offersAccepted,
    );
    total(
      'kontiki_host_offers_refused_total',
      'Quiescence offers refused or lost.',
      (s) => s.offersRefused,
    );
    new Counter({
      name: 'kontiki_host_wakes_total',
      help: 'Groups that left quiescence, by side and reason.',
      labelNames: ['reason'],
      registers,
      collect(this: Counter<'reason'>) {
        const stats = host();
        if (stats === undefined) return;
        this.reset();
        for (const [reason, n] of Object.entries(stats.wakes)) this.inc({ reason }, n);
      },
    });
  }
}
