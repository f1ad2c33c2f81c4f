/**
 * `pnpm bench` for @kontiki/storage-sqlite: append throughput of SqliteLogStorage next to a
 * bare better-sqlite3 insert loop, for batches of 1, 64 and 1024 entries of 100 bytes, in
 * both durability modes; fsyncs per batch counted with strace when it is installed; and
 * how many appends of concurrent groups share one transaction. Prints one JSON value on
 * stdout; progress goes to stderr.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryType, type LogEntry } from '@kontiki/core';
import { type Durability, SqliteStore } from '../src/index.js';
import { BareLoop } from './bare-loop.js';

const ENTRY_BYTES = 100;
const BATCHES = [1, 64, 1024] as const;
const MODES: readonly Durability[] = ['full', 'normal'];
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
}

/** Appends batches until the count or the time budget runs out; a fresh file each time. */
async function measure(
  kind: 'kontiki' | 'bare',
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
    if (kind === 'kontiki') {
      const store = SqliteStore.open(dir, { synchronous: mode });
      const log = store.logStorage('bench');
      start = performance.now();
      for (let b = 0; b < limit && performance.now() - start < ROUND_BUDGET_MS; b++) {
        const t = performance.now();
        await log.append(entries.slice(appended, appended + batch));
        latenciesMs.push(performance.now() - t);
        appended += batch;
      }
      const seconds = (performance.now() - start) / 1000;
      await store.close();
      return { entries: appended, seconds, latenciesMs };
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
    return { entries: appended, seconds, latenciesMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function summarize(runs: readonly Run[]) {
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
    entriesMeasured: runs.reduce((n, r) => n + r.entries, 0),
  };
}

/** Appends of `groups` groups issued in the same turn: how many share a transaction. */
async function crossGroup(groups: number, rounds: number) {
  const dir = mkdtempSync(join(tmpdir(), 'kontiki-bench-'));
  try {
    const store = SqliteStore.open(dir, { synchronous: 'full' });
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

/** In a child under strace: `batches` appends of 1024 entries, then exit. */
async function fsyncProbe(mode: Durability, batches: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kontiki-bench-'));
  const store = SqliteStore.open(dir, { synchronous: mode });
  const log = store.logStorage('bench');
  const entries = makeEntries(batches * 1024);
  for (let b = 0; b < batches; b++) await log.append(entries.slice(b * 1024, (b + 1) * 1024));
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

/** Counts fsync + fdatasync calls of a probe with `batches` batches, or null without strace. */
function countFsyncs(mode: Durability, batches: number): number | null {
  const out = join(mkdtempSync(join(tmpdir(), 'kontiki-strace-')), 'strace.txt');
  const run = spawnSync(
    'strace',
    [
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

async function main(): Promise<void> {
  const probe = process.argv.indexOf('--fsync-probe');
  if (probe >= 0) {
    await fsyncProbe(process.argv[probe + 1] as Durability, Number(process.argv[probe + 2]));
    return;
  }
  const entries = makeEntries(
    Math.max(...MODES.flatMap((m) => BATCHES.map((b) => maxBatches(m, b) * b))),
  );
  const results = [];
  for (const mode of MODES) {
    for (const batch of BATCHES) {
      const kontiki: Run[] = [];
      const bare: Run[] = [];
      // Alternate the two, so drift in the machine's speed hits both alike.
      for (let round = 0; round < ROUNDS; round++) {
        kontiki.push(await measure('kontiki', mode, batch, entries));
        bare.push(await measure('bare', mode, batch, entries));
      }
      const k = summarize(kontiki);
      const b = summarize(bare);
      const ratio = Number((k.entriesPerSec / b.entriesPerSec).toFixed(3));
      process.stderr.write(
        `synchronous=${mode} batch=${batch}: kontiki ${k.entriesPerSec}/s, bare ${b.entriesPerSec}/s, ratio ${ratio}\n`,
      );
      results.push({ synchronous: mode, batch, kontiki: k, bare: b, kontikiToBare: ratio });
    }
  }
  const groupCommit = await crossGroup(8, 200);
  process.stderr.write(
    `8 groups appending together: ${groupCommit.appendsPerTransaction} appends per transaction\n`,
  );

  const fsync: Record<string, unknown> = { tool: 'strace -f -c -e trace=fsync,fdatasync' };
  for (const mode of MODES) {
    const base = countFsyncs(mode, 0);
    const loaded = countFsyncs(mode, 100);
    fsync[mode] =
      base === null || loaded === null
        ? null
        : { openAndClose: base, per100Batches: loaded - base, perBatch: (loaded - base) / 100 };
  }
  process.stderr.write(`fsyncs: ${JSON.stringify(fsync)}\n`);

  console.log(
    JSON.stringify({
      benchmark: 'SqliteLogStorage.append vs a bare better-sqlite3 insert loop',
      entryBytes: ENTRY_BYTES,
      roundsPerCase: ROUNDS,
      roundBudgetMs: ROUND_BUDGET_MS,
      results,
      groupCommit,
      fsync,
    }),
  );
}

await main();
