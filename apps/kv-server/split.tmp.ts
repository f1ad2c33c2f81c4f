import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForLeader } from './src/cluster-observer.js';
import { LocalCluster } from './src/local-cluster.js';

const times = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return [Number(x[11]), Number(x[12])];
};
const dataDir = mkdtempSync(join(tmpdir(), 'split-'));
const cluster = await LocalCluster.start({
  serverScript: join(process.cwd(), 'dist/main.js'),
  transport: (process.argv[2] ?? 'grpc') as 'grpc',
  storage: 'sqlite',
  sqliteSync: (process.argv[5] ?? 'full') as 'full',
  dataDir,
  electionTimeoutMs: 1000,
});
try {
  const l = await waitForLeader(cluster.httpEndpoints(), { timeoutMs: 20000 });
  const etcd = cluster.member(l.id).etcd!;
  const pids = cluster.members().map((m) => m.pid!);
  const before = pids.map(times);
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/load-client.ts',
      '--endpoint',
      etcd,
      '--concurrency',
      process.argv[3] ?? '1',
      '--warmup-ms',
      '0',
      '--duration-ms',
      '5000',
      '--value-bytes',
      process.argv[4] ?? '100',
    ],
    { encoding: 'utf8' },
  );
  const after = pids.map(times);
  const done = JSON.parse(r.stdout.split('\n').find((x) => x.includes('"done"'))!);
  console.log('acked', done.totalAcked, done.perSecond, '/s');
  pids.forEach((p, i) => {
    const u = after[i][0] - before[i][0],
      s = after[i][1] - before[i][1];
    console.log(
      cluster.members()[i].id,
      cluster.members()[i].id === l.id ? 'leader  ' : 'follower',
      'user',
      ((u * 10000) / done.totalAcked).toFixed(0),
      'µs/write, sys',
      ((s * 10000) / done.totalAcked).toFixed(0),
      'µs/write',
    );
  });
} finally {
  await cluster.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
