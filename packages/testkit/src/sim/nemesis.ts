import type { SimCluster } from './cluster.js';
import type { Rng } from './rng.js';

export interface NemesisOptions {
  /** Fault kinds to leave out. */
  readonly without?: readonly FaultKind[];
  /** Mean virtual ms between two faults. Default: one election timeout. */
  readonly meanIntervalMs?: number;
  /** Most peers down at once. Default: all of them. */
  readonly maxDown?: number;
}

export type FaultKind =
  | 'partition'
  | 'isolate'
  | 'one-way'
  | 'drop'
  | 'duplicate'
  | 'delay'
  | 'reorder'
  | 'crash'
  | 'crash-leader'
  | 'isolate-leader'
  | 'restart'
  | 'shutdown'
  | 'drift'
  | 'transfer'
  | 'snapshot'
  | 'reconfigure'
  | 'heal';

const KINDS: ReadonlyArray<[FaultKind, number]> = [
  ['partition', 3],
  ['isolate', 3],
  ['one-way', 2],
  ['drop', 2],
  ['duplicate', 1],
  ['delay', 2],
  ['reorder', 1],
  ['crash', 3],
  ['crash-leader', 3],
  ['isolate-leader', 2],
  ['restart', 2],
  ['shutdown', 1],
  ['drift', 1],
  ['transfer', 1],
  ['snapshot', 6],
  ['reconfigure', 2],
  ['heal', 3],
];

/**
 * Injects faults into a SimCluster at random moments: partitions, isolated peers, one-way
 * cuts, message loss, duplication, delay and reordering, crashes with restarts, clock drift
 * within maxClockDrift, and leadership transfers. Every fault heals itself after a while.
 */
export class Nemesis {
  private active = false;
  /** Called with the peer a crash, restart or isolation is about to hit. */
  beforeFault: ((peer: string) => void) | undefined;
  readonly counts = new Map<FaultKind, number>();
  private readonly kinds: ReadonlyArray<[FaultKind, number]>;
  private readonly total: number;

  constructor(
    private readonly cluster: SimCluster,
    private readonly rng: Rng,
    private readonly options: NemesisOptions = {},
  ) {
    const without = new Set(options.without ?? []);
    this.kinds = KINDS.filter(([k]) => !without.has(k));
    this.total = this.kinds.reduce((s, [, w]) => s + w, 0);
  }

  start(): void {
    this.active = true;
    this.scheduleNext();
  }

  /** Stops injecting; heals the network and the clocks and boots every peer that is down. */
  async stop(): Promise<void> {
    this.active = false;
    const c = this.cluster;
    c.network.heal();
    c.network.setDelay(0.2, 1);
    for (const p of c.peers) {
      c.setDrift(p, 1);
      if (!c.isUp(p)) await c.boot(p);
    }
    c.record('nemesis stopped: healed, every peer up');
  }

  private scheduleNext(): void {
    const mean = this.options.meanIntervalMs ?? this.cluster.electionTimeoutMs / 2;
    const delay = -Math.log(1 - this.rng.next()) * mean;
    this.cluster.time.schedule(
      delay,
      () => {
        if (!this.active) return;
        this.inject();
        this.scheduleNext();
      },
      'nemesis',
    );
  }

  private pickKind(): FaultKind {
    let x = this.rng.next() * this.total;
    for (const [k, w] of this.kinds) {
      x -= w;
      if (x < 0) return k;
    }
    return 'heal';
  }

  private later(minT: number, maxT: number, what: string, fn: () => void): void {
    const t = this.cluster.electionTimeoutMs;
    this.cluster.time.schedule(
      t * (minT + this.rng.next() * (maxT - minT)),
      () => {
        if (!this.active) return;
        this.cluster.record(`nemesis: ${what}`);
        fn();
      },
      'nemesis',
    );
  }

  private inject(): void {
    const c = this.cluster;
    const net = c.network;
    const peers = c.peers;
    const kind = this.pickKind();
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    switch (kind) {
      case 'partition': {
        const shuffled = this.rng.sample(peers, peers.length);
        const cut = this.rng.int(1, peers.length - 1);
        const a = shuffled.slice(0, cut);
        const b = shuffled.slice(cut);
        net.partition(a, b);
        c.record(`nemesis: partition ${a.join(',')} | ${b.join(',')}`);
        this.later(1, 6, 'heal partition', () => net.heal());
        break;
      }
      case 'isolate': {
        const p = this.rng.pick(peers);
        net.isolate(p, peers);
        c.record(`nemesis: isolate ${p}`);
        this.later(1, 6, `reconnect ${p}`, () => {
          for (const o of peers) {
            net.restore(p, o);
            net.restore(o, p);
          }
        });
        break;
      }
      case 'one-way': {
        const [a, b] = this.rng.sample(peers, 2) as [string, string];
        net.cut(a, b);
        c.record(`nemesis: cut ${a} -> ${b}`);
        this.later(1, 6, `restore ${a} -> ${b}`, () => net.restore(a, b));
        break;
      }
      case 'drop': {
        const rate = this.rng.next() * 0.3;
        net.setDropRate(rate);
        c.record(`nemesis: drop ${(rate * 100).toFixed(0)}%`);
        this.later(1, 5, 'stop dropping', () => net.setDropRate(0));
        break;
      }
      case 'duplicate': {
        const rate = this.rng.next() * 0.2;
        net.setDuplicateRate(rate);
        c.record(`nemesis: duplicate ${(rate * 100).toFixed(0)}%`);
        this.later(1, 5, 'stop duplicating', () => net.setDuplicateRate(0));
        break;
      }
      case 'delay': {
        const max = this.rng.next() * 0.4 * c.electionTimeoutMs;
        net.setDelay(0.2, Math.max(0.2, max));
        c.record(`nemesis: delay up to ${max.toFixed(1)} ms`);
        this.later(1, 5, 'normal delay', () => net.setDelay(0.2, 1));
        break;
      }
      case 'reorder': {
        net.setReorder(true);
        net.setDelay(0.2, 0.1 * c.electionTimeoutMs);
        c.record('nemesis: reorder');
        this.later(1, 5, 'stop reordering', () => {
          net.setReorder(false);
          net.setDelay(0.2, 1);
        });
        break;
      }
      case 'crash': {
        const up = peers.filter((p) => c.isUp(p));
        const down = peers.length - up.length;
        if (up.length === 0 || down >= (this.options.maxDown ?? peers.length)) break;
        const p = this.rng.pick(up);
        this.beforeFault?.(p);
        c.crash(p);
        this.later(0.2, 5, `boot ${p}`, () => {
          if (!c.isUp(p)) void c.boot(p);
        });
        break;
      }
      case 'crash-leader': {
        const leader = c.leader();
        if (!leader) break;
        const p = leader.id;
        this.beforeFault?.(p);
        c.crash(p);
        this.later(0.2, 4, `boot ${p}`, () => {
          if (!c.isUp(p)) void c.boot(p);
        });
        break;
      }
      case 'isolate-leader': {
        const leader = c.leader();
        if (!leader) break;
        const p = leader.id;
        this.beforeFault?.(p);
        net.isolate(p, peers);
        c.record(`nemesis: isolate leader ${p}`);
        this.later(0.5, 4, `reconnect ${p}`, () => {
          for (const o of peers) {
            net.restore(p, o);
            net.restore(o, p);
          }
        });
        break;
      }
      case 'restart': {
        const up = peers.filter((p) => c.isUp(p));
        if (up.length === 0) break;
        const p = this.rng.pick(up);
        this.beforeFault?.(p);
        c.record(`nemesis: restart ${p}`);
        void c.restart(p);
        break;
      }
      case 'shutdown': {
        const up = peers.filter((p) => c.isUp(p));
        if (up.length === 0) break;
        void c.gracefulRestart(this.rng.pick(up));
        break;
      }
      case 'drift': {
        const p = this.rng.pick(peers);
        // Stay within maxClockDrift over an election timeout (default T/10): at most 1%.
        const rate = 1 + (this.rng.next() * 2 - 1) * 0.01;
        c.setDrift(p, rate);
        c.record(`nemesis: clock of ${p} at rate ${rate.toFixed(4)}`);
        break;
      }
      case 'transfer': {
        const leader = c.leader();
        if (!leader) break;
        c.record(`nemesis: transfer leadership from ${leader.id}`);
        leader.transferLeadership().catch(() => {});
        break;
      }
      case 'snapshot': {
        const up = peers.filter((p) => c.isUp(p));
        if (up.length === 0) break;
        const p = this.rng.pick(up);
        c.record(`nemesis: snapshot on ${p}`);
        void c
          .node(p)
          ?.snapshot()
          .catch(() => {});
        break;
      }
      case 'reconfigure': {
        const leader = c.leader();
        if (!leader) break;
        // A random membership of 1..N voters, sometimes with learners.
        const shuffled = this.rng.sample(peers, peers.length);
        const n = this.rng.int(Math.min(3, peers.length), peers.length);
        const voters = shuffled.slice(0, n);
        const learners = this.rng.chance(0.3) ? shuffled.slice(n, n + 1) : [];
        c.record(
          `nemesis: change membership to ${voters.join(',')}${learners.length ? ` + learner ${learners[0]}` : ''}`,
        );
        leader
          .changeConfiguration({ voters, ...(learners.length > 0 ? { learners } : {}) })
          .catch(() => {});
        break;
      }
      case 'heal': {
        net.heal();
        net.setDelay(0.2, 1);
        c.record('nemesis: heal network');
        break;
      }
    }
  }
}
