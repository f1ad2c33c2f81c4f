import { spawn } from 'node:child_process';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitForConvergence, waitForLeader } from '../src/cluster-observer.js';
import { hexId, memberId } from '../src/etcd/ids.js';
import { KvClient } from '../src/kv-client.js';
import type { ServerEvent } from '../src/kv-server.js';
import { LocalCluster } from '../src/local-cluster.js';
import { tempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

/**
 * etcd's own clients against three kv-server processes on SQLite: Debian's etcdctl (3.4) and
 * the `etcd3` npm library, through the leader and through followers (watches included); and
 * revisions that survive snapshots, restarts and InstallSnapshot.
 */
const ELECTION_TIMEOUT_MS = 500;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs Debian's etcdctl (v3 API) against `endpoints`, with `input` on its stdin. */
function etcdctl(endpoints: readonly string[], args: readonly string[], input = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('etcdctl', [`--endpoints=${endpoints.join(',')}`, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(
        new Error(
          `cannot run etcdctl (${error.message}): install it (Debian: apt-get install etcd-client)`,
        ),
      );
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // etcdctl may exit without reading stdin: EPIPE then is not an error of the run.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** etcdctl, expected to succeed. */
async function ok(
  endpoints: readonly string[],
  args: readonly string[],
  input = '',
): Promise<string> {
  const r = await etcdctl(endpoints, args, input);
  expect(r.code, `etcdctl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

interface JsonKv {
  key: string;
  value?: string;
  create_revision: number;
  mod_revision: number;
  version: number;
}
interface JsonRange {
  header: { revision: number; member_id: number };
  kvs?: JsonKv[];
  count?: number;
}

const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString();

describe("etcd's clients against three kv-server processes on SQLite", () => {
  const data = tempDir('kv-etcd');
  const events: ServerEvent[] = [];
  let cluster: LocalCluster;
  let http: KvClient;
  /** etcd API endpoints of the leader, then the followers. */
  let leaderEtcd: string;
  let followersEtcd: string[];

  const locate = async (): Promise<void> => {
    const leader = await waitForLeader(cluster.httpEndpoints(), { timeoutMs: 10_000 });
    const members = cluster.members();
    leaderEtcd = members.find((m) => m.id === leader.id)?.etcd as string;
    followersEtcd = members.filter((m) => m.id !== leader.id).map((m) => m.etcd as string);
  };

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      serverScript: inject('serverScript'),
      transport: 'grpc',
      storage: 'sqlite',
      dataDir: data.dir,
      sqliteSync: 'normal',
      electionTimeoutMs: ELECTION_TIMEOUT_MS,
      snapshotIntervalS: 0,
      // Nothing kept behind a snapshot: what a restarted node knows comes from it.
      snapshotLogMargin: 0,
      onEvent: (e) => events.push(e),
    });
    http = new KvClient(cluster.httpEndpoints(), { token: cluster.token });
    await locate();
  });

  afterAll(async () => {
    http?.close();
    await cluster?.stop();
    data.remove();
  });

  it('etcdctl puts through a follower, gets, gets a prefix and deletes through any member', async () => {
    const [f1, f2] = followersEtcd as [string, string];
    expect(await ok([f1], ['put', 'app/a', 'one'])).toBe('OK\n');
    expect(await ok([f2], ['put', 'app/b', 'two'])).toBe('OK\n');
    expect(await ok([leaderEtcd], ['put', 'apple', 'three'])).toBe('OK\n');
    expect(await ok([f2], ['get', 'app/a'])).toBe('app/a\none\n');
    expect(await ok([f1], ['get', '--prefix', 'app/'])).toBe('app/a\none\napp/b\ntwo\n');
    const json = JSON.parse(await ok([f1], ['get', '--prefix', 'app', '-w', 'json'])) as JsonRange;
    expect(json.kvs?.map((kv) => unb64(kv.key))).toEqual(['app/a', 'app/b', 'apple']);
    const [a, b, apple] = json.kvs as [JsonKv, JsonKv, JsonKv];
    expect([b.mod_revision - a.mod_revision, apple.mod_revision - b.mod_revision]).toEqual([1, 1]);
    expect(json.header.revision).toBe(apple.mod_revision);
    expect(await ok([f2], ['del', '--prefix', 'app/'])).toBe('2\n');
    expect(await ok([leaderEtcd], ['get', '--prefix', 'app'])).toBe('apple\nthree\n');
    // The HTTP API sees the same store.
    expect(await http.get('app/a')).toBeNull();
    expect(await http.get('apple')).toMatchObject({ value: 'three' });
  });

  it('etcdctl txn -i (interactive, from stdin) compares and sets, or runs its failure branch', async () => {
    const [f1] = followersEtcd as [string];
    await ok([leaderEtcd], ['put', 'color', 'red']);
    const script = (from: string, to: string) =>
      `value("color") = "${from}"\n\nput color ${to}\n\nget color\n\n`;
    const won = await ok([f1], ['txn', '-i'], script('red', 'green'));
    expect(won).toContain('SUCCESS');
    expect(await ok([f1], ['get', 'color', '--print-value-only'])).toBe('green\n');
    const lost = await ok([f1], ['txn', '-i'], script('red', 'blue'));
    expect(lost).toContain('FAILURE');
    expect(lost).toContain('color\ngreen');
    // Version and mod revision compares: the same transaction, written etcdctl's way.
    const r = JSON.parse(await ok([f1], ['get', 'color', '-w', 'json'])) as JsonRange;
    const mod = r.kvs?.[0]?.mod_revision;
    expect(mod).toBeGreaterThan(0);
    const byMod = await ok(
      [f1],
      ['txn', '-i'],
      `mod("color") = "${mod}"\nversion("color") = "2"\n\nput color violet\n\n\n`,
    );
    expect(byMod).toContain('SUCCESS');
    expect(await ok([leaderEtcd], ['get', 'color', '--print-value-only'])).toBe('violet\n');
  });

  it('etcdctl member list and endpoint status describe the group', async () => {
    const all = [leaderEtcd, ...followersEtcd];
    const list = JSON.parse(await ok(all, ['member', 'list', '-w', 'json'])) as {
      members: Array<{ name: string; clientURLs: string[]; peerURLs: string[] }>;
    };
    const members = cluster.members();
    expect(list.members.map((m) => m.name).sort()).toEqual(['n1', 'n2', 'n3']);
    for (const m of list.members) {
      const member = members.find((x) => x.id === m.name);
      expect(m.clientURLs).toEqual([`http://${member?.etcd}`]);
      expect(m.peerURLs).toEqual([`http://${member?.raft}`]);
    }
    // The table prints ids in hex: the same stable ids, derived from the peer ids.
    const table = await ok(all, ['member', 'list']);
    for (const m of members) expect(table).toContain(`${hexId(memberId(m.id))}, started, ${m.id},`);

    await locate();
    const status = await ok(all, ['endpoint', 'status']);
    const lines = status.trim().split('\n');
    expect(lines).toHaveLength(3);
    // "endpoint, id, version, db size, is leader, is learner, term, index, applied, errors"
    const leaders = lines.filter((l) => l.split(', ')[4] === 'true');
    expect(leaders).toHaveLength(1);
    expect(leaders[0]?.startsWith(`${leaderEtcd}, `)).toBe(true);
    expect(status).toContain('3.4.0+kontiki');
    // etcdctl prints health to stderr; it is a linearizable Get of the key "health".
    const health = await etcdctl([followersEtcd[0] as string], ['endpoint', 'health']);
    expect(health.code).toBe(0);
    expect(health.stdout + health.stderr).toContain('is healthy');
  });

  it('the etcd3 npm client puts, gets, lists a prefix, deletes and compare-and-sets, via a follower', async () => {
    const client = new Etcd3({ hosts: [followersEtcd[0] as string] });
    try {
      await client.put('npm/x').value('1');
      await client.put('npm/y').value('2');
      expect(await client.get('npm/x').string()).toBe('1');
      expect(await client.getAll().prefix('npm/').strings()).toEqual({
        'npm/x': '1',
        'npm/y': '2',
      });
      const swap = (from: string, to: string) =>
        client.if('npm/x', 'Value', '==', from).then(client.put('npm/x').value(to)).commit();
      expect((await swap('1', '10')).succeeded).toBe(true);
      expect((await swap('1', '11')).succeeded).toBe(false);
      expect(await client.get('npm/x').string()).toBe('10');
      // Absent-key CAS: create only if the key does not exist (version 0).
      const create = () =>
        client.if('npm/new', 'Version', '==', 0).then(client.put('npm/new').value('v')).commit();
      expect((await create()).succeeded).toBe(true);
      expect((await create()).succeeded).toBe(false);
      const deleted = await client.delete().prefix('npm/');
      expect(deleted.deleted).toBe('3');
      expect(await client.getAll().prefix('npm/').count()).toBe(0);
    } finally {
      client.close();
    }
  });

  it('etcdctl watch replays from a revision and follows; the etcd3 client watches through a follower', async () => {
    const [f1, f2] = followersEtcd as [string, string];
    const head = JSON.parse(await ok([leaderEtcd], ['get', 'nothing', '-w', 'json'])) as JsonRange;
    const first = JSON.parse(await ok([leaderEtcd], ['put', 'watch/a', '1', '-w', 'json'])) as {
      header: { revision: number };
    };
    // From the revision after `head`: the put above is replayed, what follows is live.
    const child = spawn(
      'etcdctl',
      [`--endpoints=${f1}`, 'watch', '--prefix', 'watch/', `--rev=${head.header.revision + 1}`],
      { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const npm = new Etcd3({ hosts: [f2] });
    const heard: string[] = [];
    try {
      // From the revision after the first put: a follower that has not applied it yet when
      // the watch is created must not report it either.
      const watcher = await npm
        .watch()
        .prefix('watch/')
        .startRevision(String(first.header.revision + 1))
        .create();
      watcher.on('put', (kv) => heard.push(`put ${kv.key.toString()}=${kv.value.toString()}`));
      watcher.on('delete', (kv) => heard.push(`delete ${kv.key.toString()}`));
      await waitUntil(
        'etcdctl watch to replay the first put',
        () => out.includes('watch/a'),
        10_000,
      );
      await ok([leaderEtcd], ['put', 'watch/b', '2']);
      await ok([f2], ['del', 'watch/a']);
      const expected = ['PUT', 'watch/a', '1', 'PUT', 'watch/b', '2', 'DELETE', 'watch/a'];
      const lines = () => out.split('\n').filter((l) => l !== '');
      await waitUntil('etcdctl watch to print every change', () => lines().length >= 8, 10_000);
      expect(lines()).toEqual(expected);
      await waitUntil('the etcd3 watcher to hear both changes', () => heard.length >= 2, 10_000);
      expect(heard).toEqual(['put watch/b=2', 'delete watch/a']);
      await watcher.cancel();
    } finally {
      child.kill('SIGTERM');
      npm.close();
    }
  });

  it('revisions survive snapshots, a restart of every node, and InstallSnapshot', async () => {
    for (let i = 0; i < 20; i++) await ok([leaderEtcd], ['put', `rev/${i % 5}`, `v${i}`]);
    await ok([leaderEtcd], ['del', 'rev/4']);
    const read = async (endpoint: string, consistency = 'l'): Promise<JsonRange> =>
      JSON.parse(
        await ok(
          [endpoint],
          ['get', '--prefix', 'rev/', '-w', 'json', `--consistency=${consistency}`],
        ),
      ) as JsonRange;
    const before = await read(leaderEtcd);
    expect(before.kvs?.map((kv) => kv.version)).toEqual([4, 4, 4, 4]);
    const revision = before.header.revision;

    // Every node snapshots (keeping no log behind it), then all are killed and restarted:
    // the state, revisions included, comes back from the snapshots.
    const endpoints = cluster.httpEndpoints();
    await waitForConvergence(endpoints, 10_000);
    for (const e of endpoints) expect((await http.snapshot(e)).taken).toBe(true);
    for (const m of cluster.members()) await cluster.kill(m.id);
    for (const m of cluster.members()) await cluster.restart(m.id);
    await locate();
    for (const e of endpoints) expect((await http.status(e)).firstLogIndex).toBeGreaterThan(1);
    const after = await read(leaderEtcd);
    expect(after.kvs).toEqual(before.kvs);
    expect(after.header.revision).toBe(revision);
    // The next write makes the next revision.
    await ok([leaderEtcd], ['put', 'rev/0', 'next']);
    expect((await read(leaderEtcd)).header.revision).toBe(revision + 1);

    // A follower down while the others write and compact catches up by InstallSnapshot,
    // revisions and all.
    const downId = cluster.members().find((m) => m.etcd === followersEtcd[0])?.id as string;
    await cluster.kill(downId);
    for (let i = 0; i < 10; i++) await ok([leaderEtcd], ['put', `rev/${i % 3}`, `w${i}`]);
    const up = cluster.members().filter((m) => m.running);
    await waitForConvergence(
      up.map((m) => m.http),
      10_000,
    );
    for (const m of up) expect((await http.snapshot(m.http)).taken).toBe(true);
    const installedBefore = events.filter(
      (e) => e.event === 'snapshot' && e.kind === 'installed' && e.id === downId,
    ).length;
    await cluster.restart(downId);
    await waitUntil(
      `${downId} installs the leader's snapshot`,
      () =>
        events.filter((e) => e.event === 'snapshot' && e.kind === 'installed' && e.id === downId)
          .length > installedBefore,
      15_000,
    );
    const expected = await read(leaderEtcd);
    const restarted = cluster.member(downId).etcd as string;
    await waitUntil(
      `${downId} serves revision ${expected.header.revision}`,
      async () => (await read(restarted, 's')).header.revision === expected.header.revision,
      10_000,
    );
    expect((await read(restarted, 's')).kvs).toEqual(expected.kvs);
    await waitForConvergence(endpoints, 10_000);
  });
});
