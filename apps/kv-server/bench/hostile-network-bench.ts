// Issue 9 between real processes: writes through a clean and a hostile network, same run.
// Prints ONE JSON value on stdout; progress goes to stderr.
//
// 3 kv-server processes (SQLite, election timeout 1000 ms) per transport; every node dials
// every other through a FaultMesh proxy on 127.0.0.1. Closed-loop HTTP writers (one put at a
// time each, to the leader) run through alternating phases on the same cluster: "clean" (the
// proxies forward at once) and "hostile" (each chunk delayed 50 ± 50 ms, one link stalled
// 0.5-2 s every 2-4 s, one link reset every 4-8 s; links that carry connections only). Per phase: acknowledged writes/s,
// latency, failures, the fewest acknowledged in any 3-s window; over the run: every
// leadership the nodes announced (a leader change = a leadership of a later term).
//
// Usage: tsx bench/hostile-network-bench.ts [--phase-s 30] [--rounds 2] [--writers 16]
//        [--transports grpc,ws] [--nodes 3] [--seed 9]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { waitForLeader } from '../src/cluster-observer.js';
import type { TransportKind } from '../src/config.js';
import { acksPerWindow, MeshedCluster } from '../test/support/meshed-cluster.js';
import { type AckedWrite, WriteLoad } from '../test/support/write-load.js';
import { int } from './cli-args.js';
import { summarize } from './latency.js';

const SERVER_SCRIPT = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const ELECTION_TIMEOUT_MS = 1000;
const WINDOW_MS = 3000;
const DELAY = { delayMs: 50, jitterMs: 50 };
const CHAOS = {
  stallEveryMs: [2000, 4000],
  stallMs: [500, 2000],
  resetEveryMs: [4000, 8000],
  // Followers dial out only to ask for votes: a fault on an idle link would test nothing.
  openLinksOnly: true,
} as const;

const { values } = parseArgs({
  options: {
    'phase-s': { type: 'string', default: '30' },
    rounds: { type: 'string', default: '2' },
    writers: { type: 'string', default: '16' },
    transports: { type: 'string', default: 'grpc,ws' },
    nodes: { type: 'string', default: '3' },
    seed: { type: 'string', default: '9' },
  },
});

const PHASE_MS = int('phase-s', values['phase-s'], 1, 3600) * 1000;
const ROUNDS = int('rounds', values.rounds, 1, 100);
const WRITERS = int('writers', values.writers, 1, 1024);
const NODES = int('nodes', values.nodes, 3, 9);
const SEED = int('seed', values.seed, 0, 2 ** 31);
const TRANSPORTS = (values.transports ?? '').split(',').map((t) => {
  if (t !== 'grpc' && t !== 'ws') throw new Error(`--transports: unknown transport ${t}`);
  return t as TransportKind;
});

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface Phase {
  readonly kind: 'clean' | 'hostile';
  readonly from: number;
  readonly to: number;
}

/** Figures of the writes acknowledged within some phases (those sent and answered inside). */
function figures(acked: readonly AckedWrite[], phases: readonly Phase[], errors: number) {
  const inside = acked.filter((a) => phases.some((p) => a.sentAt >= p.from && a.ackedAt < p.to));
  const seconds = phases.reduce((s, p) => s + (p.to - p.from), 0) / 1000;
  const windows = phases.flatMap((p) => acksPerWindow(acked, p.from, p.to, WINDOW_MS));
  return {
    seconds: Math.round(seconds * 10) / 10,
    acked: inside.length,
    perSecond: Math.round((inside.length / seconds) * 10) / 10,
    latencyMs: summarize(inside.map((a) => a.ackedAt - a.sentAt)),
    failedWrites: errors,
    fewestAckedIn3sWindow: Math.min(...windows),
  };
}

async function runTransport(transport: TransportKind) {
  const dataDir = mkdtempSync(join(tmpdir(), 'kontiki-hostile-bench-'));
  const meshed = await MeshedCluster.start({
    serverScript: SERVER_SCRIPT,
    transport,
    dataDir,
    nodes: NODES,
    electionTimeoutMs: ELECTION_TIMEOUT_MS,
    seed: SEED,
  });
  try {
    const leader = await waitForLeader(meshed.endpoints, { timeoutMs: 20_000 });
    const load = new WriteLoad(meshed.endpoints, {
      writers: WRITERS,
      maxDurationMs: 2 * ROUNDS * PHASE_MS + 60_000,
      maxOps: 10_000_000,
    });
    // Warm-up: the writers find the leader, SQLite's pages are in.
    for (let i = 0; i < 200 && load.acked.length < 100; i++) await sleep(50);
    const phases: Phase[] = [];
    const errorsIn = { clean: 0, hostile: 0 };
    const statusTerms = new Set<number>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of ['clean', 'hostile'] as const) {
        if (kind === 'hostile') meshed.makeHostile(DELAY, CHAOS);
        else meshed.heal();
        const errorsBefore = load.errors;
        const from = performance.now();
        // Poll every node's term once a second through the phase (bounded by count and time).
        for (let i = 0; i < PHASE_MS / 1000 + 1 && performance.now() - from < PHASE_MS; i++) {
          for (const s of await meshed.statuses()) if (s !== undefined) statusTerms.add(s.term);
          await sleep(Math.min(1000, Math.max(0, PHASE_MS - (performance.now() - from))));
        }
        const to = performance.now();
        phases.push({ kind, from, to });
        errorsIn[kind] += load.errors - errorsBefore;
        progress(`  ${transport} round ${round + 1} ${kind}: ${load.acked.length} acked so far`);
      }
    }
    meshed.heal();
    await load.stop();
    const clean = figures(
      load.acked,
      phases.filter((p) => p.kind === 'clean'),
      errorsIn.clean,
    );
    const hostile = figures(
      load.acked,
      phases.filter((p) => p.kind === 'hostile'),
      errorsIn.hostile,
    );
    const later = meshed.leadershipsSeen().filter((l) => l.term > leader.term);
    const result = {
      transport,
      firstLeader: leader,
      clean,
      hostile,
      hostileOverClean: {
        throughput: Math.round((hostile.perSecond / clean.perSecond) * 1000) / 1000,
        p99: Math.round((hostile.latencyMs.p99 / clean.latencyMs.p99) * 1000) / 1000,
      },
      faults: {
        stalls: meshed.faults.filter((f) => f.kind === 'stall').length,
        resets: meshed.faults.filter((f) => f.kind === 'reset').length,
        connectionsReset: meshed.mesh.links().reduce((n, [, , p]) => n + p.stats.resets, 0),
      },
      leaderChanges: later.length,
      leadershipsAfterTheFirst: later,
      termsSeenOnStatus: [...statusTerms].sort((a, b) => a - b),
      firstError: load.firstError ?? null,
    };
    progress(
      `  ${transport}: clean ${clean.perSecond}/s p99 ${clean.latencyMs.p99} ms; hostile ${hostile.perSecond}/s p99 ${hostile.latencyMs.p99} ms; leader changes ${later.length}`,
    );
    return result;
  } finally {
    await meshed.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (!existsSync(SERVER_SCRIPT)) {
    throw new Error(`${SERVER_SCRIPT} is missing: build first (pnpm build)`);
  }
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg();
  const runs = [];
  for (const transport of TRANSPORTS) {
    progress(`${NODES} kv-server processes over ${transport} through a FaultMesh:`);
    runs.push(await runTransport(transport));
  }
  loopDelay.disable();
  const result = {
    bench: 'issue 9 between processes: writes through a clean and a hostile network, same run',
    startedAt,
    nodes: NODES,
    storage: 'sqlite (synchronous=full, worker thread)',
    electionTimeoutMs: ELECTION_TIMEOUT_MS,
    writers: WRITERS,
    phaseSeconds: PHASE_MS / 1000,
    rounds: ROUNDS,
    seed: SEED,
    hostileNetwork: { ...DELAY, ...CHAOS },
    machine: {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      loadAverageBefore: loadBefore.map((l) => Math.round(l * 10) / 10),
      loadAverageAfter: loadavg().map((l) => Math.round(l * 10) / 10),
      // The writers and the proxies share this process's event loop.
      benchEventLoopDelayMs: {
        p99: Math.round(loopDelay.percentile(99) / 1e5) / 10,
        max: Math.round(loopDelay.max / 1e5) / 10,
      },
    },
    runs,
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
