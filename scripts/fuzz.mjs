#!/usr/bin/env node
// `pnpm fuzz [--long] [--seed N]`: runs every fuzzer of the test suite — the protocol's
// decoders, the gRPC and WebSocket endpoints with a Raft node behind them, the kv-server's
// HTTP API — and prints one JSON report of what each saw: frames or requests sent, crashes,
// term changes, lost writes, memory after forced collections at the start, each quarter and
// the end. `--long` (KONTIKI_FUZZ=long) sends more than 100,000 frames per transport and
// 100,000 HTTP requests; without it each fuzzer runs its few-second `pnpm test` size. Exits 1 if any fuzzer failed (its test fails then).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const long = args.includes('--long');
const seedAt = args.indexOf('--seed');
const seed = seedAt >= 0 ? args[seedAt + 1] : undefined;
const reportDir = join(root, 'fuzz-results', 'latest');
rmSync(reportDir, { recursive: true, force: true });
mkdirSync(reportDir, { recursive: true });

const fuzzers = [
  { name: 'protocol-decoders', dir: 'packages/protocol', file: 'test/fuzz-decoders.test.ts' },
  { name: 'grpc-transport', dir: 'packages/transport-grpc', file: 'test/fuzz.test.ts' },
  { name: 'ws-transport', dir: 'packages/transport-ws', file: 'test/fuzz.test.ts' },
  { name: 'http-api', dir: 'apps/kv-server', file: 'test/fuzz-http.test.ts' },
];

const env = {
  ...process.env,
  // The fuzzers read memory after forced collections (settledMemory): node must expose gc().
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc`.trim(),
  KONTIKI_FUZZ: long ? 'long' : 'short',
  KONTIKI_FUZZ_REPORT_DIR: reportDir,
  ...(seed === undefined ? {} : { KONTIKI_FUZZ_SEED: seed }),
};
const startedAt = new Date().toISOString();
const outcomes = {};
let failed = false;
for (const f of fuzzers) {
  process.stderr.write(`\n== fuzz ${f.name}${long ? ' (long)' : ''}\n`);
  const started = Date.now();
  const run = spawnSync('pnpm', ['exec', 'vitest', 'run', f.file], {
    cwd: join(root, f.dir),
    env,
    // Vitest's output goes to stderr: stdout carries only the report.
    stdio: ['ignore', 2, 'inherit'],
  });
  // A crash of the process under fuzz ends vitest's worker: a non-zero exit, reported here.
  const ok = run.status === 0;
  failed ||= !ok;
  const file = join(reportDir, `${f.name}.json`);
  outcomes[f.name] = {
    passed: ok,
    exit: run.status ?? run.signal,
    wallSeconds: Math.round((Date.now() - started) / 1000),
    ...(existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}),
  };
}
const report = {
  command: `pnpm fuzz${long ? ' --long' : ''}${seed === undefined ? '' : ` --seed ${seed}`}`,
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: {
    node: process.version,
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  },
  fuzzers: outcomes,
};
writeFileSync(join(root, 'fuzz-results', 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
process.exit(failed ? 1 : 0);
