#!/usr/bin/env node
/**
 * `pnpm sim`: runs the deterministic simulator from the command line.
 *
 *   pnpm sim --seed 42               replay one seed, print its summary (and its trace on failure)
 *   pnpm sim --seeds 10000           sweep seeds 0..9999 on every core
 *   pnpm sim --seeds 500 --from 1000 --steps 5000 --peers 5
 *   pnpm sim --seeds 300 --quiescence --groups 4   groups on RaftHosts that quiesce when idle
 *   pnpm sim --liveness-faults --seed 7      one run of the liveness-under-faults mode, its
 *                                            latencies (and its trace if a bound was missed)
 *   pnpm sim --liveness-faults --seeds 200   a sweep of that mode: failing seeds, distribution
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { SimulationFailure } from './sim/cluster.js';
import { runLivenessFaults, summarize } from './sim/liveness-faults.js';
import { runSimulation, type SimulationOptions } from './sim/simulation.js';

interface Job {
  seeds: number[];
  options: Omit<SimulationOptions, 'seed'>;
  livenessFaults: boolean;
}

type WorkerMessage =
  | { kind: 'done'; seed: number; ms: number; maxTerm: number; acknowledged: number }
  | {
      kind: 'liveness';
      seed: number;
      peers: number;
      latencies: number[];
      violations: number;
      worstMs: number | null;
      maxTerm: number;
      boundMs: number;
    }
  | { kind: 'fail'; seed: number; message: string };

async function runSeeds(job: Job, report: (m: WorkerMessage) => void): Promise<void> {
  for (const seed of job.seeds) {
    const t0 = performance.now();
    try {
      if (job.livenessFaults) {
        const r = await runLivenessFaults({ seed });
        const unfinished = r.violations.some((v) => v.latencyMs === null);
        report({
          kind: 'liveness',
          seed,
          peers: r.peers,
          latencies: [...r.latencies],
          violations: r.violations.length,
          worstMs: unfinished ? null : r.latencyMs.max,
          maxTerm: r.maxTerm,
          boundMs: r.boundMs,
        });
        continue;
      }
      const r = await runSimulation({ ...job.options, seed });
      report({
        kind: 'done',
        seed,
        ms: performance.now() - t0,
        maxTerm: r.maxTerm,
        acknowledged: r.acknowledged,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      report({ kind: 'fail', seed, message });
    }
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      from: { type: 'string', default: '0' },
      steps: { type: 'string' },
      peers: { type: 'string' },
      workers: { type: 'string' },
      'no-nemesis': { type: 'boolean', default: false },
      quiescence: { type: 'boolean', default: false },
      groups: { type: 'string' },
      'liveness-faults': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || (values.seed === undefined && values.seeds === undefined)) {
    console.log(
      'usage: pnpm sim [--liveness-faults] --seed N | --seeds COUNT [--from N] [--steps N] [--peers N] [--workers N] [--no-nemesis] [--quiescence] [--groups N]',
    );
    return values.help ? 0 : 2;
  }
  const int = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new Error(`--${name} must be a non-negative integer`);
    return n;
  };
  const options: Omit<SimulationOptions, 'seed'> = {
    ...(values.steps !== undefined ? { steps: int('steps', values.steps) as number } : {}),
    ...(values.peers !== undefined ? { peers: int('peers', values.peers) as number } : {}),
    ...(values['no-nemesis'] ? { nemesis: false } : {}),
    ...(values.quiescence ? { quiescence: true } : {}),
    ...(values.groups !== undefined
      ? {
          groups: Array.from(
            { length: Math.max(1, int('groups', values.groups) as number) },
            (_, i) => `g${i}`,
          ),
        }
      : {}),
  };

  const livenessFaults = values['liveness-faults'] === true;
  if (values.seed !== undefined && livenessFaults) {
    const seed = int('seed', values.seed) as number;
    try {
      const {
        trace,
        latencies: _all,
        ...r
      } = await runLivenessFaults({
        seed,
        traceDebug: process.env.KONTIKI_SIM_TRACE === 'debug',
        ...(process.env.KONTIKI_SIM_DESCRIBE_MS
          ? { describeEveryMs: Number(process.env.KONTIKI_SIM_DESCRIBE_MS) }
          : {}),
      });
      console.log(JSON.stringify(r, null, 2));
      if (trace) console.error(`bound missed; trace:\n  ${trace.join('\n  ')}`);
      return r.violations.length === 0 ? 0 : 1;
    } catch (error) {
      console.error(
        error instanceof SimulationFailure
          ? `${error.message}\n\nfull trace:\n  ${error.trace.join('\n  ')}`
          : error,
      );
      return 1;
    }
  }
  if (values.seed !== undefined) {
    const seed = int('seed', values.seed) as number;
    try {
      const r = await runSimulation({ ...options, seed });
      console.log(JSON.stringify(r, null, 2));
      return 0;
    } catch (error) {
      console.error(
        error instanceof SimulationFailure
          ? `${error.message}\n\nfull trace:\n  ${error.trace.join('\n  ')}`
          : error,
      );
      return 1;
    }
  }

  const count = int('seeds', values.seeds) as number;
  const from = int('from', values.from) as number;
  const workers = Math.max(1, Math.min(int('workers', values.workers) ?? cpus().length, count));
  const buckets: number[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; i < count; i++) buckets[i % workers]?.push(from + i);
  const t0 = performance.now();
  let done = 0;
  const failures: Array<{ seed: number; message: string }> = [];
  let maxTerm = 0;
  const latencies: number[] = [];
  const missed: Array<{ seed: number; peers: number; violations: number; worstMs: number | null }> =
    [];
  let boundMs = 0;
  await Promise.all(
    buckets.map(
      (seeds) =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(new URL(import.meta.url), {
            workerData: { seeds, options, livenessFaults } satisfies Job,
          });
          w.on('message', (m: WorkerMessage) => {
            done++;
            if (m.kind === 'fail') {
              failures.push({ seed: m.seed, message: m.message });
              console.error(`FAIL seed ${m.seed}: ${m.message.split('\n')[0]}`);
            } else if (m.kind === 'liveness') {
              maxTerm = Math.max(maxTerm, m.maxTerm);
              boundMs = m.boundMs;
              for (const l of m.latencies) latencies.push(l);
              if (m.violations > 0) {
                missed.push({
                  seed: m.seed,
                  peers: m.peers,
                  violations: m.violations,
                  worstMs: m.worstMs,
                });
                console.error(
                  `MISSED seed ${m.seed} (${m.peers} peers): ${m.violations} commands over the bound`,
                );
              }
            } else {
              maxTerm = Math.max(maxTerm, m.maxTerm);
            }
            if (done % 100 === 0)
              console.error(`${done}/${count} seeds, ${failures.length} failed`);
          });
          w.on('error', reject);
          w.on('exit', () => resolve());
        }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  if (livenessFaults) {
    missed.sort((a, b) => a.seed - b.seed);
    console.log(
      JSON.stringify({
        mode: 'liveness-faults',
        seeds: count,
        from,
        boundMs,
        missedSeeds: missed.map((m) => m.seed),
        missedRate: Number((missed.length / count).toFixed(3)),
        safetyFailures: failures.map((f) => f.seed),
        commandLatencyMs: summarize(latencies),
        overBound: latencies.filter((l) => l > boundMs).length,
        neverCommittedSeeds: missed.filter((m) => m.worstMs === null).map((m) => m.seed),
        seconds: Number(seconds.toFixed(1)),
        maxTerm,
      }),
    );
    for (const f of failures.slice(0, 5)) console.error(`\nseed ${f.seed}:\n${f.message}`);
    return failures.length === 0 && missed.length === 0 ? 0 : 1;
  }
  console.log(
    JSON.stringify({
      seeds: count,
      from,
      failed: failures.map((f) => f.seed),
      seconds: Number(seconds.toFixed(1)),
      maxTerm,
    }),
  );
  for (const f of failures.slice(0, 5)) console.error(`\nseed ${f.seed}:\n${f.message}`);
  return failures.length === 0 ? 0 : 1;
}

if (isMainThread) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(2);
    },
  );
} else {
  runSeeds(workerData as Job, (m) => parentPort?.postMessage(m)).then(
    () => process.exit(0),
    () => process.exit(1),
  );
}
