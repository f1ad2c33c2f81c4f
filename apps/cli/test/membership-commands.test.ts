import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, isAlive, runCli } from './support/cli.js';
import { tempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

interface ClusterFile {
  readonly pid: number;
  readonly nodes: ReadonlyArray<{ id: string; http: string; pid: number; joined: boolean }>;
}

interface MembersJson {
  readonly leaderId: string | null;
  readonly configuration: { voters: string[]; oldVoters?: string[]; learners?: string[] };
}

describe('kontiki snapshot, members, cluster add-node and remove-node (SQLite)', () => {
  const data = tempDir('cli-members');
  const at = ['--data-dir', data.dir];
  const clusters: CliProcess[] = [];
  /** Every node pid ever seen, to make sure none is left running. */
  const pids = new Set<number>();

  const readFile = (): ClusterFile => {
    const file = JSON.parse(readFileSync(join(data.dir, 'cluster.json'), 'utf8')) as ClusterFile;
    for (const n of file.nodes) pids.add(n.pid);
    return file;
  };
  const members = async (): Promise<MembersJson> => {
    const r = await runCli(['members', '--json', ...at]);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as MembersJson;
  };
  const sorted = (ids: readonly string[] | undefined) => [...(ids ?? [])].sort();

  async function start(): Promise<CliProcess> {
    const cluster = new CliProcess([
      'cluster',
      'start',
      '--election-timeout-ms',
      '300',
      '--snapshot-log-margin',
      '5',
      ...at,
    ]);
    clusters.push(cluster);
    await waitUntil(
      'the cluster to be up',
      () => cluster.stdout.includes('Ctrl-C stops the cluster.') || cluster.stderr !== '',
      30_000,
    );
    expect(cluster.stderr).toBe('');
    readFile();
    return cluster;
  }

  beforeAll(async () => {
    await start();
  });

  afterAll(async () => {
    for (const c of clusters) await c.kill();
    // Should the CLI have died without stopping its nodes, they stop when their stdin
    // closes; make sure of it.
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    data.remove();
  });

  it('snapshots every node, then one node, and shows the snapshot in status', async () => {
    for (const [k, v] of [
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ]) {
      expect((await runCli(['put', k as string, v as string, ...at])).code).toBe(0);
    }
    // Every node has applied the writes once a linearizable read on it sees the last one.
    for (const n of readFile().nodes) {
      expect((await runCli(['get', 'c', '--endpoints', n.http])).stdout).toBe('3\n');
    }
    const all = await runCli(['snapshot', ...at]);
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual(['n1', 'n2', 'n3']);
    for (const l of lines)
      expect(l).toMatch(/^n\d: snapshot at index \d+ \(term \d+\); the log now holds \d+\.\.\d+$/);

    const one = await runCli(['snapshot', '--node', 'n2', ...at]);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^n2: nothing applied since the snapshot at index \d+\n$/);
    const missing = await runCli(['snapshot', '--node', 'n9', ...at]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no node n9 answered');

    const status = await runCli(['status', ...at]);
    expect(status.stdout.split('\n')[0]).toMatch(/LAST LOG\s+SNAPSHOT\s+FIRST LOG\s+KEYS/);
  });

  it('shows the members, adds a voter and a learner, promotes the learner', async () => {
    const before = await members();
    expect(sorted(before.configuration.voters)).toEqual(['n1', 'n2', 'n3']);
    const table = await runCli(['members', ...at]);
    expect(table.stdout).toMatch(/^ID\s+MEMBER\s+RAFT\s+HTTP/);
    expect(table.stdout).toMatch(/leader n\d \(term \d+\)/);

    const add = await runCli(['cluster', 'add-node', ...at]);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(
      /^added n4 as a voter \(pid \d+, http [\d.:]+, raft [\d.:]+\); voters /,
    );
    const n4 = readFile().nodes.find((n) => n.id === 'n4');
    expect(n4?.joined).toBe(true);
    expect(clusters[0]?.stdout).toContain('n4 joined as a voter');
    // It holds the data written before it joined (a linearizable read on it).
    expect((await runCli(['get', 'a', '--endpoints', n4?.http ?? ''])).stdout).toBe('1\n');

    const learner = await runCli(['cluster', 'add-node', '--learner', '--id', 'n5', ...at]);
    expect(learner.code).toBe(0);
    expect(learner.stdout).toMatch(/^added n5 as a learner .*; learners n5\n$/);
    const withLearner = await members();
    expect(sorted(withLearner.configuration.voters)).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(withLearner.configuration.learners).toEqual(['n5']);

    const promote = await runCli(['members', 'set', '--voters', 'n1,n2,n3,n4,n5', ...at]);
    expect(promote.stderr).toBe('');
    expect(promote.stdout).toMatch(/^membership changed by n\d \(term \d+\): voters /);
    expect(sorted((await members()).configuration.voters)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
  });

  it('refuses what cannot be done', async () => {
    const unknown = await runCli(['members', 'set', '--voters', 'n1,n2,n3,n9', ...at]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('UNKNOWN_PEER');
    expect(unknown.stderr).toContain('(membership unchanged)');
    for (const args of [
      ['members', 'set', ...at],
      ['members', 'set', '--voters', 'n1,n1', ...at],
      ['members', 'set', '--voters', 'n1', '--peers', 'n1=nowhere', ...at],
      ['cluster', 'remove-node', ...at],
    ]) {
      const r = await runCli(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
    }
    const noSuch = await runCli(['cluster', 'remove-node', 'n9', ...at]);
    expect(noSuch.code).toBe(1);
    expect(noSuch.stderr).toContain('there is no node n9');
    const elsewhere = await runCli(['cluster', 'add-node', '--data-dir', join(data.dir, 'none')]);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('no running `kontiki cluster start`');
  });

  it('removes the leader: it steps down, stops, and its data is set aside', async () => {
    const { leaderId } = await members();
    expect(leaderId).not.toBeNull();
    const gone = leaderId as string;
    const pid = readFile().nodes.find((n) => n.id === gone)?.pid as number;
    const r = await runCli(['cluster', 'remove-node', gone, ...at]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^removed ${gone}; voters `));
    expect(isAlive(pid)).toBe(false);
    expect(readFile().nodes.map((n) => n.id)).not.toContain(gone);
    expect(readdirSync(data.dir).some((f) => f.startsWith(`${gone}.removed-`))).toBe(true);
    const after = await members();
    expect(after.leaderId).not.toBe(gone);
    expect(sorted(after.configuration.voters)).toEqual(
      ['n1', 'n2', 'n3', 'n4', 'n5'].filter((id) => id !== gone),
    );
    expect((await runCli(['put', 'after-removal', 'yes', ...at])).code).toBe(0);
  });

  it('stops every node on Ctrl-C; a new start on the directory brings back the same four nodes', async () => {
    const first = clusters[0] as CliProcess;
    const expected = readFile().nodes.map((n) => n.id);
    first.signal('SIGINT');
    expect(await first.exited).toBe(0);
    expect([...pids].filter((p) => isAlive(p))).toEqual([]);
    expect(existsSync(join(data.dir, 'cluster.json'))).toBe(false);

    const again = await start();
    expect(again.stdout).toContain('nodes.json: starting its nodes');
    expect(readFile().nodes.map((n) => n.id)).toEqual(expected);
    expect((await runCli(['get', 'after-removal', ...at])).stdout).toBe('yes\n');
    expect(sorted((await members()).configuration.voters)).toEqual(sorted(expected));
    again.signal('SIGINT');
    expect(await again.exited).toBe(0);
    expect([...pids].filter((p) => isAlive(p))).toEqual([]);
  });
});
