/**
 * Memory per idle Raft group (issue 8): what one more group costs a process once elected and
 * idle. For each level G, a fresh child process (node --expose-gc) opens three SQLite stores
 * (one file each, synchronous=full, worker thread) and three gRPC endpoints on 127.0.0.1 (a
 * cluster token), as three kv-server processes would, and creates G groups with one RaftNode
 * on each endpoint (3G nodes). Once every group has a leader that all three of its nodes
 * know, it waits `--settle-seconds`, collects garbage and reads `process.memoryUsage()`; the
 * cost per group per process is (that − the same reading before any node existed) / G / 3:
 * the three endpoints hold the same mix of leaders and followers as three processes would.
 * It also counts the live handles by type (timers, sockets) and, with `--heap-snapshot DIR`,
 * writes a heap snapshot for `bench/heap-retainers.ts` to rank.
 *
 * Elections and heartbeats use a long election timeout (default 10 s, heartbeats every 5 s)
 * so that 30,000 nodes in one process stay idle. Timeouts change no per-group structure, but
 * they change how many answered calls a transport may still hold (AppendEntries stay open
 * for 10 election timeouts): `--election-timeout-ms 1000 --heartbeat-ms 100` is the default
 * timing of a node.
 *
 * `pnpm run bench:group-memory [--groups 1000,5000,10000] [--election-timeout-ms 10000]
 * [--heartbeat-ms 5000] [--settle-seconds 3] [--round-timers] [--no-keep-alive] [--timeout-seconds 180] [--heap-snapshot DIR]`. Prints one JSON value
 * on stdout; progress on stderr.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { type Clock, RaftNode, silentLogger, systemClock } from '@kontiki/core';
import { SqliteStore } from '@kontiki/storage-sqlite';
import { type GrpcTransport, grpcTransport } from '@kontiki/transport-grpc';
import { int } from './cli-args.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Reading {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** Live handles and requests by type (process.getActiveResourcesInfo). */
  readonly resources: Record<string, number>;
  /** V8's heap spaces: size reserved and size used, in MiB (what heapTotal − heapUsed is). */
  readonly spaces: Record<string, { size: number; used: number }>;
  readonly residentMiB: Record<string, number> | undefined;
}

/**
 * Resident memory by kind of mapping, in MiB (Linux): `heap` is malloc's main arena (brk),
 * `anon` every other anonymous mapping (V8's pages, malloc's other arenas and large blocks,
 * thread stacks), `file` mapped files (code, libraries).
 */
function residentByKind(): Record<string, number> | undefined {
  if (!existsSync('/proc/self/smaps')) return undefined;
  const kinds: Record<string, number> = { heap: 0, anon: 0, file: 0 };
  let kind = 'anon';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const name = header[1] ?? '';
      kind = name === '[heap]' ? 'heap' : name === '' || name.startsWith('[') ? 'anon' : 'file';
    } else if (line.startsWith('Rss:')) {
      kinds[kind] = (kinds[kind] ?? 0) + Number(line.split(/\s+/)[1]) / 1024;
    }
  }
  for (const k of Object.keys(kinds)) kinds[k] = Math.round(kinds[k] ?? 0);
  return kinds;
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with node --expose-gc');
  // Twice: the first pass may leave weakly held or finalizer-held objects for the second.
  collect();
  collect();
}

function read(): Reading {
  gc();
  const m = process.memoryUsage();
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  const spaces: Record<string, { size: number; used: number }> = {};
  const mib = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
  for (const s of getHeapSpaceStatistics()) {
    spaces[s.space_name] = { size: mib(s.space_size), used: mib(s.space_used_size) };
  }
  return {
    spaces,
    residentMiB: residentByKind(),
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    resources,
  };
}

/** One level in this process: G groups × 3 nodes; prints one JSON line on stdout. */
async function child(): Promise<void> {
  const groups = int('groups', arg('groups', '1000'), 1, 100_000);
  const electionTimeoutMs = int(
    'election-timeout-ms',
    arg('election-timeout-ms', '10000'),
    100,
    600_000,
  );
  const heartbeatMs = int(
    'heartbeat-ms',
    arg('heartbeat-ms', String(Math.floor(electionTimeoutMs / 2))),
    1,
    Math.floor(electionTimeoutMs / 2),
  );
  const settleSeconds = int('settle-seconds', arg('settle-seconds', '3'), 0, 600);
  const timeoutSeconds = int('timeout-seconds', arg('timeout-seconds', '180'), 1, 3600);
  const snapshotDir = arg('heap-snapshot', '');
  // What two changes proposed for core's clock would save (docs/benchmarks.md): timers armed
  // for whole milliseconds (Node keeps one list per distinct duration, and fractional
  // durations make nearly every timer's list its own), and no keep-alive interval per node.
  const roundTimers = process.argv.includes('--round-timers');
  const keepAlive = !process.argv.includes('--no-keep-alive');
  const clock: Clock = roundTimers
    ? { ...systemClock, setTimer: (callback, ms) => systemClock.setTimer(callback, Math.ceil(ms)) }
    : systemClock;
  const dir = mkdtempSync(join(tmpdir(), 'kontiki-group-memory-'));
  const ids = ['n1', 'n2', 'n3'];
  const token = randomBytes(16).toString('hex');
  try {
    const stores = await Promise.all(
      ids.map((id) => {
        mkdirSync(join(dir, id));
        return SqliteStore.open(join(dir, id), { synchronous: 'full' });
      }),
    );
    // Listen first (port 0), then give every endpoint the others' addresses.
    const addresses: Record<string, string> = {};
    const transports: GrpcTransport[] = [];
    for (const id of ids) {
      const t = await grpcTransport({
        listen: '127.0.0.1:0',
        token,
        peers: (peer: string) => addresses[peer],
      });
      addresses[id] = t.address ?? '';
      transports.push(t);
    }
    // One state machine for every node: what is measured is Raft's cost, not the application's.
    const stateMachine = { onApply: (entries: readonly unknown[]) => entries.map(() => undefined) };
    const before = read();
    const constructing = performance.now();
    const nodes: RaftNode[][] = [];
    for (let g = 0; g < groups; g++) {
      const groupId = `g${g}`;
      nodes.push(
        ids.map(
          (id, i) =>
            new RaftNode({
              groupId,
              peerId: id,
              initialConfiguration: { voters: ids },
              electionTimeoutMs,
              heartbeatIntervalMs: heartbeatMs,
              transport: transports[i] as GrpcTransport,
              logStorage: (stores[i] as SqliteStore).logStorage(groupId),
              metaStorage: (stores[i] as SqliteStore).metaStorage(groupId),
              snapshotStorage: (stores[i] as SqliteStore).snapshotStorage(groupId),
              stateMachine,
              logger: silentLogger,
              clock,
              keepAlive,
            }),
        ),
      );
    }
    await Promise.all(nodes.flat().map((n) => n.start()));
    const startedMs = Math.round(performance.now() - constructing);
    const led = () => {
      let n = 0;
      for (const group of nodes) {
        const leader = group.find((x) => x.isLeader);
        if (leader !== undefined && group.every((x) => x.leader === leader.id)) n++;
      }
      return n;
    };
    const deadline = performance.now() + timeoutSeconds * 1000;
    let last = -1;
    for (;;) {
      const n = led();
      if (n !== last) process.stderr.write(`  ${groups} groups: ${n} led\n`);
      last = n;
      if (n === groups) break;
      if (performance.now() > deadline) throw new Error(`only ${n} of ${groups} groups led`);
      await pause(1000);
    }
    const electedMs = Math.round(performance.now() - constructing);
    await pause(settleSeconds * 1000);
    const after = read();
    const stillLed = led();
    let snapshot: string | undefined;
    if (snapshotDir !== '') {
      mkdirSync(snapshotDir, { recursive: true });
      snapshot = writeHeapSnapshot(join(snapshotDir, `groups-${groups}.heapsnapshot`));
    }
    const perGroup = (k: 'rss' | 'heapUsed' | 'external' | 'arrayBuffers') =>
      Math.round((after[k] - before[k]) / groups / ids.length);
    const resourcesPerNode: Record<string, number> = {};
    for (const [k, v] of Object.entries(after.resources)) {
      resourcesPerNode[k] = Math.round(((v - (before.resources[k] ?? 0)) / groups / 3) * 100) / 100;
    }
    process.stdout.write(
      `${JSON.stringify({
        groups,
        nodes: groups * ids.length,
        startedMs,
        electedMs,
        ledAtReading: stillLed,
        before,
        after,
        bytesPerGroupPerProcess: {
          rss: perGroup('rss'),
          heapUsed: perGroup('heapUsed'),
          external: perGroup('external'),
          arrayBuffers: perGroup('arrayBuffers'),
        },
        resourcesPerNode,
        snapshot,
      })}\n`,
    );
    // Exit without an orderly shutdown: what is measured is done, and 3G shutdowns take time.
    for (const s of stores) await s.close().catch(() => undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function parent(): Promise<void> {
  const levels = arg('groups', '1000,5000,10000').split(',');
  const passOn = [
    'election-timeout-ms',
    'heartbeat-ms',
    'settle-seconds',
    'timeout-seconds',
    'heap-snapshot',
  ]
    .filter((k) => process.argv.includes(`--${k}`))
    .flatMap((k) => [`--${k}`, arg(k, '')])
    .concat(
      ['round-timers', 'no-keep-alive']
        .filter((k) => process.argv.includes(`--${k}`))
        .map((k) => `--${k}`),
    );
  const self = fileURLToPath(import.meta.url);
  const results: unknown[] = [];
  for (const g of levels) {
    int('groups', g, 1, 100_000);
    const load = loadavg();
    process.stderr.write(`level ${g} (load ${load.map((l) => l.toFixed(1)).join(' ')})\n`);
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', self, '--child', '--groups', g, ...passOn],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let text = '';
      p.stdout.on('data', (b: Buffer) => {
        text += b.toString();
      });
      p.on('error', reject);
      p.on('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`level ${g}: child exited with ${code}`)),
      );
    });
    const line = out.trim().split('\n').pop() ?? '{}';
    results.push({ loadBefore: load, loadAfter: loadavg(), ...JSON.parse(line) });
  }
  process.stdout.write(
    `${JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2)}\n`,
  );
}

if (process.argv.includes('--child')) {
  await child();
  process.exit(0);
} else {
  await parent();
}
