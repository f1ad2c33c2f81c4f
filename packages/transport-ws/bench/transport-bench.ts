// `pnpm bench` in this package: round-trip latency and throughput of this transport on
// 127.0.0.1, next to the memory transport in the same run. Prints ONE JSON value on stdout;
// progress goes to stderr. Usage: tsx bench/transport-bench.ts [--quick]
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  type AppendEntriesRequest,
  EntryType,
  type RpcHandler,
  type Transport,
} from '@kontiki/core';
import { MemoryNetwork } from '@kontiki/transport-memory';
import { wsTransport } from '../src/index.js';

const NAME = 'ws';
const quick = process.argv.includes('--quick');
const LATENCY_CALLS = quick ? 300 : 3000;
const THROUGHPUT_MS = quick ? 500 : 3000;
const CONCURRENCY = [1, 64, 256];

interface Pair {
  readonly caller: Transport;
  readonly to: string;
  close(): Promise<void>;
}

async function wsPair(): Promise<Pair> {
  const server = await wsTransport({ listen: '127.0.0.1:0' });
  const caller = await wsTransport({});
  serve(server);
  return {
    caller,
    to: server.address ?? '',
    close: async () => void (await Promise.all([caller.close(), server.close()])),
  };
}

async function memoryPair(): Promise<Pair> {
  const network = new MemoryNetwork();
  const server = network.endpoint('b');
  const caller = network.endpoint('a');
  serve(server);
  return {
    caller,
    to: 'b',
    close: async () => void (await Promise.all([caller.close(), server.close()])),
  };
}

function serve(transport: Transport): void {
  const handler: RpcHandler = {
    requestVote: async (r) => ({ term: r.term, granted: true }),
    appendEntries: async (r) => ({
      term: r.term,
      success: true,
      lastLogIndex: r.prevLogIndex + r.entries.length,
    }),
    installSnapshot: async (r) => ({ term: r.term, success: true }),
    timeoutNow: async (r) => ({ term: r.term, success: true }),
    readIndex: async (r) => ({ term: r.term, success: true, readIndex: 0 }),
  };
  transport.serve('bench', handler);
}

function appendEntries(to: string, count: number, index: number): AppendEntriesRequest {
  const data = new Uint8Array(100).fill(7);
  return {
    groupId: 'bench',
    from: 'leader',
    to,
    term: 1,
    prevLogIndex: index,
    prevLogTerm: 1,
    leaderCommit: index,
    entries: Array.from({ length: count }, (_, i) => ({
      index: index + i + 1,
      term: 1,
      type: EntryType.Data,
      data,
    })),
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const round = (x: number, digits = 3) => Number(x.toFixed(digits));

async function latency(pair: Pair, entries: number) {
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_CALLS + 100; i++) {
    const start = performance.now();
    await pair.caller.call('appendEntries', appendEntries(pair.to, entries, i), {
      timeoutMs: 10_000,
    });
    if (i >= 100) samples.push(performance.now() - start); // the first 100 warm up
  }
  samples.sort((a, b) => a - b);
  return {
    calls: samples.length,
    p50Ms: round(percentile(samples, 50)),
    p99Ms: round(percentile(samples, 99)),
  };
}

async function throughput(pair: Pair, concurrency: number) {
  let calls = 0;
  const end = performance.now() + THROUGHPUT_MS;
  const worker = async () => {
    while (performance.now() < end) {
      await pair.caller.call('appendEntries', appendEntries(pair.to, 1, calls), {
        timeoutMs: 10_000,
      });
      calls++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  return { concurrency, calls, callsPerSecond: Math.round(calls / seconds) };
}

async function measure(name: string, open: () => Promise<Pair>) {
  const pair = await open();
  try {
    process.stderr.write(`${name}: latency, 1 entry\n`);
    const one = await latency(pair, 1);
    process.stderr.write(`${name}: latency, 64 entries\n`);
    const many = await latency(pair, 64);
    const rates = [];
    for (const c of CONCURRENCY) {
      process.stderr.write(`${name}: throughput at ${c} concurrent calls\n`);
      rates.push(await throughput(pair, c));
    }
    return {
      appendEntriesLatency: { entries1x100B: one, entries64x100B: many },
      throughput: rates,
    };
  } finally {
    await pair.close();
  }
}

const results = {
  bench: `${NAME} transport`,
  node: process.version,
  cpus: cpus().length,
  settings: { latencyCalls: LATENCY_CALLS, throughputMsPerLevel: THROUGHPUT_MS, quick },
  [NAME]: await measure(NAME, wsPair),
  memory: await measure('memory', memoryPair),
};
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
