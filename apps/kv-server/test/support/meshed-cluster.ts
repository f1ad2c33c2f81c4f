import { type ChaosFault, type ChaosOptions, FaultMesh } from '@kontiki/testkit/fault-proxy';
import type { StatusBody } from '../../src/api-types.js';
import { fetchStatus } from '../../src/cluster-observer.js';
import type { StorageKind, TransportKind } from '../../src/config.js';
import { LocalCluster } from '../../src/local-cluster.js';
import type { AckedWrite } from './write-load.js';

/**
 * kv-server processes that reach each other only through a FaultMesh: node i dials node j at
 * the proxy of the pair (i, j), so every link and each direction of it can be delayed,
 * stalled or reset on its own. Clients reach the nodes' HTTP APIs directly. The launcher's
 * event lines tell every leadership a node saw, so a run can count leader changes.
 */
export interface MeshedClusterOptions {
  readonly serverScript: string;
  readonly transport: TransportKind;
  readonly storage?: StorageKind;
  /** Parent of the nodes' data directories (SQLite). */
  readonly dataDir: string;
  readonly nodes?: number;
  readonly electionTimeoutMs?: number;
  /** Seeds the proxies' jitter and the chaos schedule. */
  readonly seed?: number;
}

/** A leadership one node announced: `leader` took over `term`. */
export interface Leadership {
  readonly term: number;
  readonly leader: string;
}

export class MeshedCluster {
  private readonly leaderships = new Map<string, Leadership>();
  private readonly faultLog: ChaosFault[] = [];

  private constructor(
    readonly cluster: LocalCluster,
    readonly mesh: FaultMesh,
  ) {}

  static async start(options: MeshedClusterOptions): Promise<MeshedCluster> {
    const ids = Array.from({ length: options.nodes ?? 3 }, (_, i) => `n${i + 1}`);
    const mesh = await FaultMesh.start({ nodes: ids, seed: options.seed ?? 1 });
    let holder: MeshedCluster | undefined;
    const seen: Leadership[] = [];
    try {
      const cluster = await LocalCluster.start({
        serverScript: options.serverScript,
        transport: options.transport,
        storage: options.storage ?? 'sqlite',
        dataDir: options.dataDir,
        nodes: ids.length,
        electionTimeoutMs: options.electionTimeoutMs ?? 1000,
        etcd: false,
        raftRoute: (from, to, listening) => {
          const colon = listening.lastIndexOf(':');
          mesh.setTarget(to, {
            host: listening.slice(0, colon),
            port: Number(listening.slice(colon + 1)),
          });
          return mesh.address(from, to);
        },
        onEvent: (e) => {
          if (e.event !== 'leader' || e.leaderId === null) return;
          const l = { term: e.term, leader: e.leaderId };
          if (holder === undefined) seen.push(l);
          else holder.record(l);
        },
      });
      holder = new MeshedCluster(cluster, mesh);
      for (const l of seen) holder.record(l);
      return holder;
    } catch (error) {
      await mesh.close();
      throw error;
    }
  }

  /** Every node's HTTP "host:port". */
  get endpoints(): string[] {
    return this.cluster.httpEndpoints();
  }

  /** Every leadership any node announced so far (term, leader), in term order. */
  leadershipsSeen(): Leadership[] {
    return [...this.leaderships.values()].sort((a, b) => a.term - b.term);
  }

  /** Faults the chaos injected so far. */
  get faults(): readonly ChaosFault[] {
    return this.faultLog;
  }

  /**
   * The hostile network of issue 9: every chunk on every link delayed `delayMs` ± `jitterMs`
   * (both directions), and the chaos stalling or resetting one random link now and then.
   */
  makeHostile(delay: { delayMs: number; jitterMs: number }, chaos: ChaosOptions): void {
    this.mesh.setAll('both', delay);
    this.mesh.startChaos({
      ...chaos,
      onFault: (f) => {
        this.faultLog.push(f);
        chaos.onFault?.(f);
      },
    });
  }

  /** No delay, no stall, no chaos. */
  heal(): void {
    this.mesh.heal();
  }

  /** Every node's /status (undefined for one that does not answer). */
  statuses(): Promise<Array<StatusBody | undefined>> {
    return Promise.all(this.endpoints.map((e) => fetchStatus(e, 2000)));
  }

  async stop(): Promise<void> {
    this.mesh.stopChaos();
    await this.cluster.stop();
    await this.mesh.close();
  }

  private record(l: Leadership): void {
    this.leaderships.set(`${l.term}/${l.leader}`, l);
  }
}

/** Acknowledged writes per window of `windowMs` over [from, to): how many acked in each. */
export function acksPerWindow(
  acked: readonly AckedWrite[],
  from: number,
  to: number,
  windowMs: number,
): number[] {
  const windows = Array.from({ length: Math.max(1, Math.floor((to - from) / windowMs)) }, () => 0);
  for (const a of acked) {
    const i = Math.floor((a.ackedAt - from) / windowMs);
    if (a.ackedAt >= from && i < windows.length) windows[i] = (windows[i] as number) + 1;
  }
  return windows;
}
