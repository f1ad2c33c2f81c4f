// One process of the multi-raft benchmark (`multi-raft-bench.ts` starts three): G Raft groups
// on one gRPC endpoint and one SQLite file, every group on all three processes. Reads its
// configuration from the MULTI_RAFT_NODE environment variable (JSON) and prints one JSON line
// per second on stdout: how many groups this process leads, how many have a known leader, its
// memory. Runs until killed.
import { RaftHost, RaftNode } from '@kontiki/core';
import { SqliteStore } from '@kontiki/storage-sqlite';
import { grpcTransport } from '@kontiki/transport-grpc';

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
}

const config = JSON.parse(process.env.MULTI_RAFT_NODE ?? '') as Config;
const ids = Object.keys(config.peers);
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
    })}\n`,
  );
}
report();
setInterval(report, 1000);
