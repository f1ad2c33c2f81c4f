import { ErrorCode, RaftError, type RaftNode, type StateMachine } from '@kontiki/core';
import { SimCluster, SimulationFailure } from './cluster.js';
import {
  applyHostileNetwork,
  type HostileNetworkProfile,
  ISSUE_9_NETWORK,
  scaleProfile,
} from './hostile-network.js';
import { InvariantViolation } from './invariants.js';
import { Rng } from './rng.js';
import type { SimStateMachine } from './sim-state-machine.js';

export interface LivenessFaultsOptions {
  seed: number;
  /** Peers; default 3, 5 or 7, picked by the seed. */
  peers?: number;
  /** Election timeout T in virtual ms (default 300, as in issue 9). */
  electionTimeoutMs?: number;
  /** Default: T/3 or T/10, picked by the seed. */
  heartbeatIntervalMs?: number;
  /** The network for the whole run; default picked by the seed (issue 9's for half the seeds). */
  network?: HostileNetworkProfile;
  /** Length of the first phase, in T, where faults may cut off any number of nodes (default 30). */
  chaosTimeouts?: number;
  /** Length of the checked window, in T (default 100). */
  windowTimeouts?: number;
  /**
   * Most virtual time, in T, from a command's proposal to its commit (default 30). See
   * docs/ARCHITECTURE.md ("Liveness under faults") for why 30.
   */
  boundTimeouts?: number;
  /** Mean time between two measured commands, in T (default 2). */
  commandIntervalTimeouts?: number;
  /** Keep this many trace lines for a report (default 4000). */
  traceSize?: number;
  /** Put the nodes' debug lines (pre-votes, elections) into the trace too. */
  traceDebug?: boolean;
  /** Put a picture of the cluster (roles, replicators) into the trace this often, virtual ms. */
  describeEveryMs?: number;
  /** Most simulation steps before the run is abandoned as stuck (default 3,000,000). */
  maxSteps?: number;
}

/** A measured command that missed the bound. */
export interface LatencyViolation {
  readonly command: number;
  readonly proposedAt: number;
  /** Virtual ms to its commit; null when it had not committed when the run ended. */
  readonly latencyMs: number | null;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface LivenessFaultsResult {
  readonly seed: number;
  readonly peers: number;
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly network: HostileNetworkProfile;
  readonly batching: {
    readonly maxEntriesPerRpc: number;
    readonly maxInflightRpcs: number;
    readonly snapshotLogMargin: number;
    readonly maxPartialInflightRpcs: number;
  };
  /** The majority kept up and connected during the window. */
  readonly majority: readonly string[];
  readonly boundMs: number;
  readonly commands: number;
  readonly committed: number;
  /** Proposal-to-commit times of the committed commands, virtual ms. */
  readonly latencyMs: LatencySummary;
  readonly latencies: readonly number[];
  readonly violations: readonly LatencyViolation[];
  /** New leaders (by term) elected during the window. */
  readonly leadersInWindow: number;
  readonly maxTerm: number;
  readonly steps: number;
  readonly virtualMs: number;
  readonly faults: Record<string, number>;
  /** The run's trace, kept when a bound was missed. */
  readonly trace?: readonly string[];
}

interface Command {
  readonly id: number;
  readonly proposedAt: number;
  attempts: number;
  committedAt?: number;
  pending?: { readonly node: RaftNode<string>; readonly peer: string };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The errors a proposal may fail with while the cluster is under faults. */
const EXPECTED = new Set<string>([
  ErrorCode.NOT_LEADER,
  ErrorCode.LEADER_STEPPED_DOWN,
  ErrorCode.BUSY,
  ErrorCode.SHUTDOWN,
  ErrorCode.TRANSFER_IN_PROGRESS,
]);

/**
 * Picks a hostile network from the seed: issue 9's exactly for half the seeds, otherwise a
 * variation of it (loss 5-15% each way, a third or two thirds of replies late by up to 2.5T
 * or 7.3T, duplicates, sometimes requests reordered too).
 */
export function seededNetwork(rng: Rng, electionTimeoutMs: number): HostileNetworkProfile {
  const issue = scaleProfile(ISSUE_9_NETWORK, electionTimeoutMs / 300);
  if (rng.chance(0.5)) return issue;
  const t = electionTimeoutMs;
  return {
    requestLoss: rng.pick([0.05, 0.1, 0.15]),
    replyLoss: rng.pick([0.05, 0.1, 0.15]),
    delayMs: [0, rng.pick([0.02, 0.09]) * t],
    lateReplies: rng.pick([1 / 3, 2 / 3]),
    lateReplyMs: [0.67 * t, rng.pick([2.5, 7.3]) * t],
    duplicate: rng.pick([0, 0, 0.02]),
    reorderRequests: rng.chance(0.25),
  };
}

/**
 * Liveness under faults that do not stop: a cluster on a hostile network (loss, delay, long
 * reordering, duplication) for the whole run. First a chaos phase where crashes, partitions
 * and isolations may cut off any number of nodes; then a checked window during which a
 * majority stays up and connected (faults still come and go among the others, and the
 * network stays as bad); clients propose commands during the window, retrying with the
 * current leader until the command commits. Every command must commit within the bound,
 * counted from its first proposal. Safety is checked after every step as in every run.
 *
 * Returns the latency distribution and the commands that missed the bound (with the trace);
 * throws SimulationFailure on a safety violation.
 */
export async function runLivenessFaults(
  options: LivenessFaultsOptions,
): Promise<LivenessFaultsResult> {
  const seed = options.seed;
  const t = options.electionTimeoutMs ?? 300;
  const shape = new Rng(seed).fork('liveness-faults-shape');
  const peerCount = options.peers ?? shape.pick([3, 5, 5, 7]);
  const heartbeat = options.heartbeatIntervalMs ?? shape.pick([Math.floor(t / 3), t / 10]);
  const profile = options.network ?? seededNetwork(shape.fork('network'), t);
  // Not one entry per RPC: at one entry per round trip of up to 7 T, a backlog of a few tens
  // of entries cannot commit within the bound whatever the core does (the safety sweep covers it).
  const maxEntriesPerRpc = shape.pick([16, 64, 1024]);
  const maxInflightRpcs = shape.pick([1, 8, 64]);
  const batching = {
    maxEntriesPerRpc,
    maxInflightRpcs,
    snapshotLogMargin: shape.pick([0, 5, 100, 1000]),
    maxPartialInflightRpcs: Math.min(maxInflightRpcs, shape.pick([1, 1, 2])),
  };
  const cluster = new SimCluster({
    seed,
    peers: peerCount,
    electionTimeoutMs: t,
    heartbeatIntervalMs: heartbeat,
    networkDelayMs: [0, 0],
    traceSize: options.traceSize ?? 4000,
    traceNodeLogs: options.traceDebug ? 'debug' : true,
    nodeOptions: batching,
    wrapStateMachine: (_peer, _group, sm) => observeCommits(sm, (key) => onCommitted(key)),
  });
  const boundMs = (options.boundTimeouts ?? 30) * t;
  const commands: Command[] = [];
  const byId = new Map<number, Command>();
  let problem: Error | undefined;
  const onCommitted = (key: string) => {
    const m = /^c(\d+)\./.exec(key);
    if (!m) return;
    const c = byId.get(Number(m[1]));
    if (c && c.committedAt === undefined) {
      c.committedAt = cluster.now;
      c.pending = undefined;
      cluster.record(
        `command ${c.id} committed after ${(cluster.now - c.proposedAt).toFixed(1)} ms (${c.attempts} attempts)`,
      );
    }
  };
  const typed = (what: string) => (error: unknown) => {
    if (!RaftError.is(error) || !EXPECTED.has(error.code)) {
      problem ??= new InvariantViolation('typed errors', `${what} failed with ${String(error)}`);
    }
  };

  let windowStart = Number.POSITIVE_INFINITY;
  const leaderTerms = new Set<number>();
  cluster.onBoot((peer, _group, node) => {
    node.on('roleChange', (e) => {
      if (e.role !== 'leader') return;
      cluster.record(`${peer} leads term ${e.term}`);
      if (cluster.now >= windowStart) leaderTerms.add(e.term);
    });
  });

  const rng = cluster.rng.fork('liveness-faults');
  await cluster.start();
  applyHostileNetwork(cluster.network, profile, rng.fork('network').asSource());
  const churn = new Churn(cluster, rng.fork('churn'));
  churn.start();
  const every = options.describeEveryMs;
  if (every !== undefined && every > 0) {
    const picture = () => {
      cluster.record(cluster.describe());
      cluster.time.schedule(every, picture, 'trace');
    };
    cluster.time.schedule(every, picture, 'trace');
  }

  // Background clients during the chaos phase, so that logs grow and snapshots happen.
  let background = true;
  let bg = 0;
  const bgRng = rng.fork('background');
  const backgroundTick = () => {
    if (!background) return;
    const leader = cluster.leader();
    if (leader) leader.apply(encoder.encode(`b${bg++}`)).catch(typed('a background proposal'));
    cluster.time.schedule(-Math.log(1 - bgRng.next()) * (t / 3), backgroundTick, 'client');
  };
  backgroundTick();

  const maxSteps = options.maxSteps ?? 3_000_000;
  let steps = 0;
  const runTo = async (until: number, done: () => boolean = () => false) => {
    while (cluster.now < until && !done()) {
      if (problem) throw new SimulationFailure(seed, cluster.steps, problem, cluster.recentTrace());
      if (++steps > maxSteps)
        throw new Error(`liveness-faults seed ${seed}: over ${maxSteps} steps`);
      if (!(await cluster.step())) break;
    }
  };

  await runTo(cluster.now + (options.chaosTimeouts ?? 30) * t);
  background = false;

  // The checked window: a majority is brought up and connected and stays so.
  const majority = rng.sample(cluster.peers, Math.floor(peerCount / 2) + 1).sort();
  await churn.protect(majority);
  windowStart = cluster.now;
  cluster.record(`window starts: ${majority.join(',')} stay up and connected`);
  const windowEnd = windowStart + (options.windowTimeouts ?? 100) * t;
  const cmdRng = rng.fork('commands');
  const retryMs = t / 3;
  const tick = (c: Command) => {
    if (c.committedAt !== undefined) return;
    const p = c.pending;
    // A proposal to a node that crashed meanwhile will never be answered: try again.
    if (p && cluster.node(p.peer) === p.node && p.node.isLeader) {
      cluster.time.schedule(retryMs, () => tick(c), 'client');
      return;
    }
    c.pending = undefined;
    const leader = cluster.leader();
    if (leader) {
      const pending = { node: leader, peer: leader.id };
      c.pending = pending;
      c.attempts++;
      leader.apply(encoder.encode(`c${c.id}.${c.attempts}`)).then(
        () => {},
        (error: unknown) => {
          typed(`command ${c.id}`)(error);
          if (c.pending === pending) c.pending = undefined;
        },
      );
    }
    cluster.time.schedule(retryMs, () => tick(c), 'client');
  };
  const issue = () => {
    if (cluster.now >= windowEnd) return;
    const c: Command = { id: commands.length, proposedAt: cluster.now, attempts: 0 };
    commands.push(c);
    byId.set(c.id, c);
    cluster.record(`command ${c.id} proposed`);
    tick(c);
    const mean = (options.commandIntervalTimeouts ?? 2) * t;
    cluster.time.schedule(-Math.log(1 - cmdRng.next()) * mean, issue, 'client');
  };
  issue();
  await runTo(windowEnd);
  // The last commands get their whole bound, under the same faults.
  const last = commands[commands.length - 1]?.proposedAt ?? windowEnd;
  await runTo(last + boundMs + 1, () => commands.every((c) => c.committedAt !== undefined));
  churn.stop();
  if (problem) throw new SimulationFailure(seed, cluster.steps, problem, cluster.recentTrace());

  const latencies: number[] = [];
  const violations: LatencyViolation[] = [];
  for (const c of commands) {
    const latency = c.committedAt === undefined ? null : c.committedAt - c.proposedAt;
    if (latency !== null) latencies.push(latency);
    if (latency === null || latency > boundMs) {
      violations.push({ command: c.id, proposedAt: c.proposedAt, latencyMs: latency });
    }
  }
  let maxTerm = 0;
  for (const m of cluster.members()) maxTerm = Math.max(maxTerm, m.node.term);
  const trace = violations.length > 0 ? [...cluster.recentTrace(), cluster.describe()] : undefined;
  const result: LivenessFaultsResult = {
    seed,
    peers: peerCount,
    electionTimeoutMs: t,
    heartbeatIntervalMs: heartbeat,
    network: profile,
    batching,
    majority,
    boundMs,
    commands: commands.length,
    committed: latencies.length,
    latencyMs: summarize(latencies),
    latencies,
    violations,
    leadersInWindow: leaderTerms.size,
    maxTerm,
    steps: cluster.steps,
    virtualMs: Math.round(cluster.now),
    faults: Object.fromEntries(churn.counts),
    ...(trace ? { trace } : {}),
  };
  await cluster.stop();
  return result;
}

/** p50/p90/p99/max of a list of numbers (nearest rank), rounded to 0.1. */
export function summarize(values: readonly number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted.length === 0
      ? Number.NaN
      : Number(
          (
            sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0
          ).toFixed(1),
        );
  return {
    count: sorted.length,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    max: sorted.length === 0 ? Number.NaN : Number((sorted[sorted.length - 1] ?? 0).toFixed(1)),
  };
}

/** Wraps the simulator's state machine to see every payload it applies. */
function observeCommits(sm: SimStateMachine, onKey: (key: string) => void): StateMachine<string> {
  return {
    onApply: (entries) => {
      if (sm.alive) for (const e of entries) onKey(decoder.decode(e.data));
      return sm.onApply(entries);
    },
    onSnapshotSave: (writer) => sm.onSnapshotSave(writer),
    onSnapshotLoad: async (reader) => {
      await sm.onSnapshotLoad(reader);
      // A snapshot carries entries applied elsewhere: they were committed.
      if (sm.alive) for (const key of sm.keys()) onKey(key);
    },
  };
}

type ChurnKind =
  | 'crash'
  | 'crash-leader'
  | 'isolate'
  | 'isolate-leader'
  | 'partition'
  | 'one-way'
  | 'restart'
  | 'snapshot'
  | 'transfer';

const CHURN: ReadonlyArray<[ChurnKind, number]> = [
  ['crash', 2],
  ['crash-leader', 2],
  ['isolate', 3],
  ['isolate-leader', 2],
  ['partition', 2],
  ['one-way', 2],
  ['restart', 1],
  ['snapshot', 3],
  ['transfer', 1],
];

/**
 * Crashes, partitions, isolations and cuts that come and go, on top of the hostile network,
 * which it never heals. Once `protect(majority)` is called, faults only touch the other
 * nodes: the majority stays up and its links among itself stay open.
 */
class Churn {
  readonly counts = new Map<ChurnKind, number>();
  private readonly cuts = new Map<string, number>();
  private readonly safe = new Set<string>();
  private active = false;
  private readonly total = CHURN.reduce((s, [, w]) => s + w, 0);

  constructor(
    private readonly cluster: SimCluster,
    private readonly rng: Rng,
  ) {}

  start(): void {
    this.active = true;
    this.schedule();
  }

  stop(): void {
    this.active = false;
  }

  /** From now on `majority` stays up and connected: boots its dead, opens its links. */
  async protect(majority: readonly string[]): Promise<void> {
    for (const p of majority) this.safe.add(p);
    const c = this.cluster;
    for (const a of majority) {
      for (const b of majority) {
        if (a === b) continue;
        this.cuts.delete(`${a}>${b}`);
        c.network.restore(a, b);
      }
    }
    for (const p of majority) if (!c.isUp(p)) await c.boot(p);
  }

  private schedule(): void {
    const mean = this.cluster.electionTimeoutMs;
    this.cluster.time.schedule(
      -Math.log(1 - this.rng.next()) * mean,
      () => {
        if (!this.active) return;
        this.inject();
        this.schedule();
      },
      'nemesis',
    );
  }

  private later(minT: number, maxT: number, fn: () => void): void {
    const t = this.cluster.electionTimeoutMs;
    this.cluster.time.schedule(
      t * (minT + this.rng.next() * (maxT - minT)),
      () => {
        if (this.active) fn();
      },
      'nemesis',
    );
  }

  private block(a: string, b: string): void {
    if (this.safe.has(a) && this.safe.has(b)) return;
    const k = `${a}>${b}`;
    const n = (this.cuts.get(k) ?? 0) + 1;
    this.cuts.set(k, n);
    if (n === 1) this.cluster.network.cut(a, b);
  }

  private unblock(a: string, b: string): void {
    const k = `${a}>${b}`;
    const n = this.cuts.get(k) ?? 0;
    if (n <= 1) {
      this.cuts.delete(k);
      this.cluster.network.restore(a, b);
    } else {
      this.cuts.set(k, n - 1);
    }
  }

  private isolate(group: readonly string[], minT: number, maxT: number, what: string): void {
    const c = this.cluster;
    const inside = new Set(group);
    const pairs: Array<[string, string]> = [];
    for (const a of group) for (const o of c.peers) if (!inside.has(o)) pairs.push([a, o], [o, a]);
    for (const [a, b] of pairs) this.block(a, b);
    c.record(`nemesis: ${what} ${group.join(',')}`);
    this.later(minT, maxT, () => {
      for (const [a, b] of pairs) this.unblock(a, b);
      c.record(`nemesis: reconnect ${group.join(',')}`);
    });
  }

  private crash(p: string, minT: number, maxT: number): void {
    const c = this.cluster;
    c.crash(p);
    this.later(minT, maxT, () => {
      if (!c.isUp(p)) void c.boot(p);
    });
  }

  private pickKind(): ChurnKind {
    let x = this.rng.next() * this.total;
    for (const [k, w] of CHURN) {
      x -= w;
      if (x < 0) return k;
    }
    return 'snapshot';
  }

  private inject(): void {
    const c = this.cluster;
    const free = c.peers.filter((p) => !this.safe.has(p));
    const leader = c.leader();
    const kind = this.pickKind();
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    switch (kind) {
      case 'crash': {
        const up = free.filter((p) => c.isUp(p));
        if (up.length > 0) this.crash(this.rng.pick(up), 0.5, 5);
        break;
      }
      case 'crash-leader':
        if (leader && !this.safe.has(leader.id)) this.crash(leader.id, 0.5, 4);
        break;
      case 'isolate':
        if (free.length > 0) this.isolate([this.rng.pick(free)], 1, 6, 'isolate');
        break;
      case 'isolate-leader':
        if (leader && !this.safe.has(leader.id))
          this.isolate([leader.id], 0.5, 4, 'isolate leader');
        break;
      case 'partition': {
        if (free.length === 0) break;
        const side = this.rng.sample(
          free,
          this.rng.int(1, Math.min(free.length, c.peers.length - 1)),
        );
        this.isolate(side, 1, 6, 'partition off');
        break;
      }
      case 'one-way': {
        const [a, b] = this.rng.sample(c.peers, 2) as [string, string];
        if (this.safe.has(a) && this.safe.has(b)) break;
        this.block(a, b);
        c.record(`nemesis: cut ${a} -> ${b}`);
        this.later(1, 6, () => {
          this.unblock(a, b);
          c.record(`nemesis: restore ${a} -> ${b}`);
        });
        break;
      }
      case 'restart': {
        const up = free.filter((p) => c.isUp(p));
        if (up.length === 0) break;
        const p = this.rng.pick(up);
        c.record(`nemesis: restart ${p}`);
        void c.restart(p);
        break;
      }
      case 'snapshot': {
        const up = c.peers.filter((p) => c.isUp(p));
        if (up.length === 0) break;
        const p = this.rng.pick(up);
        c.record(`nemesis: snapshot on ${p}`);
        void c
          .node(p)
          ?.snapshot()
          .catch(() => {});
        break;
      }
      case 'transfer':
        // A transfer is an operator's act, not a fault: only before the window.
        if (leader && this.safe.size === 0) {
          c.record(`nemesis: transfer leadership from ${leader.id}`);
          leader.transferLeadership().catch(() => {});
        }
        break;
    }
  }
}
