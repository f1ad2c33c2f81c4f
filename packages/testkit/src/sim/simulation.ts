import { allPeers } from '@kontiki/core';
import {
  SimCluster,
  type SimClusterOptions,
  type SimMember,
  SimulationFailure,
} from './cluster.js';
import { InvariantViolation } from './invariants.js';
import { Nemesis, type NemesisOptions } from './nemesis.js';
import { Rng } from './rng.js';
import { Workload } from './workload.js';

export interface SimulationOptions {
  seed: number;
  /** Steps (events) of the fault phase. Default 2000. */
  steps?: number;
  /** Peers; default: 3, 5 or 7 picked by the seed. */
  peers?: number;
  groups?: readonly string[];
  electionTimeoutMs?: number;
  /** Faults on (default) or off. */
  nemesis?: boolean | NemesisOptions;
  /** Mean virtual ms between client proposals (default 3). */
  proposalIntervalMs?: number;
  /** After the faults, heal and check that every acknowledged proposal is applied everywhere. */
  liveness?: boolean;
  /** How long, in election timeouts, the liveness phase may take. Default 60. */
  livenessTimeouts?: number;
  cluster?: Partial<SimClusterOptions>;
  /**
   * Every peer runs its groups on a RaftHost with quiescence, and the clients go quiet often
   * (so that groups quiesce, and faults hit quiesced groups).
   */
  quiescence?: boolean;
}

export interface SimulationResult {
  readonly seed: number;
  readonly peers: number;
  readonly steps: number;
  readonly virtualMs: number;
  readonly proposed: number;
  readonly acknowledged: number;
  readonly failedProposals: number;
  readonly maxTerm: number;
  readonly committed: number;
  readonly invariantChecks: number;
  readonly faults: Record<string, number>;
  readonly snapshotsSaved: number;
  readonly snapshotsInstalled: number;
  /** Steps after which some member of some group was quiesced (RaftHost runs only). */
  readonly quiescedSteps: number;
  /** Crashes and restarts that hit a peer while some group on it was quiesced. */
  readonly faultsWhileQuiesced: number;
}

/**
 * One seeded run: a cluster under a nemesis and a workload for `steps` events, every
 * invariant checked after every event; then (liveness) the faults stop and every acknowledged
 * proposal must be applied, at its index, on every peer. Throws SimulationFailure, which
 * names the seed to replay, on any violation.
 */
export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const seed = options.seed;
  // The seed also picks the cluster's shape and its batching limits, so that a sweep covers
  // one-entry RPCs and deep pipelines alike.
  const shape = new Rng(seed).fork('shape');
  const peerCount = options.peers ?? shape.pick([3, 3, 5, 5, 7]);
  const peerIds = Array.from({ length: peerCount }, (_, i) => `n${i + 1}`);
  // Sometimes only some peers form the cluster; the others join through membership changes.
  const initialVoters =
    peerCount > 3 && shape.chance(0.3) ? peerIds.slice(0, peerCount - 2) : undefined;
  // Picked in this order so that earlier seeds keep their shapes.
  const maxEntriesPerRpc = shape.pick([1, 3, 16, 1024]);
  const maxInflightRpcs = shape.pick([1, 2, 8, 64]);
  const nodeOptions = {
    maxEntriesPerRpc,
    maxInflightRpcs,
    applyBatchSize: shape.pick([1, 7, 512]),
    maxBytesPerRpc: shape.pick([512, 8192, 1 << 20]),
    snapshotLogMargin: shape.pick([0, 0, 3, 50, 1000]),
    // How many partial AppendEntries may be in flight: how entries are grouped into
    // requests must not matter to safety.
    maxPartialInflightRpcs: Math.min(maxInflightRpcs, shape.pick([1, 1, 2, 64])),
  };
  const cluster = new SimCluster({
    seed,
    peers: peerIds,
    ...(initialVoters ? { initialVoters } : {}),
    ...(options.groups ? { groups: options.groups } : {}),
    electionTimeoutMs: options.electionTimeoutMs ?? 100,
    nodeOptions,
    ...(options.quiescence ? { host: true } : {}),
    ...options.cluster,
  });
  const groups = cluster.groups;
  const nemesisOn = options.nemesis !== false;
  const nemesis = new Nemesis(
    cluster,
    cluster.rng.fork('nemesis'),
    typeof options.nemesis === 'object' ? options.nemesis : {},
  );
  const workloads = groups.map(
    (g) =>
      new Workload(
        cluster,
        cluster.rng.fork(`workload:${g}`),
        g,
        options.proposalIntervalMs ?? 3,
        options.quiescence ? 0.05 : 0.01,
      ),
  );
  const steps = options.steps ?? 2000;
  let snapshotsSaved = 0;
  let snapshotsInstalled = 0;
  cluster.onBoot((_peer, _group, node) => {
    node.on('snapshotSaved', () => snapshotsSaved++);
    node.on('snapshotInstalled', () => snapshotsInstalled++);
  });
  await cluster.start();
  for (const w of workloads) w.start();
  if (nemesisOn) nemesis.start();
  const checkWorkloads = () => {
    for (const w of workloads) {
      if (w.problem)
        throw new SimulationFailure(seed, cluster.steps, w.problem, [cluster.describe()]);
    }
  };
  let quiescedSteps = 0;
  let faultsWhileQuiesced = 0;
  const anyQuiesced = (peer?: string) =>
    groups.some((g) =>
      cluster
        .members(g)
        .some((m) => (peer === undefined || m.peer === peer) && m.node.status().quiesced),
    );
  if (options.quiescence) {
    nemesis.beforeFault = (peer) => {
      if (anyQuiesced(peer)) faultsWhileQuiesced++;
    };
  }
  for (let i = 0; i < steps; i++) {
    if (!(await cluster.step())) break;
    checkWorkloads();
    if (options.quiescence && anyQuiesced()) quiescedSteps++;
  }
  for (const w of workloads) w.stop();
  if (nemesisOn) await nemesis.stop();

  if (options.liveness !== false) {
    const budget = (options.livenessTimeouts ?? 60) * cluster.electionTimeoutMs;
    for (const g of groups) {
      let members: SimMember[] = [];
      try {
        await cluster.waitForLeader(g, budget);
        // One more entry of the leader's term makes everything before it committed.
        await proposeWithRetry(cluster, g, budget);
        const leader = cluster.leader(g);
        const target = leader?.commitIndex ?? 0;
        // Everyone in the final membership (voters and learners) must apply everything. The
        // membership is read again at every step: a change may still be completing, or be
        // rolled back with an uncommitted entry.
        const current = () => {
          const l = cluster.leader(g);
          const inGroup = new Set(l ? allPeers(l.status().configuration) : cluster.peers);
          const live = cluster.members(g).filter((m) => inGroup.has(m.peer));
          return { live, complete: live.length === inGroup.size };
        };
        await cluster.runUntil(
          () => {
            const { live, complete } = current();
            return complete && live.every((m) => m.node.appliedIndex >= target);
          },
          `every member of ${g} to apply up to ${target}`,
          budget,
        );
        members = current().live;
      } catch (error) {
        if (error instanceof SimulationFailure) throw error;
        throw new SimulationFailure(
          seed,
          cluster.steps,
          new InvariantViolation(
            'liveness',
            String(error instanceof Error ? error.message : error),
          ),
          [...cluster.recentTrace(), cluster.describe()],
        );
      }
      checkWorkloads();
      const workload = workloads[groups.indexOf(g)] as Workload;
      for (const m of members) {
        const byIndex = new Map(m.sm.applied.map((a) => [a.index, a.key]));
        for (const ack of workload.acknowledged) {
          const got = byIndex.get(ack.index);
          if (got !== ack.key) {
            throw new SimulationFailure(
              seed,
              cluster.steps,
              new InvariantViolation(
                'durability',
                `acknowledged ${ack.key} at index ${ack.index} (term ${ack.term}) but ${m.peer} applied ${got ?? 'nothing'} there`,
              ),
              [cluster.describe()],
            );
          }
        }
      }
    }
  }

  let maxTerm = 0;
  for (const g of groups)
    for (const m of cluster.members(g)) maxTerm = Math.max(maxTerm, m.node.term);
  const invariantChecks = [...cluster.invariants.values()].reduce((s, i) => s + i.checks, 0);
  const committed = [...cluster.invariants.values()].reduce((s, i) => s + i.committedIndex, 0);
  const result: SimulationResult = {
    seed,
    peers: cluster.peers.length,
    steps: cluster.steps,
    virtualMs: Math.round(cluster.now),
    proposed: workloads.reduce((s, w) => s + w.proposed, 0),
    acknowledged: workloads.reduce((s, w) => s + w.acknowledged.length, 0),
    failedProposals: workloads.reduce((s, w) => s + w.failed, 0),
    maxTerm,
    committed,
    invariantChecks,
    faults: Object.fromEntries(nemesis.counts),
    snapshotsSaved,
    snapshotsInstalled,
    quiescedSteps,
    faultsWhileQuiesced,
  };
  await cluster.stop();
  return result;
}

async function proposeWithRetry(
  cluster: SimCluster,
  group: string,
  budgetMs: number,
): Promise<void> {
  const deadline = cluster.now + budgetMs;
  for (let attempt = 0; attempt < 50 && cluster.now < deadline; attempt++) {
    await cluster.waitForLeader(group, Math.max(1, deadline - cluster.now));
    try {
      await cluster.propose(
        `${group}-final-${attempt}`,
        group,
        Math.max(1, deadline - cluster.now),
      );
      return;
    } catch (error) {
      if (error instanceof SimulationFailure) throw error;
      // Lost leadership meanwhile: try again with the next leader.
    }
  }
  throw new Error(
    `no proposal to ${group} committed within ${budgetMs} virtual ms after the faults stopped`,
  );
}
