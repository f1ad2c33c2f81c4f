import { Rng } from '../sim/rng.js';
import {
  type Direction,
  type DirectionFaults,
  FaultProxy,
  type FaultProxyOptions,
  type ProxyTarget,
} from './fault-proxy.js';

export interface FaultMeshOptions {
  /** The nodes' ids. Targets may be given here or later with `setTarget`. */
  readonly nodes: readonly string[];
  readonly targets?: Readonly<Record<string, ProxyTarget>>;
  /** Seeds every proxy (each gets its own stream) and the chaos schedule (default 1). */
  readonly seed?: number;
  /** Faults every proxy starts with. */
  readonly forward?: Partial<DirectionFaults>;
  readonly backward?: Partial<DirectionFaults>;
  readonly maxHeldBytes?: FaultProxyOptions['maxHeldBytes'];
}

/** Random faults a mesh injects on its own, until stopped (all times in ms). */
export interface ChaosOptions {
  /** Time between two stalls, uniform in [min, max]; each stalls one random link. */
  readonly stallEveryMs?: readonly [number, number];
  /** How long a stall lasts, uniform in [min, max]. */
  readonly stallMs?: readonly [number, number];
  /** Which directions a stall holds (default 'both'). */
  readonly stallDirection?: Direction | 'both';
  /** Time between two resets, uniform in [min, max]; each resets one random link. */
  readonly resetEveryMs?: readonly [number, number];
  /**
   * Stall and reset only links with open connections, when some have: the links that carry
   * traffic (in Raft mostly the leader's; a follower dials a peer only to ask for votes).
   * Default false: any link.
   */
  readonly openLinksOnly?: boolean;
  /** Called for every fault injected (for logs and test reports). */
  readonly onFault?: (fault: ChaosFault) => void;
}

export interface ChaosFault {
  readonly kind: 'stall' | 'reset';
  readonly from: string;
  readonly to: string;
  readonly ms?: number;
  readonly at: number;
}

/**
 * One FaultProxy per directed pair of nodes: node `from` dials node `to` at
 * `address(from, to)`, which forwards to `to`'s real address. A test can then delay, stall,
 * blackhole or reset each link on its own, including one direction of one link (a half-open
 * connection), or let `startChaos` do it at random.
 *
 * @example
 * ```ts
 * const mesh = await FaultMesh.start({ nodes: ['a', 'b', 'c'], forward: { delayMs: 50, jitterMs: 50 } });
 * mesh.setTarget('b', { host: '127.0.0.1', port: portOfB });
 * // node a's transport dials b at mesh.address('a', 'b')
 * mesh.link('a', 'b').set('forward', { blackhole: true });
 * const stop = mesh.startChaos({ stallEveryMs: [2000, 5000], stallMs: [500, 2000] });
 * ```
 */
export class FaultMesh {
  readonly nodes: readonly string[];
  private readonly proxies: Map<string, FaultProxy>;
  private readonly rng: Rng;
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(nodes: readonly string[], proxies: Map<string, FaultProxy>, seed: number) {
    this.nodes = nodes;
    this.proxies = proxies;
    this.rng = new Rng(seed).fork('chaos');
  }

  static async start(options: FaultMeshOptions): Promise<FaultMesh> {
    const nodes = [...options.nodes];
    if (new Set(nodes).size !== nodes.length || nodes.length < 2) {
      throw new RangeError('a mesh needs at least two distinct node ids');
    }
    const seed = options.seed ?? 1;
    const base = new Rng(seed);
    const proxies = new Map<string, FaultProxy>();
    try {
      for (const from of nodes) {
        for (const to of nodes) {
          if (from === to) continue;
          const target = options.targets?.[to];
          const proxy = await FaultProxy.start({
            seed: base.fork(`${from}->${to}`).seed,
            ...(target ? { target } : {}),
            ...(options.forward ? { forward: options.forward } : {}),
            ...(options.backward ? { backward: options.backward } : {}),
            ...(options.maxHeldBytes !== undefined ? { maxHeldBytes: options.maxHeldBytes } : {}),
          });
          proxies.set(key(from, to), proxy);
        }
      }
    } catch (error) {
      await Promise.all([...proxies.values()].map((p) => p.close()));
      throw error;
    }
    return new FaultMesh(nodes, proxies, seed);
  }

  /** The proxy of the link from `from` to `to`. */
  link(from: string, to: string): FaultProxy {
    const p = this.proxies.get(key(from, to));
    if (!p) throw new RangeError(`no link ${from} -> ${to} in this mesh`);
    return p;
  }

  /** `host:port` at which `from` reaches `to`. */
  address(from: string, to: string): string {
    return this.link(from, to).address;
  }

  /** Where `to` really listens: every link towards it forwards there. */
  setTarget(to: string, target: ProxyTarget): void {
    for (const from of this.nodes) if (from !== to) this.link(from, to).setTarget(target);
  }

  /** Every link, as [from, to, proxy]. */
  links(): Array<[string, string, FaultProxy]> {
    const out: Array<[string, string, FaultProxy]> = [];
    for (const from of this.nodes)
      for (const to of this.nodes) if (from !== to) out.push([from, to, this.link(from, to)]);
    return out;
  }

  /** Sets faults on every link. */
  setAll(direction: Direction | 'both', faults: Partial<DirectionFaults>): void {
    for (const [, , p] of this.links()) p.set(direction, faults);
  }

  /** Cuts `node` off: every link from and to it blackholes both ways (connections stay open). */
  isolate(node: string): void {
    for (const [from, to, p] of this.links())
      if (from === node || to === node) p.set('both', { blackhole: true });
  }

  /** Undoes `isolate`. */
  reconnect(node: string): void {
    for (const [from, to, p] of this.links())
      if (from === node || to === node) p.set('both', { blackhole: false });
  }

  /** Heals every link (no delay, no stall, no blackhole) and stops the chaos. */
  heal(): void {
    this.stopChaos();
    for (const [, , p] of this.links()) p.heal();
  }

  /**
   * Injects stalls and resets on random links at random times until `stopChaos` (or the
   * returned function) is called. Uses the mesh's seed for its choices.
   */
  startChaos(options: ChaosOptions): () => void {
    const all = this.links();
    const pickLink = () => {
      const open = options.openLinksOnly ? all.filter(([, , p]) => p.connections > 0) : [];
      const links = open.length > 0 ? open : all;
      return links[Math.floor(this.rng.next() * links.length)] as [string, string, FaultProxy];
    };
    const uniform = ([min, max]: readonly [number, number]) =>
      min + this.rng.next() * Math.max(0, max - min);
    const every = (range: readonly [number, number] | undefined, act: () => void) => {
      if (!range) return;
      const arm = () => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          act();
          arm();
        }, uniform(range));
        t.unref();
        this.timers.add(t);
      };
      arm();
    };
    every(options.stallEveryMs, () => {
      const [from, to, p] = pickLink();
      const ms = uniform(options.stallMs ?? [500, 2000]);
      p.stall(ms, options.stallDirection ?? 'both');
      options.onFault?.({ kind: 'stall', from, to, ms, at: performance.now() });
    });
    every(options.resetEveryMs, () => {
      const [from, to, p] = pickLink();
      p.resetConnections();
      options.onFault?.({ kind: 'reset', from, to, at: performance.now() });
    });
    return () => this.stopChaos();
  }

  stopChaos(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  async close(): Promise<void> {
    this.stopChaos();
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
  }
}

const key = (from: string, to: string) => `${from}\u0000${to}`;
