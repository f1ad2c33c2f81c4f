import type { Clock } from './clock.js';
import type { GroupId, PeerId, Role } from './types.js';

/** The labels of one series: label name to value. */
export type MetricLabels = Readonly<Record<string, string>>;

/** One series a node reports, as it asks a {@link RaftMetrics} sink for it (once). */
export interface MetricDescriptor {
  /**
   * A Prometheus-style name without a prefix, e.g. `raft_has_leader` (the sink may add one:
   * `@kontiki/metrics-prometheus` adds `kontiki_`).
   */
  readonly name: string;
  /** What the series measures, in one sentence (Prometheus' HELP). */
  readonly help: string;
  /**
   * The series' labels: always `group`; `peer` or `reason` where the name says so. Every
   * series of one name has the same label names.
   */
  readonly labels: MetricLabels;
}

/** A histogram series: its buckets' upper bounds, ascending, in the unit the name ends with. */
export interface HistogramDescriptor extends MetricDescriptor {
  readonly buckets: readonly number[];
}

/** A series that only goes up. */
export interface CounterMetric {
  inc(amount: number): void;
}

/** A series set to the current value. */
export interface GaugeMetric {
  set(value: number): void;
}

/** A series of observations counted into buckets. */
export interface HistogramMetric {
  observe(value: number): void;
}

/**
 * Where a node reports its metrics (`NodeOptions.metrics`); without one a node reports
 * nothing and spends nothing on it. A node asks for each of its series once, when it is
 * created (a follower's round-trip series when it first replicates to it), and then only
 * calls `inc`, `set` and `observe` on what it got: no labels or objects per proposal. One
 * sink may serve many nodes of different groups (the `group` label tells them apart);
 * asked twice for the same name and labels, it should return the same series.
 *
 * `@kontiki/metrics-prometheus` implements it with prom-client. The series, with their
 * names, are listed in that package's README.
 */
export interface RaftMetrics {
  counter(descriptor: MetricDescriptor): CounterMetric;
  gauge(descriptor: MetricDescriptor): GaugeMetric;
  histogram(descriptor: HistogramDescriptor): HistogramMetric;
}

const NOOP: CounterMetric & GaugeMetric & HistogramMetric = {
  inc() {},
  set() {},
  observe() {},
};

/** 100 µs doubling to 3.3 s (etcd's peer round-trip buckets), for disk writes and RTTs. */
const FAST_BUCKETS = Array.from({ length: 16 }, (_, i) => 0.0001 * 2 ** i);
/** 1 ms doubling to 262 s, for snapshots. */
const SLOW_BUCKETS = Array.from({ length: 19 }, (_, i) => 0.001 * 2 ** i);

/** The `reason` label of failed proposals: error codes in lower case, and `timeout`. */
const FAILURE_REASONS = [
  'not_leader',
  'busy',
  'leader_stepped_down',
  'aborted',
  'timeout',
  'shutdown',
  'transfer_in_progress',
  'term_mismatch',
  'bad_request',
  'other',
] as const;
type FailureReason = (typeof FAILURE_REASONS)[number];

/** Why a received snapshot was not installed: the state machine could not load it, or a chunk was refused. */
type InstallRefusal = 'unloadable' | 'rejected';

/** Measures one follower's round trips (the leader's replicator holds one). */
export interface PeerMetrics {
  /** An AppendEntries sent at `sentAt` (node clock) was answered now. */
  answered(sentAt: number): void;
}

const NO_PEER: PeerMetrics = { answered() {} };

/**
 * A node's series, asked of its sink once, and the little state the counters need (the last
 * leader seen, the last commit and applied index). Components call one method at each point
 * of measure; without a sink every method returns at once and no clock is read.
 */
export class NodeMetrics {
  /**
   * A node without a sink (also what components get in unit tests). It keeps no state, so
   * every node without a sink shares it.
   */
  static readonly none = new NodeMetrics(undefined, '', { now: () => 0 });

  /** Whether a sink listens. */
  readonly enabled: boolean;
  private readonly hasLeader: GaugeMetric;
  private readonly leaderChanges: CounterMetric;
  private readonly term: GaugeMetric;
  private readonly commitIndex: GaugeMetric;
  private readonly appliedIndex: GaugeMetric;
  private readonly committed: CounterMetric;
  private readonly applied: CounterMetric;
  private readonly pending: GaugeMetric;
  private readonly failed: Readonly<Record<FailureReason, CounterMetric>>;
  private readonly logSync: HistogramMetric;
  private readonly snapshotSave: HistogramMetric;
  private readonly snapshotInstall: HistogramMetric;
  private readonly installRefused: Readonly<Record<InstallRefusal, CounterMetric>>;
  /** Round-trip series by follower, created when a leader first replicates. */
  private peers: Map<PeerId, PeerMetrics> | undefined;

  private leaderSeen: PeerId | undefined;
  private leaderTermSeen = -1;
  private lastCommit = 0;
  private lastApplied = 0;

  constructor(
    private readonly sink: RaftMetrics | undefined,
    private readonly group: GroupId,
    private readonly clock: Pick<Clock, 'now'>,
  ) {
    this.enabled = sink !== undefined;
    const labels = { group };
    const counter = (name: string, help: string, extra?: MetricLabels) =>
      sink ? sink.counter({ name, help, labels: { ...labels, ...extra } }) : NOOP;
    const gauge = (name: string, help: string) =>
      sink ? sink.gauge({ name, help, labels }) : NOOP;
    const histogram = (name: string, help: string, buckets: readonly number[]) =>
      sink ? sink.histogram({ name, help, labels, buckets }) : NOOP;

    this.hasLeader = gauge('raft_has_leader', 'Whether this node knows a leader (1) or not (0).');
    this.leaderChanges = counter(
      'raft_leader_changes_seen_total',
      'Leaderships this node has seen: a new leader, or the same one elected again in a later term.',
    );
    this.term = gauge('raft_term', "This node's current term.");
    this.commitIndex = gauge('raft_commit_index', 'The highest log index known committed.');
    this.appliedIndex = gauge('raft_applied_index', 'The highest log index applied here.');
    this.committed = counter(
      'raft_proposals_committed_total',
      'Log entries this node learned were committed (the commit index moving).',
    );
    this.applied = counter(
      'raft_proposals_applied_total',
      'Log entries applied to the state machine here.',
    );
    this.pending = gauge(
      'raft_proposals_pending',
      'Proposals made on this node (leader) waiting to be applied.',
    );
    const failed = (reason: FailureReason) =>
      counter(
        'raft_proposals_failed_total',
        'Proposals made on this node that failed, by reason (the error code, or timeout).',
        { reason },
      );
    this.failed = Object.fromEntries(FAILURE_REASONS.map((r) => [r, failed(r)])) as Record<
      FailureReason,
      CounterMetric
    >;
    this.logSync = histogram(
      'disk_log_sync_duration_seconds',
      'Durable appends to the log storage (one write and its sync; appends made meanwhile are written together).',
      FAST_BUCKETS,
    );
    this.snapshotSave = histogram(
      'snapshot_save_duration_seconds',
      'Snapshots saved here: the state machine writing it and the storage committing it.',
      SLOW_BUCKETS,
    );
    this.snapshotInstall = histogram(
      'snapshot_install_duration_seconds',
      "Leaders' snapshots installed here: from the first chunk to the state machine holding it.",
      SLOW_BUCKETS,
    );
    const refused = (reason: InstallRefusal) =>
      counter(
        'snapshot_install_refused_total',
        "Leaders' snapshots (or chunks of them) refused: unloadable by the state machine, or rejected.",
        { reason },
      );
    this.installRefused = { unloadable: refused('unloadable'), rejected: refused('rejected') };
  }

  /** The node's clock when a sink listens (a start time for a duration), else 0. */
  start(): number {
    return this.enabled ? this.clock.now() : 0;
  }

  private seconds(since: number): number {
    return (this.clock.now() - since) / 1000;
  }

  /** The leader this node knows of in `term` (undefined: none). */
  leader(leader: PeerId | undefined, term: number): void {
    if (!this.enabled) return;
    this.hasLeader.set(leader === undefined ? 0 : 1);
    if (leader === undefined) return;
    // A leadership is a leader and its term: losing sight of it and finding it again is none.
    if (leader === this.leaderSeen && term === this.leaderTermSeen) return;
    this.leaderSeen = leader;
    this.leaderTermSeen = term;
    this.leaderChanges.inc(1);
  }

  termChanged(term: number): void {
    this.term.set(term);
  }

  /** The commit index moved to `index`. */
  committedTo(index: number): void {
    if (!this.enabled || index <= this.lastCommit) return;
    this.committed.inc(index - this.lastCommit);
    this.lastCommit = index;
    this.commitIndex.set(index);
  }

  /** Entries were applied up to `index`. */
  appliedTo(index: number): void {
    if (!this.enabled || index <= this.lastApplied) return;
    this.applied.inc(index - this.lastApplied);
    this.lastApplied = index;
    this.appliedIndex.set(index);
  }

  /** The state now starts at `index` (a snapshot loaded at start or installed): nothing counted. */
  restored(index: number): void {
    if (!this.enabled) return;
    this.lastCommit = Math.max(this.lastCommit, index);
    this.lastApplied = Math.max(this.lastApplied, index);
    this.commitIndex.set(this.lastCommit);
    this.appliedIndex.set(this.lastApplied);
  }

  pendingProposals(count: number): void {
    this.pending.set(count);
  }

  /** `count` proposals failed with `code` (an ErrorCode); `timedOut`: aborted by a timeout signal. */
  proposalsFailed(code: string, count: number, timedOut = false): void {
    if (!this.enabled || count === 0) return;
    const reason = timedOut ? 'timeout' : code.toLowerCase();
    const counter = (this.failed as Record<string, CounterMetric | undefined>)[reason];
    (counter ?? this.failed.other).inc(count);
  }

  /** A durable append to the log storage that began at `started` ended. */
  logSynced(started: number): void {
    if (this.enabled) this.logSync.observe(this.seconds(started));
  }

  snapshotSaved(started: number): void {
    if (this.enabled) this.snapshotSave.observe(this.seconds(started));
  }

  snapshotInstalled(started: number): void {
    if (this.enabled) this.snapshotInstall.observe(this.seconds(started));
  }

  snapshotRefused(reason: InstallRefusal): void {
    this.installRefused[reason].inc(1);
  }

  /** A stopped node (shut down, or stopped on an error) knows no leader. */
  role(role: Role): void {
    if (role === 'shutdown' || role === 'error') this.hasLeader.set(0);
  }

  /** The round-trip series of `peer` (asked of the sink the first time). */
  peer(peer: PeerId): PeerMetrics {
    const sink = this.sink;
    if (sink === undefined) return NO_PEER;
    this.peers ??= new Map();
    let p = this.peers.get(peer);
    if (p === undefined) {
      const rtt = sink.histogram({
        name: 'network_peer_round_trip_time_seconds',
        help: 'From sending an AppendEntries to a follower to its answer, late answers included.',
        labels: { group: this.group, peer },
        buckets: FAST_BUCKETS,
      });
      const clock = this.clock;
      p = { answered: (sentAt) => rtt.observe((clock.now() - sentAt) / 1000) };
      this.peers.set(peer, p);
    }
    return p;
  }
}
