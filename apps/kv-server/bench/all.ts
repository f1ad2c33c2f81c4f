// `pnpm bench` in this package: runs both benchmarks, one after the other, each in its own
// process, and prints ONE JSON value: { cluster: <cluster-bench.ts>, etcdComparison:
// <etcd-compare.ts> }. Arguments (e.g. --quick) are passed to both.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

function run(script: string): unknown {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(PACKAGE_DIR, 'bench', script), ...process.argv.slice(2)],
    {
      cwd: PACKAGE_DIR,
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (r.status !== 0) return { error: `${script} exited with ${r.status}` };
  try {
    return JSON.parse(r.stdout) as unknown;
  } catch {
    return { error: `${script} did not print JSON`, stdout: r.stdout.slice(0, 2000) };
  }
}

const cluster = run('cluster-bench.ts');
const etcdComparison = run('etcd-compare.ts');
process.stdout.write(`${JSON.stringify({ cluster, etcdComparison }, null, 2)}\n`);
const failed = [cluster, etcdComparison].some(
  (r) => typeof r === 'object' && r !== null && 'error' in r,
);
process.exit(failed ? 1 : 0);
