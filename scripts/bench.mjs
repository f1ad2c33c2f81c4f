#!/usr/bin/env node
// `pnpm bench`: runs the `bench` script of every workspace package that has one, one after
// another (never in parallel: they would disturb each other), and prints one JSON document:
// { machine, command, startedAt, results: { <package>: <what its bench printed> } }.
// Each package's bench prints exactly one JSON value on stdout; progress goes to stderr.
// Pass package names to run only those: `pnpm bench @kontiki/testkit`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv.slice(2);
const packages = ['packages', 'apps']
  .flatMap((dir) => {
    const base = join(root, dir);
    return existsSync(base) ? readdirSync(base).map((n) => join(base, n)) : [];
  })
  .filter((p) => existsSync(join(p, 'package.json')))
  .map((p) => ({ dir: p, pkg: JSON.parse(readFileSync(join(p, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => typeof pkg.scripts?.bench === 'string')
  .filter(({ pkg }) => only.length === 0 || only.includes(pkg.name));

const machine = {
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  platform: `${process.platform}-${process.arch}`,
};
const results = {};
let failed = false;
for (const { dir, pkg } of packages) {
  process.stderr.write(`\n== bench ${pkg.name}\n`);
  const run = spawnSync('pnpm', ['run', '--silent', 'bench'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) {
    failed = true;
    results[pkg.name] = { error: `exited with ${run.status}` };
    continue;
  }
  try {
    results[pkg.name] = JSON.parse(run.stdout);
  } catch {
    failed = true;
    results[pkg.name] = { error: 'did not print JSON', stdout: run.stdout.slice(0, 2000) };
  }
}
const doc = {
  command: `pnpm bench${only.length ? ` ${only.join(' ')}` : ''}`,
  startedAt: new Date().toISOString(),
  machine,
  results,
};
mkdirSync(join(root, 'bench-results'), { recursive: true });
writeFileSync(join(root, 'bench-results', 'latest.json'), `${JSON.stringify(doc, null, 2)}\n`);
console.log(JSON.stringify(doc, null, 2));
process.exit(failed ? 1 : 0);
