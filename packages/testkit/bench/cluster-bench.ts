/**
 * `pnpm bench` for the core: an in-process 3-node cluster on the memory transport and memory
 * storage with real timers. For 1, 64 and 1024 proposals in flight (100-byte payloads) it
 * measures applied proposals per second and the latency of each proposal (apply() call to
 * its promise resolving on the leader, i.e. committed and applied), p50/p99.
 *
 * Prints one JSON value on stdout; progress goes to stderr.
 * Options (env): BENCH_SECONDS (default 3 per level), BENCH_LEVELS (default "1,64,1024"),
 * BENCH_METRICS: `none` (default), `prometheus` (every node reports to a prom-client registry
 * through @kontiki/metrics-prometheus, scraped every second), or `compare` (both, alternating
 * BENCH_ROUNDS times per level, default 3, with the ratio of their medians).
 */
import { RaftNode } from '@kontiki/core';
import { PrometheusMetrics } from '@kontiki/metrics-prometheus';
import { MemoryLogStorage, MemoryMetaStorage } from '@kontiki/storage-memory';
import { MemoryNetwork } from '@kontiki/transport-memory';
import { Registry } from 'prom-client';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const levels = (process.env.BENCH_LEVELS ?? '1,64,1024').split(',').map(Number);
const mode = process.env.BENCH_METRICS ?? 'none';
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
if (!['none', 'prometheus', 'compare'].includes(mode)) {
  throw new Error(`BENCH_METRICS must be none, prometheus or compare, not ${mode}`);
}
const PAYLOAD = 100;

type Sink = 'none' | 'prometheus';

async function cluster(
  sink: Sink,
): Promise<{ leader: RaftNode; nodes: RaftNode[]; registry: Registry | undefined }> {
  const network = new MemoryNetwork();
  const ids = ['n1', 'n2', 'n3'];
  const registry = sink === 'prometheus' ? new Registry() : undefined;
  const nodes = ids.map(
    (id) =>
      new RaftNode({
        ...(registry ? { metrics: new PrometheusMetrics({ registry, labels: { node: id } }) } : {}),
        groupId: 'bench',
        peerId: id,
        initialConfiguration: { voters: ids },
        electionTimeoutMs: 1000,
        transport: network.endpoint(id),
        logStorage: new MemoryLogStorage(),
        metaStorage: new MemoryMetaStorage(),
        stateMachine: { onApply: (entries) => entries.map((e) => e.index) },
      }),
  );
  for (const n of nodes) await n.start();
  const deadline = performance.now() + 10_000;
  for (;;) {
    const leader = nodes.find((n) => n.isLeader);
    if (leader && leader.appliedIndex >= 1) return { leader, nodes, registry };
    if (performance.now() > deadline) throw new Error('no leader within 10 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function level(inFlight: number, sink: Sink) {
  const { leader, nodes, registry } = await cluster(sink);
  const latencies: number[] = [];
  let running = true;
  let measuring = false;
  let completed = 0;
  let failed = 0;
  const worker = async () => {
    while (running) {
      // A fresh payload per proposal, as a real client produces one.
      const data = new Uint8Array(PAYLOAD);
      data[0] = completed & 0xff;
      const t0 = performance.now();
      try {
        await leader.apply(data);
      } catch {
        // A leadership change under load (an event-loop stall longer than the election
        // timeout) is reported, not fatal.
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
  const workers = Array.from({ length: inFlight }, worker);
  // Warm up (JIT, allocation) for a second before measuring.
  await new Promise((r) => setTimeout(r, 1000));
  measuring = true;
  const start = performance.now();
  // A scrape a second (Prometheus' default is one every 15 s): its cost is counted too.
  let scrapedBytes = 0;
  const scraper = setInterval(() => {
    registry?.metrics().then(
      (text) => {
        scrapedBytes = text.length;
      },
      () => {},
    );
  }, 1000);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(scraper);
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  running = false;
  await Promise.all(workers);
  const sorted = Float64Array.from(latencies).sort();
  // Every follower applies everything too (it is a 3-node cluster, not a 1-node one).
  const target = leader.commitIndex;
  const until = performance.now() + 10_000;
  while (nodes.some((n) => n.appliedIndex < target) && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const followersCaughtUp = nodes.every((n) => n.appliedIndex >= target);
  const leaderKept = leader.isLeader;
  for (const n of nodes) await n.shutdown();
  return {
    inFlight,
    metrics: sink,
    ...(registry ? { scrapedBytes } : {}),
    proposalsPerSecond: Math.round(completed / elapsed),
    latencyMs: {
      p50: Number(percentile(sorted, 50).toFixed(4)),
      p99: Number(percentile(sorted, 99).toFixed(4)),
      max: Number((sorted[sorted.length - 1] ?? Number.NaN).toFixed(3)),
    },
    samples: completed,
    failedProposals: failed,
    leaderKept,
    followersCaughtUp,
  };
}

async function measure(l: number, sink: Sink) {
  process.stderr.write(
    `in-process 3-node cluster, ${l} in flight, metrics ${sink}, ${seconds}s ... `,
  );
  const r = await level(l, sink);
  process.stderr.write(
    `${r.proposalsPerSecond} proposals/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms\n`,
  );
  return r;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

const results = [];
const comparisons = [];
for (const l of levels) {
  if (mode !== 'compare') {
    results.push(await measure(l, mode as Sink));
    continue;
  }
  // Alternating, so that a change of the machine's load touches both alike.
  const none: number[] = [];
  const prometheus: number[] = [];
  for (let i = 0; i < rounds; i++) {
    for (const sink of (i % 2 === 0 ? ['none', 'prometheus'] : ['prometheus', 'none']) as Sink[]) {
      const r = await measure(l, sink);
      results.push(r);
      (sink === 'none' ? none : prometheus).push(r.proposalsPerSecond);
    }
  }
  comparisons.push({
    inFlight: l,
    withoutMetrics: none,
    withPrometheus: prometheus,
    ratioOfMedians: Number((median(prometheus) / median(none)).toFixed(3)),
  });
}
console.log(
  JSON.stringify({
    bench: 'in-process 3-node cluster, memory transport + memory storage, real timers',
    payloadBytes: PAYLOAD,
    secondsPerLevel: seconds,
    metrics: mode,
    levels: results,
    ...(mode === 'compare' ? { comparisons } : {}),
  }),
);
