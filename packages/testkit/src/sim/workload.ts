import { ErrorCode, RaftError, type RaftNode } from '@kontiki/core';
import type { SimCluster } from './cluster.js';
import { InvariantViolation } from './invariants.js';
import type { Rng } from './rng.js';

const encoder = new TextEncoder();

/** The errors a proposal may fail with while the cluster is under faults. */
const EXPECTED = new Set<string>([
  ErrorCode.NOT_LEADER,
  ErrorCode.LEADER_STEPPED_DOWN,
  ErrorCode.BUSY,
  ErrorCode.SHUTDOWN,
  ErrorCode.TRANSFER_IN_PROGRESS,
]);

export interface Acknowledged {
  readonly key: string;
  readonly index: number;
  readonly term: number;
}

/**
 * Clients proposing unique payloads to random peers at random moments, alone or in bursts.
 * Remembers every acknowledged proposal: each must end up applied, at its index, everywhere.
 */
export class Workload {
  private active = false;
  private next = 0;
  readonly acknowledged: Acknowledged[] = [];
  failed = 0;
  /** Highest index of a write whose acknowledgement a client has seen. */
  private ackedMax = 0;
  reads = 0;
  readsFailed = 0;
  problem: Error | undefined;

  constructor(
    private readonly cluster: SimCluster,
    private readonly rng: Rng,
    private readonly group: string,
    private readonly meanIntervalMs: number,
    /** How often the clients go quiet for a while (per proposal). */
    private readonly idleChance = 0.01,
  ) {}

  start(): void {
    this.active = true;
    this.schedule();
    // Clients that react to events: a new leader gets a proposal the moment it is told.
    this.cluster.onBoot((_peer, group, node) => {
      if (group !== this.group) return;
      node.on('roleChange', (e) => {
        if (this.active && e.role === 'leader') this.proposeTo(node);
      });
      node.on('termChange', () => {
        if (this.active && node.isLeader) this.proposeTo(node);
      });
    });
  }

  stop(): void {
    this.active = false;
  }

  get proposed(): number {
    return this.next;
  }

  private schedule(): void {
    // Now and then the clients go quiet for a while: an idle group must still finish what
    // it started (membership changes, catch-up) on heartbeats alone.
    const pause = this.rng.chance(this.idleChance)
      ? this.rng.next() * 20 * this.cluster.electionTimeoutMs
      : 0;
    const delay = pause - Math.log(1 - this.rng.next()) * this.meanIntervalMs;
    this.cluster.time.schedule(
      delay,
      () => {
        if (!this.active) return;
        const burst = this.rng.chance(0.1) ? this.rng.int(2, 40) : 1;
        for (let i = 0; i < burst; i++) this.proposeOne();
        this.schedule();
      },
      'client',
    );
  }

  private proposeOne(): void {
    const c = this.cluster;
    const up = c.peers.filter((p) => c.isUp(p));
    if (up.length === 0) return;
    // Mostly to the leader, sometimes to anyone (to see NOT_LEADER answered properly).
    const leader = c.leader(this.group);
    const node = leader && this.rng.chance(0.8) ? leader : c.node(this.rng.pick(up), this.group);
    if (!node) return;
    if (this.rng.chance(0.2)) this.readFrom(node);
    else this.proposeTo(node);
  }

  /**
   * A linearizable read: its index must cover every write acknowledged before it started
   * (otherwise a client could read a state older than one it already saw confirmed).
   */
  private readFrom(node: RaftNode<string>): void {
    const c = this.cluster;
    const floor = this.ackedMax;
    const mode = this.rng.chance(0.5) ? 'lease' : 'safe';
    const peer = node.id;
    const live = () => c.node(peer, this.group) === node;
    this.reads++;
    node.readIndex({ mode, timeoutMs: c.electionTimeoutMs }).then(
      (index) => {
        if (!live()) return;
        if (index < floor) {
          this.problem ??= new InvariantViolation(
            'linearizable reads',
            `a ${mode} read on ${peer} returned index ${index}, but a write at ${floor} was acknowledged before it began`,
          );
        }
        if (node.appliedIndex < index) {
          this.problem ??= new InvariantViolation(
            'linearizable reads',
            `a read on ${peer} resolved at ${index} before applying it (applied ${node.appliedIndex})`,
          );
        }
      },
      (error: unknown) => {
        if (!live()) return;
        this.readsFailed++;
        if (!RaftError.is(error)) {
          this.problem ??= new InvariantViolation(
            'typed errors',
            `a read failed with ${String(error)}`,
          );
        }
      },
    );
  }

  private proposeTo(node: RaftNode<string>): void {
    const c = this.cluster;
    const key = `${this.group}-p${this.next++}`;
    const peer = node.id;
    // A node that crashed meanwhile answers nobody: its client connection died with it.
    const live = () => c.node(peer, this.group) === node;
    node.apply(encoder.encode(key)).then(
      (r) => {
        if (!live()) return;
        if (r.result !== `${r.index}:${key}`) {
          this.problem ??= new InvariantViolation(
            'apply result',
            `proposal ${key} resolved with ${JSON.stringify(r.result)} at index ${r.index}`,
          );
        }
        this.acknowledged.push({ key, index: r.index, term: r.term });
        if (r.index > this.ackedMax) this.ackedMax = r.index;
      },
      (error: unknown) => {
        if (!live()) return;
        this.failed++;
        if (!RaftError.is(error) || !EXPECTED.has(error.code)) {
          this.problem ??= new InvariantViolation(
            'typed errors',
            `proposal ${key} failed with ${String(error)}`,
          );
        }
      },
    );
  }
}
