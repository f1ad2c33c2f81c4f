// One process of the multi-raft benchmark (`multi-raft-bench.ts` starts three): G Raft groups
// on one gRPC endpoint and one SQLite file, every group on all three processes. Reads its
// configuration from the MULTI_RAFT_NODE environment variable (JSON) and prints one JSON line
// per report (four a second) on stdout: how many groups this process leads, how many have a known leader, its
// memory. Runs until killed.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { RaftHost, RaftNode } from '@kontiki/core';
import { SqliteStore } from '@kontiki/storage-sqlite';
import { grpcTransport } from '@kontiki/transport-grpc';
import { setHeapGrowingPercent } from '../src/heap-pacing.js';

interface Config {
  readonly id: string;
  readonly listen: string;
  readonly peers: Readonly<Record<string, string>>;
  readonly groups: number;
  readonly dir: string;
  readonly token: string;
  readonly electionTimeoutMs: number;
  /** Whether the groups share one RaftHost (scheduler, node-level heartbeats, quiescence). */
  readonly host?: boolean;
  readonly balance?: boolean;
  /** The host's election cap (default: core's, 128). */
  readonly maxConcurrentElections?: number;
  /** V8's heap growing percent, set as the kv-server executable sets it (0: V8's own). */
  readonly heapGrowingPercent?: number;
}

const config = JSON.parse(process.env.MULTI_RAFT_NODE ?? '') as Config;
const ids = Object.keys(config.peers);
if (config.heapGrowingPercent !== undefined) setHeapGrowingPercent(config.heapGrowingPercent);
const store = await SqliteStore.open(config.dir, { synchronous: 'full' });
const transport = await grpcTransport({
  listen: config.listen,
  peers: config.peers,
  token: config.token,
});

const host = config.host
  ? new RaftHost({
      transport,
      peerId: config.id,
      electionTimeoutMs: config.electionTimeoutMs,
      balance: config.balance !== false,
      ...(config.maxConcurrentElections
        ? { maxConcurrentElections: config.maxConcurrentElections }
        : {}),
    })
  : undefined;
const constructing = performance.now();
const nodes: RaftNode[] = [];
for (let g = 0; g < config.groups; g++) {
  const groupId = `g${g}`;
  nodes.push(
    new RaftNode({
      groupId,
      peerId: config.id,
      initialConfiguration: { voters: ids },
      electionTimeoutMs: config.electionTimeoutMs,
      transport,
      ...(host ? { host } : {}),
      logStorage: store.logStorage(groupId),
      metaStorage: store.metaStorage(groupId),
      snapshotStorage: store.snapshotStorage(groupId),
      stateMachine: { onApply: (entries) => entries.map(() => undefined) },
    }),
  );
}
const startedAt = performance.now();
await Promise.all(nodes.map((n) => n.start()));
// What creating and starting the G nodes cost (reports begin only after both).
const constructMs = Math.round(startedAt - constructing);
const startMs = Math.round(performance.now() - startedAt);

// Reports four times a second: the failover and restart times are read from them, so this is
// their granularity (it was a second; counting 10,000 nodes takes well under a millisecond).
const REPORT_MS = 250;

// Garbage collections since the last report, by kind (minor = scavenges), to read the idle
// allocation rate.
const gcs = { minor: 0, major: 0, other: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
    else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
    else gcs.other++;
  }
}).observe({ entryTypes: ['gc'] });

function report(): void {
  let leading = 0;
  let known = 0;
  for (const n of nodes) {
    if (n.isLeader) leading++;
    if (n.leader !== undefined) known++;
  }
  const m = process.memoryUsage();
  let quiescedLeading = 0;
  let quiescedFollowing = 0;
  const stats = host?.stats();
  if (stats && process.env.MULTI_RAFT_DEBUG) {
    const { peers, ...counts } = stats;
    process.stderr.write(`${config.id} ${JSON.stringify(counts)} ${JSON.stringify(peers)}\n`);
  }
  for (const p of stats?.peers ?? []) {
    quiescedLeading += p.quiescedLeading;
    quiescedFollowing += p.quiescedFollowing;
  }
  process.stdout.write(
    `${JSON.stringify({
      id: config.id,
      sinceStartMs: Math.round(performance.now() - startedAt),
      constructMs,
      startMs,
      leading,
      knownLeader: known,
      rssMiB: Math.round(m.rss / 2 ** 20),
      ...(host ? { quiescedLeading, quiescedFollowing } : {}),
      heapUsedMiB: Math.round(m.heapUsed / 2 ** 20),
      heapTotalMiB: Math.round(m.heapTotal / 2 ** 20),
      externalMiB: Math.round(m.external / 2 ** 20),
      gcs: { ...gcs },
      // Groups this process led that left quiescence for a leadership transfer (the balancer's).
      ...(stats ? { transfers: stats.wakes['leader: a leadership transfer'] ?? 0 } : {}),
    })}\n`,
  );
}
report();
setInterval(() => {
  report();
  gcs.minor = 0;
  gcs.major = 0;
  gcs.other = 0;
}, REPORT_MS);
// Diagnosis: MULTI_RAFT_PROFILE_AT_MS=T MULTI_RAFT_PROFILE_DIR=D samples allocations (those
// collected since included) and CPU for 10 s from T ms after start, and writes
// D/<id>.heapprofile and D/<id>.cpuprofile (what an idle host allocates, and where). With
// MULTI_RAFT_PROFILE_SURVIVORS=1 the heap profile keeps only what no collection has freed by
// its end: what was promoted to the old generation (live or not yet collected), by site.
if (process.env.MULTI_RAFT_PROFILE_AT_MS && process.env.MULTI_RAFT_PROFILE_DIR) {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const dir = process.env.MULTI_RAFT_PROFILE_DIR;
  const survivorsOnly = process.env.MULTI_RAFT_PROFILE_SURVIVORS === '1';
  setTimeout(async () => {
    const session = new Session();
    session.connect();
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: !survivorsOnly,
      includeObjectsCollectedByMinorGC: !survivorsOnly,
    } as never);
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    setTimeout(async () => {
      const heap = await session.post('HeapProfiler.stopSampling');
      const cpu = await session.post('Profiler.stop');
      writeFileSync(`${dir}/${config.id}.heapprofile`, JSON.stringify(heap.profile));
      writeFileSync(`${dir}/${config.id}.cpuprofile`, JSON.stringify(cpu.profile));
      session.disconnect();
    }, 10_000);
  }, Number(process.env.MULTI_RAFT_PROFILE_AT_MS));
}

// Diagnosis: MULTI_RAFT_HEAP_SNAPSHOT_AT_MS=T MULTI_RAFT_PROFILE_DIR=D writes D/<id>.heapsnapshot
// at T ms (what is live then; rank it with `bench:heap-retainers`). It pauses the process.
if (process.env.MULTI_RAFT_HEAP_SNAPSHOT_AT_MS && process.env.MULTI_RAFT_PROFILE_DIR) {
  const { writeHeapSnapshot } = await import('node:v8');
  const dir = process.env.MULTI_RAFT_PROFILE_DIR;
  setTimeout(
    () => writeHeapSnapshot(`${dir}/${config.id}.heapsnapshot`),
    Number(process.env.MULTI_RAFT_HEAP_SNAPSHOT_AT_MS),
  );
}

// Experiment (docs/benchmarks.md, "RSS at 10,000 groups"): MULTI_RAFT_INSPECTOR_GC_AT_MS=T asks
// V8, through the inspector, for a full memory-reducing collection at T ms and reports its
// pause: it gives the heap back, but stops the process for seconds at 10,000 groups.
if (process.env.MULTI_RAFT_INSPECTOR_GC_AT_MS) {
  const { Session } = await import('node:inspector/promises');
  setTimeout(async () => {
    const session = new Session();
    session.connect();
    const t0 = performance.now();
    await session.post('HeapProfiler.collectGarbage');
    process.stderr.write(
      `${config.id} collectGarbage took ${Math.round(performance.now() - t0)} ms\n`,
    );
    session.disconnect();
  }, Number(process.env.MULTI_RAFT_INSPECTOR_GC_AT_MS));
}
