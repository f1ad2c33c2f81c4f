#!/usr/bin/env node
// Runs every package's tests through turbo, then prints one summary line of the whole run,
// `tests: N passed, M failed`, summed from each package's vitest JSON report.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const workspaces = ['packages', 'apps'].flatMap((dir) => {
  const base = join(root, dir);
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .map((name) => join(base, name))
    .filter((p) => existsSync(join(p, 'package.json')));
});
const tested = workspaces.filter((p) => {
  const pkg = JSON.parse(readFileSync(join(p, 'package.json'), 'utf8'));
  return typeof pkg.scripts?.test === 'string';
});
for (const p of tested) rmSync(join(p, '.vitest-report.json'), { force: true });

// One package's tests at a time: vitest already spreads a package's files over every core,
// and the multi-process suites measure liveness in real time; packages running side by side
// on a 2-core machine only compete for the CPU.
const turbo = spawnSync(
  'pnpm',
  ['exec', 'turbo', 'run', 'test', '--continue', '--concurrency=1', ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
  },
);

let passed = 0;
let failed = Number.parseInt(process.env.KONTIKI_PRECHECK_FAILURES ?? '0', 10) || 0;
// Each failure by name, repeated here at the end: CI keeps only the tail of a long log.
const failures = [];
for (const p of tested) {
  const file = join(p, '.vitest-report.json');
  if (!existsSync(file)) {
    console.error(`no test report from ${p}: counted as one failure`);
    failed++;
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  for (const result of report.testResults ?? []) {
    const name = String(result.name ?? '(unnamed file)');
    const where = name.startsWith(root) ? name.slice(root.length) : name;
    const failedTests = (result.assertionResults ?? []).filter((t) => t.status === 'failed');
    // A file that failed with no failed test (it did not load, or a hook such as afterAll
    // threw) counts as one failure.
    if (result.status === 'failed' && failedTests.length === 0) {
      failed++;
      failures.push(`${where}: ${firstLine(result.message)}`);
    }
    for (const t of failedTests) {
      failures.push(
        `${where} > ${t.fullName ?? t.title ?? '?'}: ${firstLine(t.failureMessages?.[0])}`,
      );
    }
  }
}
if (failures.length > 0) {
  console.log(`failed tests (${failures.length}):`);
  for (const f of failures) console.log(`  ${f}`);
}
function firstLine(text) {
  const line =
    String(text ?? '')
      .split('\n')
      .find((l) => l.trim() !== '') ?? 'no message';
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

const ok = turbo.status === 0 && failed === 0;
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(ok ? 0 : 1);
