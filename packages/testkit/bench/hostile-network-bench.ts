/**
 * `pnpm liveness-bench`: issue 9's scenario (see `runHostileScenario`) run K times on real
 * timers, in worker threads, and the distribution of the time from reconnection to the commit
 * of one new command, as one JSON document on stdout (progress on stderr).
 *
 *   pnpm liveness-bench                      100 runs, 5 nodes
 *   pnpm liveness-bench --runs 20 --nodes 7 --snapshots
 *   pnpm liveness-bench --workers 2 --concurrency 2 --from 0 --chaos-ms 15000 --cap-ms 10000
 *
 * Percentiles count a run past the cap as slower than every other; they print as null.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type HostileScenarioResult, runHostileScenario } from '../src/index.js';

interface Job {
  readonly seeds: number[];
  readonly nodes: number;
  readonly snapshots: boolean;
  readonly concurrency: number;
  readonly chaosMs: number;
  readonly capMs: number;
}

type Message =
  | { kind: 'result'; result: HostileScenarioResult }
  | { kind: 'error'; seed: number; message: string }
  | { kind: 'lag'; maxMs: number };

async function work(job: Job, post: (m: Message) => void): Promise<void> {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const queue = [...job.seeds];
  const lane = async () => {
    for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) {
      try {
        const result = await runHostileScenario({
          seed,
          nodes: job.nodes,
          snapshots: job.snapshots,
          chaosMs: job.chaosMs,
          capMs: job.capMs,
        });
        post({ kind: 'result', result });
      } catch (error) {
        post({
          kind: 'error',
          seed,
          message: error instanceof Error ? error.message : String(error),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, lane));
  lag.disable();
  post({ kind: 'lag', maxMs: Number((lag.max / 1e6).toFixed(1)) });
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const v = sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  return v === undefined || !Number.isFinite(v) ? null : v;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '100' },
      nodes: { type: 'string', default: '5' },
      snapshots: { type: 'boolean', default: false },
      workers: { type: 'string', default: '2' },
      concurrency: { type: 'string', default: '2' },
      from: { type: 'string', default: '0' },
      'chaos-ms': { type: 'string', default: '15000' },
      'cap-ms': { type: 'string', default: '10000' },
    },
  });
  const num = (name: keyof typeof values) => {
    const v = Number(values[name]);
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`--${name} must be an integer >= 0`);
    return v;
  };
  const runs = num('runs');
  const workers = Math.max(1, Math.min(num('workers'), runs));
  const from = num('from');
  const base = {
    nodes: num('nodes'),
    snapshots: values.snapshots === true,
    concurrency: Math.max(1, num('concurrency')),
    chaosMs: num('chaos-ms'),
    capMs: num('cap-ms'),
  };
  const buckets: number[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; i < runs; i++) buckets[i % workers]?.push(from + i);
  const results: HostileScenarioResult[] = [];
  const errors: Array<{ seed: number; message: string }> = [];
  let maxLagMs = 0;
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  await Promise.all(
    buckets.map(
      (seeds) =>
        new Promise<void>((resolve, reject) => {
          // This file is TypeScript: on Node 20 a worker does not inherit tsx's loader, so the
          // worker registers it before it imports this file.
          const entry = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
          const w = new Worker(entry, {
            eval: true,
            workerData: { ...base, seeds } satisfies Job,
          });
          w.on('message', (m: Message) => {
            if (m.kind === 'lag') maxLagMs = Math.max(maxLagMs, m.maxMs);
            else if (m.kind === 'error') errors.push({ seed: m.seed, message: m.message });
            else {
              results.push(m.result);
              const r = m.result;
              process.stderr.write(
                `${results.length}/${runs} seed ${r.seed}: ${r.commitMs === null ? `over ${base.capMs} ms` : `${r.commitMs} ms`}\n`,
              );
            }
          });
          w.on('error', reject);
          w.on('exit', () => resolve());
        }),
    ),
  );
  results.sort((a, b) => a.seed - b.seed);
  const times = results
    .map((r) => (r.commitMs === null ? Number.POSITIVE_INFINITY : r.commitMs))
    .sort((a, b) => a - b);
  const stepDowns: Record<string, number> = {};
  for (const r of results)
    for (const [k, v] of Object.entries(r.stepDowns)) stepDowns[k] = (stepDowns[k] ?? 0) + v;
  console.log(
    JSON.stringify(
      {
        bench: 'issue 9: time from reconnection to the commit of one new command, real timers',
        network: '10% silent loss each way, 0-27 ms delay, 2/3 of replies 200-2200 ms late',
        electionTimeoutMs: 300,
        heartbeatIntervalMs: 100,
        ...base,
        runs,
        from,
        startedAt,
        seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
        commitMs: {
          p50: percentile(times, 50),
          p90: percentile(times, 90),
          p99: percentile(times, 99),
          max: percentile(times, 100),
        },
        overCap: results.filter((r) => r.commitMs === null).length,
        overCapSeeds: results.filter((r) => r.commitMs === null).map((r) => r.seed),
        withinCap: results.filter((r) => r.commitMs !== null).length,
        leaderAtReconnect: results.filter((r) => r.leaderAtReconnect).length,
        meanLeadersAfterReconnect: Number(
          (
            results.reduce((s, r) => s + r.leadersAfterReconnect, 0) / Math.max(1, results.length)
          ).toFixed(2),
        ),
        stepDowns,
        maxEventLoopLagMs: maxLagMs,
        errors,
        perRun: results.map((r) => ({
          seed: r.seed,
          commitMs: r.commitMs,
          attempts: r.attempts,
          leaderAtReconnect: r.leaderAtReconnect,
          leadersAfterReconnect: r.leadersAfterReconnect,
        })),
      },
      null,
      2,
    ),
  );
  return errors.length === 0 ? 0 : 1;
}

if (isMainThread) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.stack : error);
      process.exit(2);
    },
  );
} else {
  work(workerData as Job, (m) => parentPort?.postMessage(m)).then(
    () => process.exit(0),
    () => process.exit(1),
  );
}
