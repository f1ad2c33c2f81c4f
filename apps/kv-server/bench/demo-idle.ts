/**
 * The demo itself at scale: three kv-server processes (the built executable, as `kontiki
 * cluster start --groups N` runs them: gRPC, SQLite synchronous=full, election timeout 1000 ms,
 * cluster token) sharding keys over N groups. Reports how long until every node knows a
 * leader for every group, how the leaders are spread, then each process's CPU (share of one
 * core) and RSS over an idle window. `bench:multi-raft` measures Raft alone (no state machine,
 * no HTTP or etcd API); this is what a user of the demo sees.
 *
 * `pnpm run bench:demo-idle [--groups 10000] [--settle-seconds 20] [--idle-seconds 30]
 * [--heap-growing-percent N] [--cpu-prof DIR]` (N goes to the servers as KONTIKI_HEAP_GROWING_PERCENT; without
 * it they use the executable's default). Prints one JSON value on stdout; progress on stderr.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultHeapGrowingPercent } from '../src/heap-pacing.js';
import { LocalCluster } from '../src/local-cluster.js';
import { int } from './cli-args.js';
import { cpuSharesOver, loadAverage, machineOf, rssMiB } from './proc-stat.js';

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const SERVER_SCRIPT = join(PACKAGE_DIR, 'dist', 'main.js');

const { values } = parseArgs({
  options: {
    groups: { type: 'string', default: '10000' },
    'settle-seconds': { type: 'string', default: '20' },
    'idle-seconds': { type: 'string', default: '30' },
    'timeout-seconds': { type: 'string', default: '90' },
    'heap-growing-percent': { type: 'string' },
    // Each server writes a CPU profile of its whole life into DIR when it stops.
    'cpu-prof': { type: 'string' },
  },
});
const groups = int('groups', values.groups, 2, 100_000);
const settleSeconds = int('settle-seconds', values['settle-seconds'], 0, 600);
const idleSeconds = int('idle-seconds', values['idle-seconds'], 1, 600);
const timeoutSeconds = int('timeout-seconds', values['timeout-seconds'], 1, 600);
const heapGrowingPercent =
  values['heap-growing-percent'] === undefined
    ? undefined
    : int('heap-growing-percent', values['heap-growing-percent'], 0, 1000);

interface GroupsSummary {
  readonly withLeader: number;
  readonly leadersPerNode: Readonly<Record<string, number>>;
}

async function summary(http: string): Promise<GroupsSummary | undefined> {
  try {
    const r = await fetch(`http://${http}/status`, { signal: AbortSignal.timeout(5000) });
    return ((await r.json()) as { groups?: GroupsSummary }).groups;
  } catch {
    return undefined;
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dataDir = mkdtempSync(join(tmpdir(), 'kontiki-demo-idle-'));
const loadBefore = loadAverage();
const started = performance.now();
const cluster = await LocalCluster.start({
  serverScript: SERVER_SCRIPT,
  transport: 'grpc',
  storage: 'sqlite',
  sqliteSync: 'full',
  dataDir,
  electionTimeoutMs: 1000,
  groups,
  stderr: 'collect',
  ...(values['cpu-prof'] === undefined
    ? {}
    : { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] }),
  ...(heapGrowingPercent === undefined
    ? {}
    : { env: { KONTIKI_HEAP_GROWING_PERCENT: String(heapGrowingPercent) } }),
});
try {
  const http = cluster.httpEndpoints();
  const deadline = started + timeoutSeconds * 1000;
  let allLedMs: number | undefined;
  let leadersPerNode: Readonly<Record<string, number>> = {};
  let lastReport = 0;
  while (performance.now() < deadline) {
    const s = await Promise.all(http.map(summary));
    const led = s.map((x) => x?.withLeader ?? 0);
    if (led.every((n) => n === groups)) {
      allLedMs = Math.round(performance.now() - started);
      leadersPerNode = s[0]?.leadersPerNode ?? {};
      break;
    }
    if (performance.now() - lastReport > 5000) {
      lastReport = performance.now();
      process.stderr.write(
        `  ${Math.round((lastReport - started) / 1000)} s: groups with a leader ${led.join(' / ')}\n`,
      );
    }
    await pause(250);
  }
  if (allLedMs === undefined)
    throw new Error(`not every group had a leader in ${timeoutSeconds} s`);
  process.stderr.write(`all ${groups} groups led after ${allLedMs} ms; settling\n`);
  await pause(settleSeconds * 1000);
  const members = cluster.members();
  const pids = members.map((m) => m.pid as number);
  const shares = await cpuSharesOver(pids, idleSeconds);
  const idle = members.map((m, i) => ({
    id: m.id,
    cpuShareOfOneCore: shares[i],
    rssMiB: rssMiB(pids[i] as number),
  }));
  const after = await summary(http[0] as string);
  console.log(
    JSON.stringify(
      {
        bench: 'demo-idle: 3 kv-server processes, gRPC, SQLite synchronous=full, N groups',
        command: `pnpm run bench:demo-idle ${process.argv.slice(2).join(' ')}`.trim(),
        date: new Date().toISOString(),
        machine: machineOf(loadBefore),
        groups,
        // What the servers run with: the option, or the executable's default for the count.
        heapGrowingPercent: heapGrowingPercent ?? defaultHeapGrowingPercent(groups),
        settleSeconds,
        idleSeconds,
        allLedMsAfterStart: allLedMs,
        leadersPerNode,
        leadersPerNodeAfterIdle: after?.leadersPerNode,
        idle,
      },
      null,
      2,
    ),
  );
} finally {
  await cluster.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
