import { describe, expect, it } from 'vitest';
import type {
  CounterMetric,
  GaugeMetric,
  HistogramDescriptor,
  HistogramMetric,
  MetricDescriptor,
  RaftMetrics,
} from '../src/index.js';
import { NodeMetrics } from '../src/metrics.js';

/** A sink that records what it was asked for and every call made on what it handed out. */
class RecordingSink implements RaftMetrics {
  readonly asked: string[] = [];
  readonly values = new Map<string, number>();
  readonly observed = new Map<string, number[]>();
  private key(d: MetricDescriptor): string {
    return `${d.name}${JSON.stringify(d.labels)}`;
  }
  counter(d: MetricDescriptor): CounterMetric {
    const k = this.key(d);
    this.asked.push(k);
    return { inc: (n) => this.values.set(k, (this.values.get(k) ?? 0) + n) };
  }
  gauge(d: MetricDescriptor): GaugeMetric {
    const k = this.key(d);
    this.asked.push(k);
    return { set: (v) => this.values.set(k, v) };
  }
  histogram(d: HistogramDescriptor): HistogramMetric {
    const k = this.key(d);
    this.asked.push(k);
    return { observe: (v) => this.observed.set(k, [...(this.observed.get(k) ?? []), v]) };
  }
}

const G = '{"group":"g"}';

describe('NodeMetrics, between a node and its sink', () => {
  it('without a sink reads no clock and asks nothing, whatever it is told', () => {
    const clock = {
      now(): number {
        throw new Error('the clock was read');
      },
    };
    const m = new NodeMetrics(undefined, 'g', clock);
    expect(m.enabled).toBe(false);
    expect(m.start()).toBe(0);
    m.leader('a', 1);
    m.termChanged(3);
    m.committedTo(10);
    m.appliedTo(10);
    m.restored(20);
    m.pendingProposals(5);
    m.proposalsFailed('BUSY', 2);
    m.logSynced(0);
    m.snapshotSaved(0);
    m.snapshotInstalled(0);
    m.snapshotRefused('rejected');
    m.role('shutdown');
    m.peer('b').answered(0);
  });

  it('counts a leadership once per leader and term, however often the node loses sight of it', () => {
    const sink = new RecordingSink();
    const m = new NodeMetrics(sink, 'g', { now: () => 0 });
    const seen = () => sink.values.get(`raft_leader_changes_seen_total${G}`);
    const has = () => sink.values.get(`raft_has_leader${G}`);
    expect(seen()).toBeUndefined();
    m.leader('a', 1);
    expect([seen(), has()]).toEqual([1, 1]);
    m.leader(undefined, 1);
    expect([seen(), has()]).toEqual([1, 0]);
    m.leader('a', 1);
    expect([seen(), has()]).toEqual([1, 1]);
    // The same leader elected again in a later term is a new leadership.
    m.leader('a', 2);
    m.leader('b', 3);
    expect(seen()).toBe(3);
    m.role('error');
    expect(has()).toBe(0);
  });

  it('counts entries committed and applied from where the node started, not from 0', () => {
    const sink = new RecordingSink();
    const m = new NodeMetrics(sink, 'g', { now: () => 0 });
    m.restored(100);
    m.committedTo(90);
    m.committedTo(105);
    m.appliedTo(103);
    expect(sink.values.get(`raft_proposals_committed_total${G}`)).toBe(5);
    expect(sink.values.get(`raft_proposals_applied_total${G}`)).toBe(3);
    expect(sink.values.get(`raft_commit_index${G}`)).toBe(105);
    expect(sink.values.get(`raft_applied_index${G}`)).toBe(103);
  });

  it('files failed proposals under their code, a timeout apart, and anything unknown under other', () => {
    const sink = new RecordingSink();
    const m = new NodeMetrics(sink, 'g', { now: () => 0 });
    m.proposalsFailed('NOT_LEADER', 1);
    m.proposalsFailed('ABORTED', 2);
    m.proposalsFailed('ABORTED', 1, true);
    m.proposalsFailed('STORAGE', 4);
    const failed = (reason: string) =>
      sink.values.get(`raft_proposals_failed_total{"group":"g","reason":"${reason}"}`);
    expect([failed('not_leader'), failed('aborted'), failed('timeout'), failed('other')]).toEqual([
      1, 2, 1, 4,
    ]);
    // Every reason's series exists from the start, so that rates work before the first failure.
    expect(sink.asked).toContain('raft_proposals_failed_total{"group":"g","reason":"busy"}');
  });

  it('times in seconds on the node clock, and asks for each peer series once', () => {
    const sink = new RecordingSink();
    let now = 1000;
    const m = new NodeMetrics(sink, 'g', { now: () => now });
    const started = m.start();
    now += 250;
    m.logSynced(started);
    expect(sink.observed.get(`disk_log_sync_duration_seconds${G}`)).toEqual([0.25]);
    const before = sink.asked.length;
    m.peer('b').answered(now - 4);
    m.peer('b').answered(now - 2);
    expect(sink.asked.length).toBe(before + 1);
    expect(
      sink.observed.get('network_peer_round_trip_time_seconds{"group":"g","peer":"b"}'),
    ).toEqual([0.004, 0.002]);
    // Every series asked for at most once.
    expect(new Set(sink.asked).size).toBe(sink.asked.length);
  });
});
