import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForBalance } from '@kontiki/kv-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, isAlive, runCli } from './support/cli.js';
import { tempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

const GROUPS = 6;

interface ClusterFile {
  readonly groups?: number;
  readonly nodes: ReadonlyArray<{ id: string; http: string; pid: number }>;
}

interface SummaryStatus {
  readonly id: string;
  readonly groupId: string;
  readonly groups: { count: number; ledHere: number; withLeader: number };
}

describe(`kontiki cluster start --groups ${GROUPS}`, () => {
  const data = tempDir('cli-sharded');
  const at = ['--data-dir', data.dir];
  const clusters: CliProcess[] = [];
  const pids = new Set<number>();

  async function start(extra: readonly string[] = []): Promise<CliProcess> {
    const c = new CliProcess([
      'cluster',
      'start',
      '--storage',
      'sqlite',
      '--election-timeout-ms',
      '300',
      ...extra,
      ...at,
    ]);
    clusters.push(c);
    await waitUntil(
      'the cluster to be up',
      () => c.stdout.includes('Ctrl-C stops the cluster.') || c.stderr !== '',
      60_000,
    );
    expect(c.stderr).toBe('');
    for (const n of readFile().nodes) pids.add(n.pid);
    return c;
  }

  const readFile = (): ClusterFile =>
    JSON.parse(readFileSync(join(data.dir, 'cluster.json'), 'utf8')) as ClusterFile;

  beforeAll(async () => {
    await start(['--groups', String(GROUPS)]);
    // The leaders settle on their preferred voters (RaftHost balancing) before the tests
    // write: no leadership transfer cuts into them.
    const nodes = readFile().nodes;
    await waitForBalance(
      nodes.map((n) => n.http),
      {
        ids: nodes.map((n) => n.id),
        groups: Array.from({ length: GROUPS }, (_, i) => `kv-${i}`),
        timeoutMs: 30_000,
      },
    );
  });
  afterAll(async () => {
    for (const c of clusters) await c.kill();
    for (const p of pids) if (isAlive(p)) process.kill(p, 'SIGKILL');
    data.remove();
  });

  it('waits for every group to have a leader and prints a summary, not a row per group', () => {
    const out = (clusters[0] as CliProcess).stdout;
    expect(out).toContain(`keys sharded over ${GROUPS} Raft groups`);
    expect(out).toMatch(
      new RegExp(`all ${GROUPS} groups have a leader \\(\\d+ ms after the first\\)`),
    );
    expect(out).toContain(`first group (kv-0) of ${GROUPS}:`);
    expect(out).toMatch(/^NODE\s+GROUPS\s+LED HERE\s+WITH LEADER\s+STARTING\s+LAGGING\s+KEYS$/m);
    expect(readFile().groups).toBe(GROUPS);
  });

  it('puts and gets keys of every group through cluster.json', async () => {
    for (let i = 0; i < 8; i++) {
      expect((await runCli(['put', `k${i}`, `v${i}`, ...at])).code).toBe(0);
    }
    for (let i = 0; i < 8; i++) {
      expect((await runCli(['get', `k${i}`, ...at])).stdout).toBe(`v${i}\n`);
    }
  });

  it('status: one summary row per node; the groups led add up to the group count', async () => {
    let statuses: SummaryStatus[] = [];
    await waitUntil(
      'each group led by one node',
      async () => {
        const r = await runCli(['status', '--json', ...at]);
        statuses = JSON.parse(r.stdout) as SummaryStatus[];
        return statuses.reduce((a, s) => a + s.groups.ledHere, 0) === GROUPS;
      },
      10_000,
    );
    for (const s of statuses) expect(s.groups).toMatchObject({ count: GROUPS, withLeader: GROUPS });
    const text = await runCli(['status', ...at]);
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    const header = lines.findIndex((l) => /^NODE\s+GROUPS/.test(l));
    expect(lines.slice(header + 1, header + 4).map((l) => l.split(/\s+/)[0])).toEqual([
      'n1',
      'n2',
      'n3',
    ]);
    // Never a line per group.
    expect(lines.filter((l) => /\bkv-[1-9]\b/.test(l))).toEqual([]);
    expect(text.stdout).toMatch(/^groups led: n1 \d+, n2 \d+, n3 \d+$/m);
  });

  it('a restart on the directory keeps the group count; another count is refused', async () => {
    const first = clusters[0] as CliProcess;
    first.signal('SIGINT');
    expect(await first.exited).toBe(0);
    const refused = await runCli([
      'cluster',
      'start',
      '--storage',
      'sqlite',
      '--groups',
      '3',
      ...at,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`holds data sharded over ${GROUPS} group(s)`);
    const again = await start();
    expect(again.stdout).toContain(`keys sharded over ${GROUPS} Raft groups`);
    expect((await runCli(['get', 'k5', ...at])).stdout).toBe('v5\n');
  });

  it('refuses add-node and remove-node, and `kontiki cluster stop` stops it', async () => {
    const running = clusters.at(-1) as CliProcess;
    for (const sub of [['add-node'], ['remove-node', 'n3']]) {
      const refused = await runCli(['cluster', ...sub, ...at]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        `shards keys over ${GROUPS} Raft groups: adding and removing nodes is not supported`,
      );
    }
    const stop = await runCli(['cluster', 'stop', ...at]);
    expect(stop.stderr).toBe('');
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(/^stopped the cluster in .* \(kontiki pid \d+\): n1, n2, n3$/m);
    expect(await running.exited).toBe(0);
  });
});
