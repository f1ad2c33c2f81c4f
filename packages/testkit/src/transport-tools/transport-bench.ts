/**
 * A benchmark of one transport on its own: round-trip latency of AppendEntries carrying 1
 * and 64 entries of 100 bytes, and calls per second at 1, 64 and 256 concurrent calls to one
 * peer, next to the memory transport in the same run. Each transport package's `bench`
 * script calls `runTransportBench` with a way to open a caller/server pair on 127.0.0.1.
 *
 * @packageDocumentation
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  type AppendEntriesRequest,
  EntryType,
  type RpcHandler,
  type Transport,
} from '@kontiki/core';
import { MemoryNetwork } from '@kontiki/transport-memory';

export interface BenchSettings {
  readonly latencyCalls: number;
  readonly throughputMsPerLevel: number;
}

export interface TransportPair {
  readonly caller: Transport;
  readonly to: string;
  close(): Promise<void>;
}

/** Two endpoints of a memory network, the baseline every transport is measured against. */
export async function memoryPair(): Promise<TransportPair> {
  const network = new MemoryNetwork();
  const server = network.endpoint('b');
  const caller = network.endpoint('a');
  serveBench(server);
  return {
    caller,
    to: 'b',
    close: async () => void (await Promise.all([caller.close(), server.close()])),
  };
}

/** Serves the 'bench' group on `transport` with handlers that answer at once. */
export function serveBench(transport: Transport): void {
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

async function latency(pair: TransportPair, entries: number, settings: BenchSettings) {
  const samples: number[] = [];
  for (let i = 0; i < settings.latencyCalls + 100; i++) {
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

async function throughput(pair: TransportPair, concurrency: number, settings: BenchSettings) {
  let calls = 0;
  const end = performance.now() + settings.throughputMsPerLevel;
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

/**
 * Like `throughput`, but each call is issued in its own event-loop turn (setImmediate), as a
 * Raft leader issues AppendEntries for proposals that arrive one per socket read: nothing
 * lines the calls up in one microtask checkpoint.
 */
async function throughputMacrotask(
  pair: TransportPair,
  concurrency: number,
  settings: BenchSettings,
) {
  let calls = 0;
  const end = performance.now() + settings.throughputMsPerLevel;
  const worker = () =>
    new Promise<void>((done, fail) => {
      const next = () => {
        if (performance.now() >= end) {
          done();
          return;
        }
        setImmediate(() => {
          pair.caller
            .call('appendEntries', appendEntries(pair.to, 1, calls), { timeoutMs: 10_000 })
            .then(() => {
              calls++;
              next();
            }, fail);
        });
      };
      next();
    });
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  return { concurrency, calls, callsPerSecond: Math.round(calls / seconds) };
}

async function measure(name: string, open: () => Promise<TransportPair>, settings: BenchSettings) {
  const pair = await open();
  try {
    process.stderr.write(`${name}: latency, 1 entry\n`);
    const one = await latency(pair, 1, settings);
    process.stderr.write(`${name}: latency, 64 entries\n`);
    const many = await latency(pair, 64, settings);
    const rates = [];
    for (const c of [1, 64, 256]) {
      process.stderr.write(`${name}: throughput at ${c} concurrent calls\n`);
      rates.push(await throughput(pair, c, settings));
    }
    const macrotask = [];
    for (const c of [64]) {
      process.stderr.write(`${name}: throughput at ${c} concurrent calls, one per turn\n`);
      macrotask.push(await throughputMacrotask(pair, c, settings));
    }
    return {
      appendEntriesLatency: { entries1x100B: one, entries64x100B: many },
      throughput: rates,
      throughputOnePerTurn: macrotask,
    };
  } finally {
    await pair.close();
  }
}

/**
 * Measures `name` (a pair from `open`) and the memory transport; returns the JSON-ready
 * results. `quick` shortens every level (for a smoke run).
 */
export async function runTransportBench(
  name: string,
  open: () => Promise<TransportPair>,
  options: { quick?: boolean } = {},
): Promise<Record<string, unknown>> {
  const quick = options.quick === true;
  const settings: BenchSettings = {
    latencyCalls: quick ? 300 : 3000,
    throughputMsPerLevel: quick ? 500 : 3000,
  };
  return {
    bench: `${name} transport`,
    node: process.version,
    cpus: cpus().length,
    settings: { ...settings, quick },
    [name]: await measure(name, open, settings),
    memory: await measure('memory', memoryPair, settings),
  };
}
