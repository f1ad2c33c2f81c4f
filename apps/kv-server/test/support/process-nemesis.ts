import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Rng } from '@kontiki/testkit';
import { waitForLeader } from '../../src/cluster-observer.js';
import { KvClient } from '../../src/kv-client.js';
import type { LocalCluster } from '../../src/local-cluster.js';

export type ProcessFault =
  | 'kill-leader'
  | 'kill-follower'
  | 'transfer-leader'
  | 'pause-leader'
  | 'pause-follower';

const FAULTS: readonly ProcessFault[] = [
  'kill-leader',
  'kill-follower',
  'transfer-leader',
  'pause-leader',
  'pause-follower',
];

export interface NemesisEvent {
  /** `performance.now()` time, the clock of the history. */
  readonly at: number;
  readonly fault: ProcessFault | 'heal';
  readonly node?: string;
  /** The fault began, ended (the node is back), or could not be injected. */
  readonly phase: 'injected' | 'recovered' | 'failed';
  /** What happened: "SIGKILL, down 800 ms", "restarted", an error message. */
  readonly detail: string;
}

export interface ProcessNemesisOptions {
  readonly cluster: LocalCluster;
  readonly seed: number;
  /** No new fault after this `performance.now()` time. */
  readonly deadline: number;
  /** How long a killed or paused node stays down: [min, max] ms. */
  readonly downMs: readonly [number, number];
  /** Quiet time between two faults: [min, max] ms. */
  readonly quietMs: readonly [number, number];
}

/**
 * Faults on the processes of a LocalCluster, one at a time, in rounds that go through every
 * kind in a random order: SIGKILL of the leader or of a follower and restart after a while,
 * a leadership transfer, SIGSTOP of the leader or of a follower and SIGCONT after a while
 * (a paused leader wakes up still believing it leads). One node is down at a time, so a
 * majority stays up and the clients keep making progress. The waits are the faults'
 * durations, chosen at random: they are the test's schedule, not synchronisation.
 */
export class ProcessNemesis {
  readonly events: NemesisEvent[] = [];
  private readonly rng: Rng;
  private readonly paused = new Map<string, number>();
  private stopping = false;
  private running: Promise<void> | undefined;
  private failure: unknown;

  constructor(private readonly options: ProcessNemesisOptions) {
    this.rng = new Rng(options.seed).fork('nemesis');
  }

  /** How many faults of each kind were injected (attempts that failed are not counted). */
  injected(): Record<ProcessFault, number> {
    const counts = Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<ProcessFault, number>;
    for (const e of this.events) {
      if (e.fault !== 'heal' && e.phase === 'injected') counts[e.fault]++;
    }
    return counts;
  }

  start(): void {
    // Held, not floating: a fault that could not be undone (a node that would not restart)
    // is rethrown by stop().
    this.running ??= this.loop().catch((error: unknown) => {
      this.failure = error;
    });
  }

  /**
   * Stops after the fault under way and resumes any paused node (so that it can be stopped
   * normally). Throws what went wrong in the loop, if anything did.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    try {
      await this.running;
    } finally {
      for (const [id, pid] of this.paused) {
        this.signal(pid, 'SIGCONT');
        this.paused.delete(id);
        this.record('heal', id, 'recovered', 'SIGCONT');
      }
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Restarts every node that is down (after `stop`). */
  async heal(): Promise<void> {
    for (const m of this.options.cluster.members()) {
      if (m.running) continue;
      await this.options.cluster.restart(m.id);
      this.record('heal', m.id, 'recovered', 'restarted');
    }
  }

  private done(): boolean {
    return this.stopping || performance.now() > this.options.deadline;
  }

  private async loop(): Promise<void> {
    // Bounded by the deadline. Each round injects every kind once, in a random order; a
    // fault that could not be injected (no leader just then) is tried again next.
    const queue: ProcessFault[] = [];
    while (!this.done()) {
      if (queue.length === 0) queue.push(...this.rng.sample(FAULTS, FAULTS.length));
      const fault = queue.shift() as ProcessFault;
      await sleep(this.rng.int(...this.options.quietMs));
      if (this.done()) return;
      if (!(await this.inject(fault))) queue.unshift(fault);
    }
  }

  /** Injects one fault and undoes it; false if it could not be injected. */
  private async inject(fault: ProcessFault): Promise<boolean> {
    const cluster = this.options.cluster;
    const endpoints = cluster.httpEndpoints();
    let leader: string | undefined;
    try {
      leader = (await waitForLeader(endpoints, { timeoutMs: 3000 })).id;
    } catch {
      leader = undefined;
    }
    if (fault === 'transfer-leader') {
      const client = new KvClient(endpoints, {
        requestTimeoutMs: 3000,
        retryForMs: 3000,
        token: cluster.token,
      });
      try {
        const r = await client.transferLeader();
        this.record(fault, r.from, 'injected', `to ${r.leaderId ?? 'unknown'}`);
        return true;
      } catch (error) {
        this.record(fault, leader, 'failed', String(error));
        return false;
      } finally {
        client.close();
      }
    }
    const onLeader = fault === 'kill-leader' || fault === 'pause-leader';
    const candidates = cluster
      .members()
      .filter((m) => m.running && (onLeader ? m.id === leader : m.id !== leader));
    if (candidates.length === 0) {
      this.record(fault, undefined, 'failed', `no ${onLeader ? 'leader' : 'follower'} to hit`);
      return false;
    }
    const target = this.rng.pick(candidates);
    const downMs = this.rng.int(...this.options.downMs);
    if (fault === 'kill-leader' || fault === 'kill-follower') {
      await cluster.kill(target.id, 'SIGKILL');
      this.record(fault, target.id, 'injected', `SIGKILL, down ${downMs} ms`);
      await sleep(downMs);
      await cluster.restart(target.id);
      this.record(fault, target.id, 'recovered', 'restarted');
      return true;
    }
    const pid = target.pid;
    if (pid === undefined) return false;
    this.signal(pid, 'SIGSTOP');
    this.paused.set(target.id, pid);
    this.record(fault, target.id, 'injected', `SIGSTOP for ${downMs} ms`);
    try {
      await sleep(downMs);
    } finally {
      this.signal(pid, 'SIGCONT');
      this.paused.delete(target.id);
      this.record(fault, target.id, 'recovered', 'SIGCONT');
    }
    return true;
  }

  private signal(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(pid, signal);
    } catch {
      // The process is already gone: nothing to pause or resume.
    }
  }

  private record(
    fault: ProcessFault | 'heal',
    node: string | undefined,
    phase: NemesisEvent['phase'],
    detail: string,
  ): void {
    this.events.push({
      at: performance.now(),
      fault,
      ...(node === undefined ? {} : { node }),
      phase,
      detail,
    });
  }
}
