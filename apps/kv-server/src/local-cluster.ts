import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ensureClusterSecret } from './cluster-secret.js';
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
  /**
   * Parent of every node's data directory (`<dataDir>/n1`, ...); required for SQLite. The
   * cluster's secret is kept there too (`cluster.secret`, mode 0600).
   */
  readonly dataDir?: string;
  readonly sqliteSync?: 'full' | 'normal';
  readonly electionTimeoutMs?: number;
  /** Passed on as `--snapshot-interval-s` (default: the server's, 3600). */
  readonly snapshotIntervalS?: number;
  /** Passed on as `--snapshot-log-margin` (default: the server's, 1000). */
  readonly snapshotLogMargin?: number;
  /** Passed on as `--groups`: keys sharded over this many Raft groups (default 1). */
  readonly groups?: number;
  /**
   * The nodes to start, instead of `nodes`: ids, and whether each joined the group later
   * (started with `--join`: no initial configuration). How a launcher restarts a cluster
   * that grew; those not joined form the initial configuration of a new group.
   */
  readonly members?: ReadonlyArray<{ readonly id: string; readonly joined?: boolean }>;
  readonly host?: string;
  /**
   * Fixed ports: node i (from 1) serves HTTP on basePort + i and Raft on basePort + 100 + i.
   * Default: ports chosen by the system, reported by each node.
   */
  readonly basePort?: number;
  readonly enableBench?: boolean;
  /**
   * Serve etcd's v3 gRPC API on every node too (`--etcd-listen`), on a port of its own:
   * chosen by the system, or basePort + 200 + i. Default true.
   */
  readonly etcd?: boolean;
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
  /**
   * Where node `from` dials node `to`'s Raft endpoint, given where `to` listens (default:
   * there). Called once every node listens and before any is told its peers, so a test can
   * put a fault-injecting proxy on each directed pair (`FaultMesh`) and point the nodes at it.
   */
  readonly raftRoute?: (from: string, to: string, listening: string) => string;
  /** Options for node itself in every child (e.g. `--cpu-prof`: benchmarks profile with it). */
  readonly nodeArgs?: readonly string[];
}

export interface ClusterMember {
  readonly id: string;
  /** "host:port" of its Raft transport. */
  readonly raft: string;
  /** "host:port" of its HTTP API. */
  readonly http: string;
  /** "host:port" of its etcd v3 API (when served). */
  readonly etcd: string | undefined;
  readonly running: boolean;
  readonly pid: number | undefined;
  /** Started with `--join` (added to the group after it was formed). */
  readonly joined: boolean;
}

/** What a node reports once it runs: its term and the last index of the log it loaded. */
export type ReadyEvent = Extract<ServerEvent, { event: 'ready' }>;

interface Slot {
  readonly id: string;
  raft: string;
  http: string;
  etcd: string | undefined;
  process: ServerProcess;
  readonly joined: boolean;
}

type ListeningEvent = Extract<ServerEvent, { event: 'listening' }>;
const isListening = (e: ServerEvent): e is ListeningEvent => e.event === 'listening';

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
  private readonly secret: { readonly token: string; readonly file: string | undefined };
  private stopped = false;
  /** Nodes being killed or restarted on purpose: their exit is expected. */
  private readonly expectedExits = new Set<string>();
  /** Ids of removed nodes: never given again (their data directories are still there). */
  private readonly retired = new Set<string>();

  private constructor(private readonly options: LocalClusterOptions) {
    // One secret per cluster: in its data directory (a restarted cluster keeps it, and the
    // CLI's commands find it there), or only in memory when there is no directory.
    if (options.dataDir !== undefined) {
      const { path, secret } = ensureClusterSecret(options.dataDir);
      this.secret = { token: secret, file: path };
    } else {
      this.secret = { token: randomBytes(32).toString('hex'), file: undefined };
    }
  }

  /** The cluster's shared secret: for its Raft transports and its HTTP admin endpoints. */
  get token(): string {
    return this.secret.token;
  }

  /** The file that holds the secret (undefined without a data directory). */
  get tokenFile(): string | undefined {
    return this.secret.file;
  }

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const count = options.members?.length ?? options.nodes ?? 3;
    if (!Number.isInteger(count) || count < 1 || count > 9) {
      throw new Error(`nodes must be from 1 to 9, got ${count}`);
    }
    const specs =
      options.members ??
      Array.from({ length: count }, (_, i) => ({ id: `n${i + 1}`, joined: false }));
    if (specs.every((m) => m.joined === true))
      throw new Error('every node joined: none to start a group');
    if ((options.storage ?? 'sqlite') === 'sqlite' && options.dataDir === undefined) {
      throw new Error('a data directory is required with SQLite storage');
    }
    const cluster = new LocalCluster(options);
    try {
      const host = options.host ?? '127.0.0.1';
      const spawned = specs.map((spec) => {
        const { http, raft, etcd } = cluster.listenAddresses(spec.id, host);
        const joined = spec.joined === true;
        const slot: Slot = {
          id: spec.id,
          raft,
          http,
          etcd,
          joined,
          process: cluster.spawn(spec.id, raft, http, etcd, joined),
        };
        cluster.slots.push(slot);
        return slot;
      });
      const timeout = cluster.startTimeoutMs;
      await Promise.all(
        spawned.map(async (slot) => {
          const listening = await slot.process.waitForEvent(
            `${slot.id} listening`,
            isListening,
            timeout,
          );
          slot.raft = listening.raft;
          slot.http = listening.http;
          slot.etcd = listening.etcd;
        }),
      );
      for (const slot of cluster.slots) slot.process.send(cluster.peersLine(slot.id));
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
      etcd: s.etcd,
      running: s.process.running,
      pid: s.process.pid,
      joined: s.joined,
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

  /** Every node's etcd v3 API "host:port" (empty when the cluster serves none). */
  etcdEndpoints(): string[] {
    return this.slots.flatMap((s) => (s.etcd === undefined ? [] : [s.etcd]));
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
      slot.process = this.spawn(id, slot.raft, slot.http, slot.etcd, slot.joined);
      try {
        await slot.process.waitForEvent(`${id} listening`, isListening, this.startTimeoutMs);
        slot.process.send(this.peersLine(id));
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

  /**
   * Starts a new node with `--join` (no initial configuration: it waits for the group's
   * leader to contact it) and resolves once it runs, with its addresses. It is not a member
   * yet: ask the leader to add it (`KvClient.setMembers` with its addresses, or
   * `kontiki members set`). The id defaults to the next free `nK`.
   */
  async addNode(id?: string): Promise<ClusterMember> {
    if (this.stopped) throw new Error('the cluster is stopped');
    const newId = id ?? this.nextId();
    if (this.slots.some((s) => s.id === newId) || this.retired.has(newId)) {
      throw new Error(`${newId} is or was already in this cluster`);
    }
    const host = this.options.host ?? '127.0.0.1';
    const { http, raft, etcd } = this.listenAddresses(newId, host);
    const slot: Slot = {
      id: newId,
      raft,
      http,
      etcd,
      joined: true,
      process: this.spawn(newId, raft, http, etcd, true),
    };
    this.slots.push(slot);
    try {
      const listening = await slot.process.waitForEvent(
        `${newId} listening`,
        isListening,
        this.startTimeoutMs,
      );
      slot.raft = listening.raft;
      slot.http = listening.http;
      slot.etcd = listening.etcd;
      slot.process.send(this.peersLine(newId));
      await this.waitReady(slot);
      return this.member(newId);
    } catch (error) {
      this.slots.splice(this.slots.indexOf(slot), 1);
      await slot.process.stop(5_000);
      throw error;
    }
  }

  /**
   * Stops a node (SIGTERM, SIGKILL after 5 s) and forgets it: for a node that was removed
   * from the group's membership, or that never became a member. Its data stays on disk.
   */
  async removeNode(id: string): Promise<void> {
    const slot = this.slot(id);
    this.expectedExits.add(id);
    await slot.process.stop(5_000);
    this.slots.splice(this.slots.indexOf(slot), 1);
    this.retired.add(id);
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

  /**
   * Every node's addresses, and the founding voters (the nodes not started with --join):
   * a new group's initial configuration. Nodes added later learn the members' addresses
   * from this line, and the others learn theirs through the log. The Raft addresses are
   * those `forId` dials (`raftRoute`); its own is where it listens.
   */
  private peersLine(forId: string): string {
    const route = this.options.raftRoute;
    const peers: Record<string, { raft: string; http: string; etcd?: string }> = {};
    for (const s of this.slots) {
      const raft = route === undefined || s.id === forId ? s.raft : route(forId, s.id, s.raft);
      peers[s.id] =
        s.etcd === undefined ? { raft, http: s.http } : { raft, http: s.http, etcd: s.etcd };
    }
    const voters = this.slots.filter((s) => !s.joined).map((s) => s.id);
    return JSON.stringify(voters.length > 0 ? { peers, voters } : { peers });
  }

  /** Fixed ports from `basePort` (by the node's number, nK), else port 0. */
  private listenAddresses(
    id: string,
    host: string,
  ): { http: string; raft: string; etcd: string | undefined } {
    const base = this.options.basePort;
    const withEtcd = this.options.etcd ?? true;
    const n = Number(/^n(\d+)$/.exec(id)?.[1] ?? Number.NaN);
    if (base === undefined || !Number.isInteger(n)) {
      return { http: `${host}:0`, raft: `${host}:0`, etcd: withEtcd ? `${host}:0` : undefined };
    }
    return {
      http: `${host}:${base + n}`,
      raft: `${host}:${base + 100 + n}`,
      etcd: withEtcd ? `${host}:${base + 200 + n}` : undefined,
    };
  }

  private nextId(): string {
    let n = 1;
    for (const s of this.slots) {
      const m = /^n(\d+)$/.exec(s.id);
      if (m) n = Math.max(n, Number(m[1]) + 1);
    }
    for (const s of this.retired) {
      const m = /^n(\d+)$/.exec(s);
      if (m) n = Math.max(n, Number(m[1]) + 1);
    }
    return `n${n}`;
  }

  private spawn(
    id: string,
    raft: string,
    http: string,
    etcd: string | undefined,
    joined: boolean,
  ): ServerProcess {
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
    if (joined) args.push('--join');
    if (etcd !== undefined) args.push('--etcd-listen', etcd);
    if (o.snapshotIntervalS !== undefined) {
      args.push('--snapshot-interval-s', String(o.snapshotIntervalS));
    }
    if (o.snapshotLogMargin !== undefined) {
      args.push('--snapshot-log-margin', String(o.snapshotLogMargin));
    }
    if (storage === 'sqlite' && o.dataDir !== undefined) {
      args.push('--data-dir', join(o.dataDir, id), '--sqlite-sync', o.sqliteSync ?? 'full');
    }
    if (o.groups !== undefined && o.groups !== 1) args.push('--groups', String(o.groups));
    if (o.enableBench) args.push('--enable-bench');
    // The secret goes by file (or environment), never argv: ps shows argv to every user.
    if (this.secret.file !== undefined) args.push('--token-file', this.secret.file);
    const env: Record<string, string | undefined> = { ...process.env, ...o.env };
    if (this.secret.file === undefined) env.KONTIKI_TOKEN = this.secret.token;
    else delete env.KONTIKI_TOKEN;
    return new ServerProcess({
      script: o.serverScript,
      args,
      ...(o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}),
      env,
      stderr: o.stderr ?? 'collect',
      ...(o.onEvent ? { onEvent: o.onEvent } : {}),
      onExit: (code, signal) => {
        if (this.stopped || this.expectedExits.has(id)) return;
        o.onUnexpectedExit?.(id, code, signal);
      },
    });
  }
}
