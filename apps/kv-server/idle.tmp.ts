import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { totalCpuSeconds } from './bench/proc-stat.js';
import { waitForLeader } from './src/cluster-observer.js';
import { LocalCluster } from './src/local-cluster.js';

const dataDir = mkdtempSync(join(tmpdir(), 'idle-'));
const cluster = await LocalCluster.start({
  serverScript: join(process.cwd(), 'dist/main.js'),
  transport: (process.argv[2] ?? 'grpc') as 'grpc',
  storage: 'sqlite',
  sqliteSync: 'full',
  dataDir,
  electionTimeoutMs: 1000,
});
try {
  await waitForLeader(cluster.httpEndpoints(), { timeoutMs: 20000 });
  await new Promise((r) => setTimeout(r, 2000));
  const pids = cluster.members().map((m) => m.pid!);
  for (const pid of pids) {
    const a = totalCpuSeconds([pid]);
    await new Promise((r) => setTimeout(r, 5000));
    console.log(pid, 'idle CPU', (((totalCpuSeconds([pid]) - a) / 5) * 100).toFixed(1), '%');
  }
} finally {
  await cluster.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
