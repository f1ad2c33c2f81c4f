// `pnpm bench` in this package: proposals per second and latency of a 3-node cluster.
// Prints ONE JSON value on stdout; progress goes to stderr.
//
// Networked: 3 kv-server processes on 127.0.0.1 (each transport, memory and SQLite storage);
// the leader runs the proposal loops in-process (POST /admin/bench), so the figures measure
// Raft (replication over the real transport to the two other processes, their storage),
// not HTTP. In-process: 3 RaftNodes in this process on the memory transport and memory
// storage, the same loops, the same state machine. Usage: tsx bench/cluster-bench.ts [--quick]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RaftNode } from '@kontiki/core';
import { MemoryLogStorage, MemoryMetaStorage } from '@kontiki/storage-memory';
import { MemoryNetwork } from '@kontiki/transport-memory';
import type { ApplyLoopResult } from '../src/apply-loops.js';
import { runApplyLoops } from '../src/apply-loops.js';
import { waitForLeader } from '../src/cluster-observer.js';
import { paddedPutCommand } from '../src/commands.js';
import type { StorageKind, TransportKind } from '../src/config.js';
import { requestJson } from '../src/http-json.js';
import { KvStateMachine } from '../src/kv-state-machine.js';
import { LocalCluster } from '../src/local-cluster.js';

const quick = process.argv.includes('--quick');
const CONCURRENCY = [1, 64, 256] as const;
const PAYLOAD_BYTES = 100;
const WARMUP_MS = quick ? 200 : 1000;
const DURATION_MS = quick ? 700 : 3000;
const ELECTION_TIMEOUT_MS = 1000;
const SERVER_SCRIPT = fileURLToPath(new URL('../dist/main.js', import.meta.url));

type Level = ApplyLoopResult | { readonly error: string };
type Levels = Record<string, Level>;

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

function describeLevel(l: Level): string {
  if ('error' in l) return `error: ${l.error}`;
  return `${l.perSecond}/s, p50 ${l.latencyMs.p50} ms, p99 ${l.latencyMs.p99} ms`;
}

async function networked(transport: TransportKind, storage: StorageKind): Promise<Levels> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kontiki-bench-'));
  const cluster = await LocalCluster.start({
    serverScript: SERVER_SCRIPT,
    transport,
    storage,
    dataDir,
    electionTimeoutMs: ELECTION_TIMEOUT_MS,
    enableBench: true,
  });
  const levels: Levels = {};
  try {
    for (const concurrency of CONCURRENCY) {
      const leader = await waitForLeader(cluster.httpEndpoints(), { timeoutMs: 20_000 });
      const res = await requestJson('POST', `http://${leader.http}/admin/bench`, {
        body: {
          concurrency,
          durationMs: DURATION_MS,
          warmupMs: WARMUP_MS,
          payloadBytes: PAYLOAD_BYTES,
        },
        timeoutMs: WARMUP_MS + DURATION_MS + 30_000,
        headers: { authorization: `Bearer ${cluster.token}` },
      });
      levels[concurrency] =
        res.status === 200
          ? (res.body as ApplyLoopResult)
          : { error: `HTTP ${res.status}: ${res.text.slice(0, 300)}` };
      progress(
        `  ${transport}/${storage} at ${concurrency} in flight: ${describeLevel(levels[concurrency] as Level)}`,
      );
    }
  } finally {
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return levels;
}

async function inProcess(): Promise<Levels> {
  const network = new MemoryNetwork();
  const ids = ['n1', 'n2', 'n3'];
  const nodes = ids.map(
    (id) =>
      new RaftNode({
        groupId: 'kv',
        peerId: id,
        initialConfiguration: { voters: ids },
        transport: network.endpoint(id),
        logStorage: new MemoryLogStorage(),
        metaStorage: new MemoryMetaStorage(),
        stateMachine: new KvStateMachine(),
        electionTimeoutMs: ELECTION_TIMEOUT_MS,
      }),
  );
  await Promise.all(nodes.map((n) => n.start()));
  const levels: Levels = {};
  try {
    const payload = paddedPutCommand('bench', PAYLOAD_BYTES);
    for (const concurrency of CONCURRENCY) {
      const deadline = Date.now() + 20_000;
      let leader = nodes.find((n) => n.isLeader);
      while (leader === undefined && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        leader = nodes.find((n) => n.isLeader);
      }
      if (leader === undefined) throw new Error('no leader in the in-process cluster');
      const l = leader;
      try {
        levels[concurrency] = await runApplyLoops((data) => l.apply(data), {
          concurrency,
          durationMs: DURATION_MS,
          warmupMs: WARMUP_MS,
          payload,
        });
      } catch (error) {
        levels[concurrency] = { error: String(error) };
      }
      progress(
        `  in-process at ${concurrency} in flight: ${describeLevel(levels[concurrency] as Level)}`,
      );
    }
  } finally {
    await Promise.all(nodes.map((n) => n.shutdown()));
    await Promise.all(ids.map((id) => network.endpoint(id).close()));
  }
  return levels;
}

function ratios(net: Levels, base: Levels): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const c of CONCURRENCY) {
    const a = net[c];
    const b = base[c];
    out[c] =
      a && b && !('error' in a) && !('error' in b) && b.perSecond > 0
        ? Math.round((a.perSecond / b.perSecond) * 1000) / 1000
        : null;
  }
  return out;
}

async function main(): Promise<void> {
  if (!existsSync(SERVER_SCRIPT)) {
    throw new Error(`${SERVER_SCRIPT} is missing: build first (pnpm build)`);
  }
  progress(`kv-server cluster bench${quick ? ' (quick)' : ''}: ${PAYLOAD_BYTES}-byte proposals`);
  progress('in-process (memory transport, memory storage):');
  const base = await inProcess();
  const runs: Record<string, Levels> = {};
  for (const transport of ['grpc', 'ws'] as const) {
    for (const storage of ['memory', 'sqlite'] as const) {
      progress(`3 processes, ${transport} transport, ${storage} storage:`);
      runs[`${transport}/${storage}`] = await networked(transport, storage);
    }
  }
  const result = {
    bench: 'kv-server cluster: proposals on the leader (node.apply loops), 3 nodes',
    quick,
    payloadBytes: PAYLOAD_BYTES,
    warmupMs: WARMUP_MS,
    durationMs: DURATION_MS,
    electionTimeoutMs: ELECTION_TIMEOUT_MS,
    machine: {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
    },
    inProcess: base,
    networked: runs,
    /** Proposals/s of each networked run divided by the in-process figure, per concurrency. */
    networkedOverInProcess: Object.fromEntries(
      Object.entries(runs).map(([name, levels]) => [name, ratios(levels, base)]),
    ),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    progress(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
