/**
 * `pnpm bench` for @kontiki/storage-sqlite: append throughput of SqliteLogStorage with
 * SQLite on its worker thread (`thread: 'worker'`, the default) and on the calling thread
 * (`thread: 'main'`), next to a bare better-sqlite3 insert loop, for batches of 1, 64 and
 * 1024 entries of 100 bytes, in both durability modes; the event loop's worst delay while
 * appending in each store mode; fsyncs per batch counted with strace when it is installed;
 * how many appends of concurrent groups share one transaction; what packing a batch for
 * the worker costs; and the event loop's longest stall during 4 MiB transactions. Prints one JSON value on stdout; progress goes to stderr.
 *
 * The store is imported from a build of `src` (the worker runs JavaScript), made here the
 * same way the tests make it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { EntryType, type LogEntry } from '@kontiki/core';
import { packEntries } from '../src/entry-batch.js';
import type { Durability, ThreadMode } from '../src/index.js';
import { buildForChildren } from '../test/support/build-for-children.js';
import { CHILD_STORE_MODULE } from '../test/support/child-build.js';
import { BareLoop } from './bare-loop.js';
import { sqliteClusterBench } from './cluster-bench.js';

type Store = typeof import('../src/index.js');

const ENTRY_BYTES = 100;
const BATCHES = [1, 64, 1024] as const;
const MODES: readonly Durability[] = ['full', 'normal'];
const THREADS: readonly ThreadMode[] = ['worker', 'main'];
const ROUNDS = 3;
const ROUND_BUDGET_MS = 700;

function makeEntries(count: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = 1; i <= count; i++) {
    const data = new Uint8Array(ENTRY_BYTES);
    for (let j = 0; j < ENTRY_BYTES; j++) data[j] = (i * 31 + j) & 0xff;
    out.push({ index: i, term: 1, type: EntryType.Data, data });
  }
  return out;
}

function maxBatches(mode: Durability, batch: number): number {
  if (batch === 1) return mode === 'full' ? 2000 : 20_000;
  if (batch === 64) return mode === 'full' ? 1000 : 2000;
  return 200;
}

interface Run {
  entries: number;
  seconds: number;
  latenciesMs: number[];
  /** The event loop's worst delay while appending (not measured for the bare loop). */
  loopDelayMaxMs: number;
}

/** Appends batches until the count or the time budget runs out; a fresh file each time. */
async function measure(
  { SqliteStore }: Store,
  kind: ThreadMode | 'bare',
  mode: Durability,
  batch: number,
  entries: readonly LogEntry[],
): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'kontiki-bench-'));
  const limit = maxBatches(mode, batch);
  const latenciesMs: number[] = [];
  let appended = 0;
  let start = 0;
  try {
    if (kind !== 'bare') {
      const store = await SqliteStore.open(dir, { synchronous: mode, thread: kind });
      const log = store.logStorage('bench');
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      start = performance.now();
      for (let b = 0; b < limit && performance.now() - start < ROUND_BUDGET_MS; b++) {
        const t = performance.now();
        await log.append(entries.slice(appended, appended + batch));
        latenciesMs.push(performance.now() - t);
        appended += batch;
      }
      const seconds = (performance.now() - start) / 1000;
      delay.disable();
      await store.close();
      return { entries: appended, seconds, latenciesMs, loopDelayMaxMs: delay.max / 1e6 };
    }
    const bare = new BareLoop(join(dir, 'bare.sqlite'), mode);
    start = performance.now();
    for (let b = 0; b < limit && performance.now() - start < ROUND_BUDGET_MS; b++) {
      const t = performance.now();
      bare.append(entries.slice(appended, appended + batch));
      latenciesMs.push(performance.now() - t);
      appended += batch;
    }
    const seconds = (performance.now() - start) / 1000;
    bare.close();
    return { entries: appended, seconds, latenciesMs, loopDelayMaxMs: 0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function summarize(runs: readonly Run[], withLoop: boolean) {
  // The median round by throughput: robust against one disturbed round.
  const rates = runs.map((r) => r.entries / r.seconds).sort((a, b) => a - b);
  const entriesPerSec = rates[Math.floor(rates.length / 2)] ?? 0;
  const latencies = runs.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  return {
    entriesPerSec: Math.round(entriesPerSec),
    mbPerSec: Number(((entriesPerSec * ENTRY_BYTES) / 1e6).toFixed(2)),
    batchLatencyMs: {
      p50: Number(percentile(latencies, 50).toFixed(3)),
      p99: Number(percentile(latencies, 99).toFixed(3)),
    },
    ...(withLoop
      ? { loopDelayMaxMs: Number(Math.max(...runs.map((r) => r.loopDelayMaxMs)).toFixed(1)) }
      : {}),
    entriesMeasured: runs.reduce((n, r) => n + r.entries, 0),
  };
}

/** Appends of `groups` groups issued in the same turn: how many share a transaction. */
async function crossGroup(
  { SqliteStore }: Store,
  thread: ThreadMode,
  groups: number,
  rounds: number,
) {
  const dir = mkdtempSync(join(tmpdir(), 'kontiki-bench-'));
  try {
    const store = await SqliteStore.open(dir, { synchronous: 'full', thread });
    const logs = Array.from({ length: groups }, (_, g) => store.logStorage(`g${g}`));
    const entries = makeEntries(rounds);
    const before = store.commitCount;
    const start = performance.now();
    for (let r = 0; r < rounds; r++) {
      await Promise.all(logs.map((log) => log.append([entries[r] as LogEntry])));
    }
    const seconds = (performance.now() - start) / 1000;
    const commits = store.commitCount - before;
    await store.close();
    return {
      thread,
      groups,
      appends: groups * rounds,
      transactions: commits,
      appendsPerTransaction: Number(((groups * rounds) / commits).toFixed(2)),
      appendsPerSec: Math.round((groups * rounds) / seconds),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `writers` independent loops on one group's neighbours, each appending one entry and
 * waiting for it before the next: nothing lines them up in one turn, so what shares a
 * transaction is what arrived while the previous one was being written.
 */
async function independentWriters(
  { SqliteStore }: Store,
  thread: ThreadMode,
  writers: number,
  appendsEach: number,
) {
  const dir = mkdtempSync(join(tmpdir(), 'kontiki-bench-'));
  try {
    const store = await SqliteStore.open(dir, { synchronous: 'full', thread });
    const entries = makeEntries(appendsEach);
    const before = store.stats;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const log = store.logStorage(`w${w}`);
        // Staggered starts, so the writers do not begin in the same turn.
        await new Promise((resolve) => setTimeout(resolve, w));
        for (let i = 0; i < appendsEach; i++) await log.append([entries[i] as LogEntry]);
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const commits = store.stats.commits - before.commits;
    const messages = store.stats.batches - before.batches;
    await store.close();
    return {
      thread,
      writers,
      appends: writers * appendsEach,
      transactions: commits,
      appendsPerTransaction: Number(((writers * appendsEach) / commits).toFixed(2)),
      batches: messages,
      appendsPerMessage: Number(((writers * appendsEach) / messages).toFixed(2)),
      appendsPerSec: Math.round((writers * appendsEach) / seconds),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `writers` groups appending one entry at a time, each waiting a random 0 to 3 ms after its
 * append resolves before the next one, so that appends arrive spread over time (as requests
 * of many Raft groups do), not in lockstep: how many share a message to the engine and a
 * transaction.
 */
async function staggeredWriters(
  { SqliteStore }: Store,
  thread: ThreadMode,
  writers: number,
  appendsEach: number,
) {
  const dir = mkdtempSync(join(tmpdir(), 'kontiki-bench-'));
  try {
    const store = await SqliteStore.open(dir, { synchronous: 'full', thread });
    const entries = makeEntries(appendsEach);
    // A fixed sequence of waits, so both thread modes see the same arrivals.
    let seed = 12345;
    const waitMs = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % 4;
    };
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const before = store.stats;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const log = store.logStorage(`s${w}`);
        for (let i = 0; i < appendsEach; i++) {
          await pause(waitMs());
          await log.append([entries[i] as LogEntry]);
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const after = store.stats;
    await store.close();
    const appends = writers * appendsEach;
    const commits = after.commits - before.commits;
    const messages = after.batches - before.batches;
    return {
      thread,
      writers,
      appends,
      transactions: commits,
      messages,
      appendsPerTransaction: Number((appends / commits).toFixed(2)),
      appendsPerMessage: Number((appends / messages).toFixed(2)),
      appendsPerSec: Math.round(appends / seconds),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Large transactions on the real disk (`batches` appends of 16 entries of 256 KiB, 4 MiB
 * each, `synchronous: 'full'`): how long one takes, and how long the event loop stalls
 * meanwhile, measured by a 1 ms timer, as Raft's heartbeat timer would see it.
 */
async function bigTransactions({ SqliteStore }: Store, thread: ThreadMode, batches: number) {
  const dir = mkdtempSync(join(tmpdir(), 'kontiki-bench-'));
  try {
    const store = await SqliteStore.open(dir, { synchronous: 'full', thread });
    const log = store.logStorage('bench');
    const data = new Uint8Array(256 * 1024).fill(7);
    const latenciesMs: number[] = [];
    let maxGapMs = 0;
    let last = performance.now();
    let ticking = true;
    const tick = () => {
      const now = performance.now();
      maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
      if (ticking) setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
    for (let b = 0; b < batches; b++) {
      const entries = Array.from({ length: 16 }, (_, i) => ({
        index: b * 16 + i + 1,
        term: 1,
        type: EntryType.Data,
        data,
      }));
      const t = performance.now();
      await log.append(entries);
      latenciesMs.push(performance.now() - t);
    }
    ticking = false;
    maxGapMs = Math.max(maxGapMs, performance.now() - last);
    await store.close();
    latenciesMs.sort((a, b) => a - b);
    return {
      thread,
      transactionBytes: 16 * data.byteLength,
      batches,
      batchLatencyMs: {
        p50: Number(percentile(latenciesMs, 50).toFixed(1)),
        max: Number((latenciesMs[latenciesMs.length - 1] ?? 0).toFixed(1)),
      },
      loopMaxStallMs: Number(maxGapMs.toFixed(1)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What packing a batch for the worker costs on the calling thread (one copy per entry). */
function packingCost(batch: number) {
  const entries = makeEntries(batch);
  const at = (i: number) => entries[i] as LogEntry;
  // Long enough to be warm and steady: about a million entries packed per size.
  const repeats = Math.max(500, Math.floor(1_000_000 / batch));
  for (let i = 0; i < 500; i++) packEntries(1, batch, at);
  const start = performance.now();
  for (let i = 0; i < repeats; i++) packEntries(1, batch, at);
  const usPerBatch = ((performance.now() - start) * 1000) / repeats;
  return { batch, usPerBatch: Number(usPerBatch.toFixed(2)) };
}

/** In a child under strace: `batches` appends of 1024, then exit. */
async function fsyncProbe(
  { SqliteStore }: Store,
  mode: Durability,
  thread: ThreadMode,
  batches: number,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kontiki-bench-'));
  const store = await SqliteStore.open(dir, { synchronous: mode, thread });
  const log = store.logStorage('bench');
  const entries = makeEntries(batches * 1024);
  for (let b = 0; b < batches; b++) await log.append(entries.slice(b * 1024, (b + 1) * 1024));
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

/** Counts fsync + fdatasync calls of a probe with `batches` batches, or null without strace. */
function countFsyncs(mode: Durability, thread: ThreadMode, batches: number): number | null {
  const out = join(mkdtempSync(join(tmpdir(), 'kontiki-strace-')), 'strace.txt');
  const run = spawnSync(
    'strace',
    [
      // -f: the worker is a thread of the process; its fsyncs count.
      '-f',
      '-c',
      '-o',
      out,
      '-e',
      'trace=fsync,fdatasync',
      process.execPath,
      ...process.execArgv,
      process.argv[1] ?? '',
      '--fsync-probe',
      mode,
      thread,
      String(batches),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (run.error !== undefined || run.status !== 0) return null;
  let calls = 0;
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const tokens = line.trim().split(/\s+/);
    const name = tokens[tokens.length - 1];
    if (name === 'fsync' || name === 'fdatasync') calls += Number(tokens[3]);
  }
  rmSync(join(out, '..'), { recursive: true, force: true });
  return calls;
}

/** BENCH_PARTS (default: all) picks parts: append,groups,packing,big,fsync,cluster. */
const PARTS = new Set(
  (process.env.BENCH_PARTS ?? 'append,groups,packing,big,fsync,cluster').split(','),
);

async function main(): Promise<void> {
  const probe = process.argv.indexOf('--fsync-probe');
  if (probe < 0) await buildForChildren();
  // The parent has just built it: a probe reuses that build.
  const store = (await import(CHILD_STORE_MODULE)) as Store;
  if (probe >= 0) {
    await fsyncProbe(
      store,
      process.argv[probe + 1] as Durability,
      process.argv[probe + 2] as ThreadMode,
      Number(process.argv[probe + 3]),
    );
    return;
  }
  const results = [];
  if (PARTS.has('append')) {
    const entries = makeEntries(
      Math.max(...MODES.flatMap((m) => BATCHES.map((b) => maxBatches(m, b) * b))),
    );
    for (const mode of MODES) {
      for (const batch of BATCHES) {
        const runs: Record<ThreadMode | 'bare', Run[]> = { worker: [], main: [], bare: [] };
        // Alternate the three, so drift in the machine's speed hits all alike.
        for (let round = 0; round < ROUNDS; round++) {
          for (const kind of ['worker', 'main', 'bare'] as const) {
            runs[kind].push(await measure(store, kind, mode, batch, entries));
          }
        }
        const worker = summarize(runs.worker, true);
        const main = summarize(runs.main, true);
        const bare = summarize(runs.bare, false);
        const ratio = (n: number) => Number((n / bare.entriesPerSec).toFixed(3));
        process.stderr.write(
          `synchronous=${mode} batch=${batch}: worker ${worker.entriesPerSec}/s (loop max ${worker.loopDelayMaxMs} ms), main ${main.entriesPerSec}/s (loop max ${main.loopDelayMaxMs} ms), bare ${bare.entriesPerSec}/s\n`,
        );
        results.push({
          synchronous: mode,
          batch,
          worker,
          main,
          bare,
          workerToBare: ratio(worker.entriesPerSec),
          mainToBare: ratio(main.entriesPerSec),
        });
      }
    }
  }
  const groupCommit = [];
  const independent = [];
  const staggered = [];
  if (PARTS.has('groups')) {
    for (const thread of THREADS) {
      groupCommit.push(await crossGroup(store, thread, 8, 200));
      independent.push(await independentWriters(store, thread, 8, 200));
      staggered.push(await staggeredWriters(store, thread, 64, 100));
    }
    process.stderr.write(
      `64 staggered writers: ${staggered.map((g) => `${g.thread} ${g.appendsPerSec}/s, ${g.appendsPerTransaction} per transaction, ${g.appendsPerMessage} per message`).join('; ')}\n`,
    );
    process.stderr.write(
      `8 groups appending together: ${groupCommit.map((g) => `${g.thread} ${g.appendsPerTransaction}`).join(', ')} appends per transaction\n`,
    );
    process.stderr.write(
      `8 independent writers: ${independent.map((g) => `${g.thread} ${g.appendsPerTransaction} per transaction, ${g.appendsPerMessage} per message`).join(', ')}\n`,
    );
  }
  const packing = PARTS.has('packing') ? BATCHES.map(packingCost) : [];
  const big = [];
  if (PARTS.has('big')) {
    for (const thread of THREADS) big.push(await bigTransactions(store, thread, 20));
    process.stderr.write(
      `4 MiB transactions: ${big.map((b) => `${b.thread} p50 ${b.batchLatencyMs.p50} ms, loop stall max ${b.loopMaxStallMs} ms`).join('; ')}\n`,
    );
  }

  const fsync: Record<string, unknown> = { tool: 'strace -f -c -e trace=fsync,fdatasync' };
  if (PARTS.has('fsync')) {
    for (const mode of MODES) {
      for (const thread of THREADS) {
        const base = countFsyncs(mode, thread, 0);
        const loaded = countFsyncs(mode, thread, 100);
        fsync[`${mode}/${thread}`] =
          base === null || loaded === null
            ? null
            : { openAndClose: base, per100Batches: loaded - base, perBatch: (loaded - base) / 100 };
      }
    }
    process.stderr.write(`fsyncs: ${JSON.stringify(fsync)}\n`);
  }

  const cluster = PARTS.has('cluster')
    ? await sqliteClusterBench(store, {
        seconds: Number(process.env.BENCH_SECONDS ?? 3),
        levels: (process.env.BENCH_LEVELS ?? '1,64,1024').split(',').map(Number),
        threads: THREADS,
      })
    : undefined;

  console.log(
    JSON.stringify({
      benchmark:
        "SqliteLogStorage.append with thread: 'worker' and thread: 'main' vs a bare better-sqlite3 insert loop",
      entryBytes: ENTRY_BYTES,
      roundsPerCase: ROUNDS,
      roundBudgetMs: ROUND_BUDGET_MS,
      parts: [...PARTS],
      results,
      groupCommit,
      independentWriters: independent,
      staggeredWriters: staggered,
      packing,
      bigTransactions: big,
      fsync,
      cluster,
    }),
  );
}

await main();
