// `pnpm bench:etcd` (and part of `pnpm bench` here): Kontiki's kv-server against etcd 3.4, side
// by side in ONE run, through the same etcd v3 API and the same load client. Prints ONE JSON
// value on stdout; progress goes to stderr.
//
// Started together on 127.0.0.1 and kept up for the whole run:
//   etcd           3 members of Debian's etcd-server 3.4 (--heartbeat-interval 100
//                  --election-timeout 1000), data in a temporary folder
//   kontiki-grpc   3 kv-server processes, SQLite synchronous=full, gRPC between nodes
//   kontiki-ws     the same with the WebSocket transport
// and on request (--systems):
//   kontiki-grpc-memory  kontiki-grpc on memory storage (not durable): the disk's share
//   node-floor     a yardstick: one Node process answering every Put at once on node:http2
//                  (bench/floor-server.ts): the CPU any Node server spends per request, and
//                  the most this load client can drive on this machine
// Each is driven in turn, level by level (1, 16, 64, 256 in flight), by a closed-loop load
// client in its own process (bench/load-client.ts) that sends 100-byte Puts (--value-bytes)
// to the leader. Per level: acknowledged Puts per second, p50/p99 latency, and the CPU the
// three server processes used over the measured window (utime + stime from /proc/<pid>/stat)
// per acknowledged write, and the CPU of the load client itself (a client near one full core
// measures itself, not the servers); then Kontiki/etcd ratios.
//
// Usage: tsx bench/etcd-compare.ts [--quick] [--groups N] [--value-bytes N] [--levels 1,16,64,256]
//          [--seconds S] [--systems etcd,kontiki-grpc,kontiki-ws,kontiki-grpc-memory,node-floor]
//          [--fsync] [--client grpc-js|raw]
// --fsync: a separate, opt-in mode that counts fsync/fdatasync calls per acknowledged write
// with strace (which slows the servers down: its throughput figures are not comparable).
// --cpu-prof DIR: the kv-server processes run with `node --cpu-prof` and write their profiles
// to DIR when the bench stops them (profiling costs CPU: those figures are not comparable).
// BENCH_SECONDS and BENCH_LEVELS set the window and the levels too.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { waitForLeader } from '../src/cluster-observer.js';
import type { TransportKind } from '../src/config.js';
import { LocalCluster } from '../src/local-cluster.js';
import { EtcdCluster, etcdVersion } from './etcd-cluster.js';
import { FsyncCounter } from './fsync-counter.js';
import type { LoadResult } from './load-client.js';
import { totalCpuSeconds } from './proc-stat.js';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const SERVER_SCRIPT = join(PACKAGE_DIR, 'dist', 'main.js');
const LOAD_CLIENT = join(PACKAGE_DIR, 'bench', 'load-client.ts');
const FLOOR_SERVER = join(PACKAGE_DIR, 'bench', 'floor-server.ts');

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'value-bytes': { type: 'string', default: '100' },
    levels: { type: 'string' },
    seconds: { type: 'string' },
    systems: { type: 'string', default: 'etcd,kontiki-grpc,kontiki-ws' },
    fsync: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    groups: { type: 'string', default: '1' },
    // The load client's gRPC stack: grpc-js (default) or raw (Node's http2, bench/raw-grpc.ts).
    client: { type: 'string', default: 'grpc-js' },
  },
});
// --groups N: the kv-server shards keys over N Raft groups on one RaftHost per process; the
// load client then spreads its loops over the three nodes (each leads some groups and
// forwards the rest), instead of sending everything to the one leader.
const GROUPS = Number(values.groups);
if (!Number.isSafeInteger(GROUPS) || GROUPS < 1)
  throw new Error('--groups must be a positive integer');
const quick = values.quick === true;
const fsyncMode = values.fsync === true;
const VALUE_BYTES = Number(values['value-bytes']);
const LEVELS = (values.levels ?? process.env.BENCH_LEVELS ?? '1,16,64,256')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
const SECONDS = Number(values.seconds ?? process.env.BENCH_SECONDS ?? (quick ? 1.5 : 3));
const WARMUP_MS = quick ? 500 : 1000;
const DURATION_MS = Math.round(SECONDS * 1000);
const CPU_PROF_DIR = values['cpu-prof'];
const SYSTEMS = (values.systems ?? '').split(',').filter((s) => s !== '');

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface System {
  /** With --groups N: the etcd endpoint leading each group, group i's at i. */
  routes?(): Promise<string[]>;
  readonly name: string;
  readonly description: string;
  /** The leader's etcd API endpoint, now. */
  leader(): Promise<string>;
  pids(): number[];
  stop(): Promise<void>;
}

async function etcdSystem(): Promise<System> {
  const cluster = await EtcdCluster.start(3);
  return {
    name: 'etcd',
    description: `${etcdVersion() ?? 'etcd'}: 3 members, --heartbeat-interval 100 --election-timeout 1000`,
    leader: () => cluster.leaderEndpoint(),
    pids: () => cluster.pids(),
    stop: () => cluster.stop(),
  };
}

/**
 * The yardstick below every server (`bench/floor-server.ts`): one process answering each Put
 * at once, nothing stored or replicated: the CPU any Node HTTP/2 server spends per request,
 * and the most this load client can drive on this machine.
 */
async function floorSystem(): Promise<System> {
  const child = spawn(process.execPath, ['--import', 'tsx', FLOOR_SERVER], {
    cwd: PACKAGE_DIR,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('node-floor: no endpoint within 20 s')),
      20_000,
    );
    child.once('exit', (code) => reject(new Error(`node-floor exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { endpoint: string }).endpoint);
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('node-floor has no pid');
  return {
    name: 'node-floor',
    description:
      'yardstick: 1 Node process answering every Put at once on node:http2 (no log, no disk, no replication, no grpc-js)',
    leader: async () => endpoint,
    pids: () => [pid],
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin?.end();
      await exited;
    },
  };
}

async function kontikiSystem(
  transport: TransportKind,
  storage: 'sqlite' | 'memory' = 'sqlite',
): Promise<System> {
  const dataDir = mkdtempSync(join(tmpdir(), `kontiki-bench-kv-${transport}-`));
  const cluster = await LocalCluster.start({
    serverScript: SERVER_SCRIPT,
    transport,
    storage,
    sqliteSync: 'full',
    dataDir,
    electionTimeoutMs: 1000,
    ...(GROUPS > 1 ? { groups: GROUPS } : {}),
    ...(CPU_PROF_DIR === undefined
      ? {}
      : { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', join(CPU_PROF_DIR, transport)] }),
  });
  return {
    name: `kontiki-${transport}${storage === 'memory' ? '-memory' : ''}`,
    description: `kv-server: 3 processes, ${transport} transport, ${storage === 'memory' ? 'memory storage (not durable: what the disk costs, by difference)' : 'SQLite synchronous=full (worker thread)'}, election timeout 1000 ms${GROUPS > 1 ? `, ${GROUPS} groups, clients spread over the three nodes` : ''}`,
    leader: async () => {
      if (GROUPS > 1) {
        await waitForAllGroupsLed(cluster.httpEndpoints(), GROUPS);
        const all = cluster.members().map((m) => m.etcd);
        if (all.some((e) => e === undefined)) throw new Error('a node serves no etcd API');
        return all.join(',');
      }
      const l = await waitForLeader(cluster.httpEndpoints(), { timeoutMs: 20_000 });
      const etcd = cluster.member(l.id).etcd;
      if (etcd === undefined) throw new Error('the kv-server cluster serves no etcd API');
      return etcd;
    },
    pids: () => cluster.members().flatMap((m) => (m.pid === undefined ? [] : [m.pid])),
    routes: async () => {
      const http = cluster.httpEndpoints()[0] as string;
      const out: string[] = [];
      for (let i = 0; i < GROUPS; i++) {
        const r = await fetch(`http://${http}/status?group=kv-${i}`);
        const body = (await r.json()) as { leaderId?: string | null };
        const etcd =
          body.leaderId === undefined || body.leaderId === null
            ? undefined
            : cluster.member(body.leaderId).etcd;
        if (etcd === undefined) throw new Error(`no leader known for group kv-${i}`);
        out.push(etcd);
      }
      return out;
    },
    stop: async () => {
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls every node's /status until each knows a leader for all `groups` groups (20 s at most). */
async function waitForAllGroupsLed(endpoints: readonly string[], groups: number): Promise<void> {
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    const counts = await Promise.all(
      endpoints.map(async (e) => {
        try {
          const r = await fetch(`http://${e}/status`);
          const body = (await r.json()) as { groups?: { withLeader?: number } };
          return body.groups?.withLeader ?? 0;
        } catch {
          return 0;
        }
      }),
    );
    if (counts.every((c) => c === groups)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not every one of ${groups} groups had a leader within 20 s`);
}

interface LevelResult {
  readonly concurrency: number;
  readonly acked: number;
  readonly perSecond: number;
  readonly latencyMs: LoadResult['latencyMs'];
  readonly errors: number;
  readonly firstError?: string;
  /** CPU seconds of the three server processes over the measured window. */
  readonly serverCpuSeconds: number;
  /** Those, in microseconds per acknowledged write. */
  readonly cpuPerWriteUs: number | null;
  /** CPU the load client itself used over the window, in seconds (1 per second = a full core). */
  readonly clientCpuSeconds: number;
  /** With --fsync: fsync + fdatasync calls of the servers per acknowledged write. */
  readonly fsyncsPerWrite?: number | null;
}

type Failed = { readonly concurrency: number; readonly error: string };

/** Runs the load client against `system`'s leader; samples the servers' CPU around its window. */
async function runLevel(system: System, concurrency: number): Promise<LevelResult | Failed> {
  const endpoint = await system.leader();
  const routes = GROUPS > 1 && system.routes ? await system.routes() : undefined;
  const pids = system.pids();
  const counter = fsyncMode ? new FsyncCounter() : undefined;
  await counter?.attach(pids);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      LOAD_CLIENT,
      '--endpoint',
      endpoint,
      '--concurrency',
      String(concurrency),
      '--warmup-ms',
      String(WARMUP_MS),
      '--duration-ms',
      String(DURATION_MS),
      '--value-bytes',
      String(VALUE_BYTES),
      ...(routes === undefined ? [] : ['--routes', JSON.stringify(routes)]),
      '--client',
      String(values.client),
    ],
    { cwd: PACKAGE_DIR, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let cpuStart: number | undefined;
  let cpuEnd: number | undefined;
  let result: LoadResult | undefined;
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    let event: { event?: string };
    try {
      event = JSON.parse(line) as { event?: string };
    } catch {
      return;
    }
    if (event.event === 'measuring') cpuStart = totalCpuSeconds(pids);
    if (event.event === 'done') {
      cpuEnd = totalCpuSeconds(pids);
      result = event as LoadResult;
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const fsyncs = await counter?.detach();
  if (code !== 0 || result === undefined || cpuStart === undefined || cpuEnd === undefined) {
    return { concurrency, error: `load client exited with ${code} before its result` };
  }
  const cpu = Math.round((cpuEnd - cpuStart) * 1000) / 1000;
  return {
    concurrency,
    acked: result.acked,
    perSecond: result.perSecond,
    latencyMs: result.latencyMs,
    errors: result.errors,
    ...(result.firstError === undefined ? {} : { firstError: result.firstError }),
    serverCpuSeconds: cpu,
    cpuPerWriteUs: result.acked > 0 ? Math.round((cpu * 1e6) / result.acked) : null,
    clientCpuSeconds: result.clientCpuSeconds,
    ...(fsyncs === undefined
      ? {}
      : {
          // The whole run (warm-up too) is traced: divided by every write of the run.
          fsyncsPerWrite:
            result.totalAcked > 0 ? Math.round((fsyncs / result.totalAcked) * 1000) / 1000 : null,
        }),
  };
}

function describe(r: LevelResult | Failed): string {
  if ('error' in r) return `error: ${r.error}`;
  const fsync = r.fsyncsPerWrite === undefined ? '' : `, ${r.fsyncsPerWrite} fsyncs/write`;
  return `${r.perSecond}/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, ${r.cpuPerWriteUs} µs CPU/write, client ${Math.round((r.clientCpuSeconds / SECONDS) * 100)}% of a core${fsync}${r.errors > 0 ? `, ${r.errors} errors` : ''}`;
}

const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === null || a === undefined || b === null || b === undefined || b === 0
    ? null
    : Math.round((a / b) * 1000) / 1000;

async function main(): Promise<void> {
  if (!existsSync(SERVER_SCRIPT)) {
    throw new Error(`${SERVER_SCRIPT} is missing: build first (pnpm build)`);
  }
  if (SYSTEMS.includes('etcd') && etcdVersion() === undefined) {
    throw new Error('no etcd binary: install Debian etcd-server (apt-get install etcd-server)');
  }
  const loadBefore = loadavg();
  const startedAt = new Date().toISOString();
  progress(
    `etcd API bench${quick ? ' (quick)' : ''}${fsyncMode ? ' (fsync counting: strace)' : ''}: ${VALUE_BYTES}-byte Puts, levels ${LEVELS.join(', ')}, ${WARMUP_MS} ms warm-up + ${DURATION_MS} ms`,
  );
  const systems: System[] = [];
  try {
    for (const name of SYSTEMS) {
      progress(`starting ${name}...`);
      if (name === 'etcd') systems.push(await etcdSystem());
      else if (name === 'kontiki-grpc') systems.push(await kontikiSystem('grpc'));
      else if (name === 'kontiki-ws') systems.push(await kontikiSystem('ws'));
      else if (name === 'kontiki-grpc-memory') systems.push(await kontikiSystem('grpc', 'memory'));
      else if (name === 'node-floor') systems.push(await floorSystem());
      else throw new Error(`unknown system ${name}`);
    }
    const results: Record<string, Record<string, LevelResult | Failed>> = {};
    for (const s of systems) results[s.name] = {};
    // Level by level, each system in turn: a machine whose load drifts affects all alike.
    for (const level of LEVELS) {
      for (const s of systems) {
        const r = await runLevel(s, level);
        (results[s.name] as Record<string, LevelResult | Failed>)[level] = r;
        progress(`  ${s.name} at ${level} in flight: ${describe(r)}`);
      }
    }
    const ratios: Record<string, Record<string, Record<string, number | null>>> = {};
    const base = results.etcd;
    if (base !== undefined) {
      for (const s of systems) {
        if (s.name === 'etcd') continue;
        const mine = results[s.name] as Record<string, LevelResult | Failed>;
        ratios[s.name] = {};
        for (const level of LEVELS) {
          const a = mine[level];
          const b = base[level];
          if (a === undefined || b === undefined || 'error' in a || 'error' in b) continue;
          // A level where either side acknowledged nothing has no meaningful ratio.
          if (a.acked === 0 || b.acked === 0) continue;
          (ratios[s.name] as Record<string, Record<string, number | null>>)[level] = {
            throughput: ratio(a.perSecond, b.perSecond),
            p50: ratio(a.latencyMs.p50, b.latencyMs.p50),
            p99: ratio(a.latencyMs.p99, b.latencyMs.p99),
            cpuPerWrite: ratio(a.cpuPerWriteUs, b.cpuPerWriteUs),
            ...(a.fsyncsPerWrite === undefined
              ? {}
              : { fsyncsPerWrite: ratio(a.fsyncsPerWrite, b.fsyncsPerWrite) }),
          };
        }
      }
    }
    const doc = {
      bench:
        'etcd v3 API Puts, closed loop to the leader: Kontiki kv-server vs etcd, 3 members each, 127.0.0.1',
      startedAt,
      quick,
      fsyncMode,
      valueBytes: VALUE_BYTES,
      client: values.client,
      warmupMs: WARMUP_MS,
      durationMs: DURATION_MS,
      levels: LEVELS,
      groups: GROUPS,
      machine: {
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        loadAverageBefore: loadBefore.map((n) => Math.round(n * 100) / 100),
        loadAverageAfter: loadavg().map((n) => Math.round(n * 100) / 100),
      },
      systems: Object.fromEntries(systems.map((s) => [s.name, s.description])),
      results,
      /** Kontiki / etcd per level: throughput (higher is better), latency and CPU per write (lower is better). */
      ratios,
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } finally {
    for (const s of systems) await s.stop().catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    progress(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
