import { type LogStorage, type MetaStorage, RaftNode } from '@kontiki/core';
import { MemoryLogStorage, MemoryMetaStorage } from '@kontiki/storage-memory';
import { MemoryNetwork } from '@kontiki/transport-memory';
import {
  CountingLogStorage,
  CountingTransport,
  type StorageCounts,
  type TransportCounts,
  zeroStorageCounts,
} from './counting.js';

/** One node's storage in a benchmark cluster. */
export interface BenchNodeStorage {
  readonly logStorage: LogStorage;
  readonly metaStorage: MetaStorage;
  /** Called after the node has shut down. */
  close(): Promise<void>;
  /** Counters of the storage's own (transactions, messages ...); reported as measured-window deltas. */
  stats?(): Readonly<Record<string, number>>;
}

/** Makes the storage of node `peerId`; the default keeps everything in memory. */
export type BenchStorageFactory = (peerId: string) => Promise<BenchNodeStorage>;

/**
 * How proposals reach the leader.
 * - `macrotask`: each proposal in its own event-loop turn (a `setImmediate` per proposal),
 *   as requests read from sockets arrive in a server. Nothing lines proposals up in one turn.
 * - `microtask`: each client proposes again as soon as its previous proposal resolves, inside
 *   the same microtask checkpoint, so proposals that complete together are re-proposed together.
 */
export type Arrival = 'macrotask' | 'microtask';

export interface ClusterBenchOptions {
  readonly inFlight: number;
  readonly arrival: Arrival;
  /** Measured seconds (after the warm-up). */
  readonly seconds: number;
  /** Seconds of warm-up before measuring (default 1). */
  readonly warmupSeconds?: number;
  /** Bytes per proposal (default 100). */
  readonly payloadBytes?: number;
  readonly storage?: BenchStorageFactory;
  /** Election timeout of every node (default 1000 ms). */
  readonly electionTimeoutMs?: number;
}

export interface BatchingFigures {
  /** AppendEntries the leader sent with entries, and the entries in them. */
  readonly appendEntries: number;
  readonly entriesSent: number;
  readonly entriesPerAppendEntries: number;
  /** AppendEntries without entries the leader sent (heartbeats and commit updates). */
  readonly emptyAppendEntries: number;
  /** The leader's log appends (storage writes) and the entries in them. */
  readonly leaderStorageAppends: number;
  readonly leaderEntriesPerStorageAppend: number;
  /** The same over both followers. */
  readonly followerStorageAppends: number;
  readonly followerEntriesPerStorageAppend: number;
}

export interface ClusterBenchResult {
  readonly inFlight: number;
  readonly arrival: Arrival;
  readonly proposalsPerSecond: number;
  /** From the client issuing a proposal to its promise resolving on the leader. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly samples: number;
  readonly failedProposals: number;
  /** CPU time of the whole process (three nodes and the clients) per applied proposal. */
  readonly cpuMicrosPerProposal: number;
  readonly batching: BatchingFigures;
  /** Deltas of the storages' own counters over the measured window, when they have any. */
  readonly storageStats?: {
    readonly leader: Record<string, number>;
    readonly followers: Record<string, number>;
  };
  readonly leaderKept: boolean;
  readonly followersCaughtUp: boolean;
}

interface BenchNode {
  readonly node: RaftNode;
  readonly transport: CountingTransport;
  readonly log: CountingLogStorage;
  readonly storage: BenchNodeStorage;
}

const memoryStorage: BenchStorageFactory = async () => ({
  logStorage: new MemoryLogStorage(),
  metaStorage: new MemoryMetaStorage(),
  close: async () => {},
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Three nodes on one memory network, each behind counting wrappers; resolves once one leads. */
async function startCluster(options: ClusterBenchOptions): Promise<BenchNode[]> {
  const network = new MemoryNetwork();
  const ids = ['n1', 'n2', 'n3'];
  const makeStorage = options.storage ?? memoryStorage;
  const nodes: BenchNode[] = [];
  for (const id of ids) {
    const storage = await makeStorage(id);
    const transport = new CountingTransport(network.endpoint(id));
    const log = new CountingLogStorage(storage.logStorage);
    const node = new RaftNode({
      groupId: 'bench',
      peerId: id,
      initialConfiguration: { voters: ids },
      electionTimeoutMs: options.electionTimeoutMs ?? 1000,
      transport,
      logStorage: log,
      metaStorage: storage.metaStorage,
      stateMachine: { onApply: (entries) => entries.map((e) => e.index) },
    });
    nodes.push({ node, transport, log, storage });
  }
  for (const n of nodes) await n.node.start();
  const deadline = performance.now() + 10_000;
  for (;;) {
    const leader = nodes.find((n) => n.node.isLeader);
    if (leader && leader.node.appliedIndex >= 1) return nodes;
    if (performance.now() > deadline) throw new Error('no leader within 10 s');
    await sleep(5);
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const minusT = (a: TransportCounts, b: TransportCounts): TransportCounts => ({
  appendEntriesWithEntries: a.appendEntriesWithEntries - b.appendEntriesWithEntries,
  entriesSent: a.entriesSent - b.entriesSent,
  emptyAppendEntries: a.emptyAppendEntries - b.emptyAppendEntries,
  calls: a.calls - b.calls,
});
const minusS = (a: StorageCounts, b: StorageCounts): StorageCounts => ({
  appends: a.appends - b.appends,
  entriesAppended: a.entriesAppended - b.entriesAppended,
  writes: a.writes - b.writes,
});
const sumS = (list: readonly StorageCounts[]): StorageCounts =>
  list.reduce(
    (acc, c) => ({
      appends: acc.appends + c.appends,
      entriesAppended: acc.entriesAppended + c.entriesAppended,
      writes: acc.writes + c.writes,
    }),
    zeroStorageCounts(),
  );
/** `after - before` per key, summed into `into`. */
function addDelta(
  into: Record<string, number>,
  after: Readonly<Record<string, number>>,
  before: Readonly<Record<string, number>>,
): Record<string, number> {
  for (const [k, v] of Object.entries(after)) into[k] = (into[k] ?? 0) + v - (before[k] ?? 0);
  return into;
}

const ratio = (n: number, d: number) => (d === 0 ? 0 : Number((n / d).toFixed(2)));

/**
 * One level of the cluster benchmark: a fresh 3-node cluster in this process (memory
 * transport; memory storage unless `storage` says otherwise), `inFlight` closed-loop clients
 * proposing 100-byte payloads to the leader, arriving as `arrival` says. Batching is counted
 * at the plugin boundary (what the leader hands its transport, what each node hands its log
 * storage), so it is measured without looking inside core.
 */
export async function runClusterBench(options: ClusterBenchOptions): Promise<ClusterBenchResult> {
  const { inFlight, arrival, seconds } = options;
  const payloadBytes = options.payloadBytes ?? 100;
  const nodes = await startCluster(options);
  const leaderEntry = nodes.find((n) => n.node.isLeader) as BenchNode;
  const followers = nodes.filter((n) => n !== leaderEntry);
  const leader = leaderEntry.node;
  const latencies: number[] = [];
  let running = true;
  let measuring = false;
  let completed = 0;
  let failed = 0;
  let sequence = 0;

  const payload = () => {
    // A fresh payload per proposal, as a real client produces one.
    const data = new Uint8Array(payloadBytes);
    data[0] = sequence++ & 0xff;
    return data;
  };

  // The microtask loop: re-proposes inside the checkpoint in which its last proposal resolved.
  const loopClient = async () => {
    while (running) {
      const t0 = performance.now();
      try {
        await leader.apply(payload());
      } catch {
        failed++;
        if (!leader.isLeader) return;
        continue;
      }
      if (measuring) {
        latencies.push(performance.now() - t0);
        completed++;
      }
    }
  };

  // The server-shaped client: every proposal is handed to the leader in a turn of its own.
  const macrotaskClient = () =>
    new Promise<void>((done) => {
      const issue = () => {
        if (!running || !leader.isLeader) {
          done();
          return;
        }
        const t0 = performance.now();
        setImmediate(() => {
          leader.apply(payload()).then(
            () => {
              if (measuring) {
                latencies.push(performance.now() - t0);
                completed++;
              }
              issue();
            },
            () => {
              failed++;
              issue();
            },
          );
        });
      };
      issue();
    });

  const clients = Array.from(
    { length: inFlight },
    arrival === 'macrotask' ? macrotaskClient : loopClient,
  );
  // Warm up (JIT, allocation) before measuring.
  await sleep((options.warmupSeconds ?? 1) * 1000);
  const sentBefore = { ...leaderEntry.transport.counts };
  const leaderLogBefore = { ...leaderEntry.log.counts };
  const followerLogBefore = followers.map((f) => ({ ...f.log.counts }));
  const statsOf = (n: BenchNode) => n.storage.stats?.() ?? {};
  const statsBefore = nodes.map(statsOf);
  const cpuBefore = process.cpuUsage();
  measuring = true;
  const start = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const statsAfter = nodes.map(statsOf);
  const sent = minusT(leaderEntry.transport.counts, sentBefore);
  const leaderLog = minusS(leaderEntry.log.counts, leaderLogBefore);
  const followerLog = sumS(
    followers.map((f, i) => minusS(f.log.counts, followerLogBefore[i] ?? zeroStorageCounts())),
  );
  running = false;
  await Promise.all(clients);
  const sorted = Float64Array.from(latencies).sort();
  // Every follower applies everything too (it is a 3-node cluster, not a 1-node one).
  const target = leader.commitIndex;
  const until = performance.now() + 10_000;
  while (nodes.some((n) => n.node.appliedIndex < target) && performance.now() < until) {
    await sleep(10);
  }
  let storageStats: ClusterBenchResult['storageStats'];
  if (nodes.some((n) => n.storage.stats !== undefined)) {
    const leaderStats: Record<string, number> = {};
    const followerStats: Record<string, number> = {};
    nodes.forEach((n, i) => {
      const into = n === leaderEntry ? leaderStats : followerStats;
      addDelta(into, statsAfter[i] ?? {}, statsBefore[i] ?? {});
    });
    storageStats = { leader: leaderStats, followers: followerStats };
  }
  const followersCaughtUp = nodes.every((n) => n.node.appliedIndex >= target);
  const leaderKept = leader.isLeader;
  for (const n of nodes) await n.node.shutdown();
  for (const n of nodes) await n.storage.close();
  return {
    inFlight,
    arrival,
    proposalsPerSecond: Math.round(completed / elapsed),
    latencyMs: {
      p50: Number(percentile(sorted, 50).toFixed(4)),
      p99: Number(percentile(sorted, 99).toFixed(4)),
      max: Number((sorted[sorted.length - 1] ?? Number.NaN).toFixed(3)),
    },
    samples: completed,
    failedProposals: failed,
    cpuMicrosPerProposal: ratio(cpu.user + cpu.system, completed),
    batching: {
      appendEntries: sent.appendEntriesWithEntries,
      entriesSent: sent.entriesSent,
      entriesPerAppendEntries: ratio(sent.entriesSent, sent.appendEntriesWithEntries),
      emptyAppendEntries: sent.emptyAppendEntries,
      leaderStorageAppends: leaderLog.appends,
      leaderEntriesPerStorageAppend: ratio(leaderLog.entriesAppended, leaderLog.appends),
      followerStorageAppends: followerLog.appends,
      followerEntriesPerStorageAppend: ratio(followerLog.entriesAppended, followerLog.appends),
    },
    ...(storageStats ? { storageStats } : {}),
    leaderKept,
    followersCaughtUp,
  };
}
