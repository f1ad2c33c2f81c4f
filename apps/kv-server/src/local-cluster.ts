import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { StorageKind, TransportKind } from './config.js';
import type { ServerEvent } from './kv-server.js';
import { ServerProcess } from './server-process.js';

export interface LocalClusterOptions {
  /** The kv-server entry script to run with `node` (its built `main.js`). */
  readonly serverScript: string;
  /** How many nodes; ids are n1, n2, ... Default 3. */
  readonly nodes?: number;
  readonly transport?: TransportKind;
  readonly storage?: StorageKind;
  /** Parent of every node's data directory (`<dataDir>/n1`, ...); required for SQLite. */
  readonly dataDir?: string;
  readonly sqliteSync?: 'full' | 'normal';
  readonly electionTimeoutMs?: number;
  readonly host?: string;
  /**
   * Fixed ports: node i (from 1) serves HTTP on basePort + i and Raft on basePort + 100 + i.
   * Default: ports chosen by the system, reported by each node.
   */
  readonly basePort?: number;
  readonly enableBench?: boolean;
  /** Children's stderr: passed through, or collected and shown when a node fails. */
  readonly stderr?: 'inherit' | 'collect';
  readonly onEvent?: (event: ServerEvent) => void;
  /**
   * Called when a node exits other than by `kill` or `stop` (it crashed, or someone else
   * killed it); the node stays down.
   */
  readonly onUnexpectedExit?: (
    id: string,
    code: number | null,
    signal: NodeJS.Signals | null,
  ) => void;
  /** How long a node may take to listen and to start. Default 20 s. */
  readonly startTimeoutMs?: number;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface ClusterMember {
  readonly id: string;
  /** "host:port" of its Raft transport. */
  readonly raft: string;
  /** "host:port" of its HTTP API. */
  readonly http: string;
  readonly running: boolean;
  readonly pid: number | undefined;
}

/** What a node reports once it runs: its term and the last index of the log it loaded. */
export type ReadyEvent = Extract<ServerEvent, { event: 'ready' }>;

interface Slot {
  readonly id: string;
  raft: string;
  http: string;
  process: ServerProcess;
}

const RESTART_ATTEMPTS = 20;

/**
 * A cluster of kv-server child processes on one machine (the CLI's `cluster start` and
 * `demo`, the multi-process tests, the benchmark). Nodes listen on ports the system picks
 * (each reports them on stdout; then the launcher sends every node the members on stdin),
 * or on fixed ports. A restarted node gets its previous ports back, so the others' member
 * lists stay right.
 */
export class LocalCluster {
  private readonly slots: Slot[] = [];
  private readonly token = randomBytes(16).toString('hex');
  private stopped = false;
  /** Nodes being killed or restarted on purpose: their exit is expected. */
  private readonly expectedExits = new Set<string>();

  private constructor(private readonly options: LocalClusterOptions) {}

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const count = options.nodes ?? 3;
    if (!Number.isInteger(count) || count < 1 || count > 9) {
      throw new Error(`nodes must be from 1 to 9, got ${count}`);
    }
    if ((options.storage ?? 'sqlite') === 'sqlite' && options.dataDir === undefined) {
      throw new Error('a data directory is required with SQLite storage');
    }
    const cluster = new LocalCluster(options);
    try {
      const host = options.host ?? '127.0.0.1';
      const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
      const spawned = ids.map((id, i) => {
        const base = options.basePort;
        const http = `${host}:${base === undefined ? 0 : base + i + 1}`;
        const raft = `${host}:${base === undefined ? 0 : base + 100 + i + 1}`;
        const slot: Slot = { id, raft, http, process: cluster.spawn(id, raft, http) };
        cluster.slots.push(slot);
        return slot;
      });
      const timeout = cluster.startTimeoutMs;
      await Promise.all(
        spawned.map(async (slot) => {
          const listening = await slot.process.waitForEvent(
            `${slot.id} listening`,
            (e): e is Extract<ServerEvent, { event: 'listening' }> => e.event === 'listening',
            timeout,
          );
          slot.raft = listening.raft;
          slot.http = listening.http;
        }),
      );
      for (const slot of cluster.slots) slot.process.send(cluster.peersLine());
      await Promise.all(cluster.slots.map((slot) => cluster.waitReady(slot)));
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  members(): ClusterMember[] {
    return this.slots.map((s) => ({
      id: s.id,
      raft: s.raft,
      http: s.http,
      running: s.process.running,
      pid: s.process.pid,
    }));
  }

  member(id: string): ClusterMember {
    const m = this.members().find((x) => x.id === id);
    if (m === undefined) throw new Error(`no node ${id} in this cluster`);
    return m;
  }

  /** Every node's HTTP "host:port". */
  httpEndpoints(): string[] {
    return this.slots.map((s) => s.http);
  }

  /** The id of the node serving HTTP at `http`. */
  idOf(http: string): string | undefined {
    return this.slots.find((s) => s.http === http)?.id;
  }

  /** Sends `signal` to a node (SIGKILL by default) and resolves once it has exited. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.expectedExits.add(id);
    await this.slot(id).process.kill(signal);
  }

  /**
   * Starts a stopped node again on its previous ports and data directory; resolves once it
   * runs, with its `ready` event (what its log held at start). A port can be briefly unavailable right after a kill: retried, bounded.
   */
  async restart(id: string): Promise<ReadyEvent> {
    const slot = this.slot(id);
    if (slot.process.running) throw new Error(`${id} is still running`);
    let lastError: unknown;
    for (let attempt = 0; attempt < RESTART_ATTEMPTS; attempt++) {
      this.expectedExits.delete(id);
      slot.process = this.spawn(id, slot.raft, slot.http);
      try {
        await slot.process.waitForEvent(
          `${id} listening`,
          (e): e is Extract<ServerEvent, { event: 'listening' }> => e.event === 'listening',
          this.startTimeoutMs,
        );
        slot.process.send(this.peersLine());
        return await this.waitReady(slot);
      } catch (error) {
        lastError = error;
        this.expectedExits.add(id);
        await slot.process.kill();
        if (!String(error).includes('EADDRINUSE')) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    throw lastError;
  }

  /** Stops every node (SIGTERM, SIGKILL after 5 s) and resolves once all have exited. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.slots.map((s) => s.process.stop(5_000)));
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  private get startTimeoutMs(): number {
    return this.options.startTimeoutMs ?? 20_000;
  }

  private slot(id: string): Slot {
    const slot = this.slots.find((s) => s.id === id);
    if (slot === undefined) throw new Error(`no node ${id} in this cluster`);
    return slot;
  }

  private waitReady(slot: Slot): Promise<ReadyEvent> {
    return slot.process.waitForEvent(
      `${slot.id} ready`,
      (e): e is ReadyEvent => e.event === 'ready',
      this.startTimeoutMs,
    );
  }

  private peersLine(): string {
    const peers: Record<string, { raft: string; http: string }> = {};
    for (const s of this.slots) peers[s.id] = { raft: s.raft, http: s.http };
    return JSON.stringify({ peers });
  }

  private spawn(id: string, raft: string, http: string): ServerProcess {
    const o = this.options;
    const storage = o.storage ?? 'sqlite';
    const args = [
      '--id',
      id,
      '--raft',
      raft,
      '--http',
      http,
      '--peers',
      'stdin',
      '--exit-on-stdin-close',
      '--transport',
      o.transport ?? 'grpc',
      '--storage',
      storage,
      '--election-timeout-ms',
      String(o.electionTimeoutMs ?? 1000),
    ];
    if (storage === 'sqlite' && o.dataDir !== undefined) {
      args.push('--data-dir', join(o.dataDir, id), '--sqlite-sync', o.sqliteSync ?? 'full');
    }
    if (o.enableBench) args.push('--enable-bench');
    return new ServerProcess({
      script: o.serverScript,
      args,
      // The WebSocket transport's shared secret goes by environment, not argv (ps shows argv).
      env: { ...process.env, ...o.env, KONTIKI_TOKEN: this.token },
      stderr: o.stderr ?? 'collect',
      ...(o.onEvent ? { onEvent: o.onEvent } : {}),
      onExit: (code, signal) => {
        if (this.stopped || this.expectedExits.has(id)) return;
        o.onUnexpectedExit?.(id, code, signal);
      },
    });
  }
}
