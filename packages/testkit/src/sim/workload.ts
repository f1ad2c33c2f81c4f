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
  problem: Error | undefined;

  constructor(
    private readonly cluster: SimCluster,
    private readonly rng: Rng,
    private readonly group: string,
    private readonly meanIntervalMs: number,
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
    const delay = -Math.log(1 - this.rng.next()) * this.meanIntervalMs;
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
    if (node) this.proposeTo(node);
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
