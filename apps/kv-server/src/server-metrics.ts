import type { NodeStatus, Role } from '@kontiki/core';
import { Counter, Gauge, Histogram, Registry } from './prometheus.js';

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

/** What the metrics read when scraped. */
export interface MetricsSource {
  readonly id: string;
  status(): NodeStatus | undefined;
  keys(): number;
}

/** The kv-server's metrics: Raft state (read at scrape time), HTTP and proposal counters. */
export class ServerMetrics {
  private readonly registry = new Registry();
  readonly httpRequests: Counter;
  readonly httpDuration: Histogram;
  readonly proposals: Counter;
  readonly proposalDuration: Histogram;
  readonly reads: Counter;
  readonly leaderChanges: Counter;
  readonly snapshots: Counter;

  constructor(source: MetricsSource) {
    const r = this.registry;
    const node = { node: source.id };
    const fromStatus = (name: string, help: string, pick: (s: NodeStatus) => number): Gauge =>
      r.register(
        new Gauge(name, help, () => {
          const s = source.status();
          return s === undefined ? [] : [[node, pick(s)]];
        }),
      );
    fromStatus('kontiki_raft_term', 'Current Raft term of this node.', (s) => s.term);
    fromStatus(
      'kontiki_raft_commit_index',
      'Highest log index known committed.',
      (s) => s.commitIndex,
    );
    fromStatus(
      'kontiki_raft_applied_index',
      'Highest log index applied to the key-value state.',
      (s) => s.appliedIndex,
    );
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
    fromStatus(
      'kontiki_raft_pending_proposals',
      'Proposals waiting to be applied (leader).',
      (s) => s.pendingProposals,
    );
    fromStatus('kontiki_raft_is_leader', '1 if this node is the leader.', (s) =>
      s.role === 'leader' ? 1 : 0,
    );
    r.register(
      new Gauge('kontiki_raft_role', 'The role of this node (1 for the current role).', () => {
        const s = source.status();
        return s === undefined
          ? []
          : ROLES.map((role) => [{ ...node, role }, s.role === role ? 1 : 0]);
      }),
    );
    r.register(
      new Gauge(
        'kontiki_raft_follower_match_index',
        'Highest index each follower holds (leader only).',
        () =>
          (source.status()?.peers ?? []).map((p) => [{ ...node, peer: p.peerId }, p.matchIndex]),
      ),
    );
    r.register(
      new Gauge('kontiki_kv_keys', 'Keys in the key-value state.', () => [[node, source.keys()]]),
    );
    r.register(
      new Gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => [
        [{}, process.memoryUsage.rss()],
      ]),
    );
    this.leaderChanges = r.register(
      new Counter('kontiki_raft_leader_changes_total', 'Times this node saw the leader change.'),
    );
    this.snapshots = r.register(
      new Counter(
        'kontiki_raft_snapshots_total',
        'Snapshots this node saved or installed (from its leader), by kind.',
      ),
    );
    this.proposals = r.register(
      new Counter('kontiki_kv_proposals_total', 'Writes proposed on this node, by outcome code.'),
    );
    this.proposalDuration = r.register(
      new Histogram(
        'kontiki_kv_proposal_duration_seconds',
        'From proposal to applied, for writes that succeeded.',
        LATENCY_BUCKETS,
      ),
    );
    this.reads = r.register(
      new Counter('kontiki_kv_reads_total', 'Linearizable reads served, by outcome code.'),
    );
    this.httpRequests = r.register(
      new Counter('kontiki_http_requests_total', 'HTTP requests, by route, method and status.'),
    );
    this.httpDuration = r.register(
      new Histogram(
        'kontiki_http_request_duration_seconds',
        'HTTP request duration, by route.',
        LATENCY_BUCKETS,
      ),
    );
  }

  render(): string {
    return this.registry.render();
  }
}
