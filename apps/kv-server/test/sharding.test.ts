import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, GroupsSummaryBody, StatusBody } from '../src/api-types.js';
import { waitForBalance } from '../src/cluster-observer.js';
import { ConfigError, parseConfig, type ServerConfig } from '../src/config.js';
import { bytes, EtcdCallError, EtcdClient, prefixEnd, text } from '../src/etcd/etcd-client.js';
import { memberId } from '../src/etcd/ids.js';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  type RequestOp,
  WatchClient,
  WatchCreateRequest,
  type WatchResponse,
} from '../src/gen/etcdserverpb/rpc.js';
import { groupIds, groupIndexOf } from '../src/groups.js';
import {
  MANY_GROUPS_HEAP_GROWING_PERCENT,
  PACED_FROM_GROUPS,
  setHeapGrowingPercent,
} from '../src/heap-pacing.js';
import { requestJson } from '../src/http-json.js';
import { KvClient } from '../src/kv-client.js';
import { GROUPS_FILE, KvServer } from '../src/kv-server.js';
import {
  type InProcessServers,
  startInProcessServers,
  TEST_TOKEN,
} from './support/in-process-servers.js';
import { tempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

const GROUPS = 8;

describe('the key to group mapping', () => {
  it('is 32-bit FNV-1a of the UTF-8 bytes (the published test vectors)', () => {
    expect(groupIndexOf('', 2 ** 32)).toBe(0x811c9dc5);
    expect(groupIndexOf('a', 2 ** 32)).toBe(0xe40c292c);
    expect(groupIndexOf('foobar', 2 ** 32)).toBe(0xbf9cf968);
    expect(groupIndexOf(bytes('foobar'), 2 ** 32)).toBe(0xbf9cf968);
  });

  it('is stable: a fixed vector over 8 groups (changing it would move stored keys)', () => {
    const keys = ['alpha', 'beta', 'gamma', 'delta', 'user/1', 'user/2', 'ключ', '🙂'];
    expect(keys.map((k) => groupIndexOf(k, 8))).toEqual([3, 7, 2, 1, 2, 7, 1, 3]);
    // One group: everything in group 0, named as a single-group server always named it.
    expect(groupIndexOf('alpha', 1)).toBe(0);
    expect(groupIds('kv', 1)).toEqual(['kv']);
    expect(groupIds('kv', 3)).toEqual(['kv-0', 'kv-1', 'kv-2']);
  });

  it('--groups / KONTIKI_GROUPS: default 1, bounded', () => {
    const base = ['--id', 'n1', '--peers', 'n1=127.0.0.1:7001', '--storage', 'memory'];
    expect(parseConfig(base, {})).toMatchObject({ groups: 1 });
    expect(parseConfig([...base, '--groups', '16'], {})).toMatchObject({ groups: 16 });
    expect(parseConfig(base, { KONTIKI_GROUPS: '4' })).toMatchObject({ groups: 4 });
    expect(() => parseConfig([...base, '--groups', '0'], {})).toThrow(ConfigError);
    expect(() => parseConfig([...base, '--groups', 'many'], {})).toThrow(/--groups/);
  });

  it('--heap-growing-percent: 35 from 1,000 groups on, V8 decides below; bounded', () => {
    const base = ['--id', 'n1', '--peers', 'n1=127.0.0.1:7001', '--storage', 'memory'];
    expect(parseConfig(base, {})).toMatchObject({ heapGrowingPercent: 0 });
    expect(parseConfig([...base, '--groups', '999'], {})).toMatchObject({ heapGrowingPercent: 0 });
    expect(parseConfig([...base, '--groups', '1000'], {})).toMatchObject({
      heapGrowingPercent: MANY_GROUPS_HEAP_GROWING_PERCENT,
    });
    expect(MANY_GROUPS_HEAP_GROWING_PERCENT).toBe(35);
    expect(PACED_FROM_GROUPS).toBe(1000);
    expect(
      parseConfig([...base, '--groups', '1000', '--heap-growing-percent', '0'], {}),
    ).toMatchObject({ heapGrowingPercent: 0 });
    expect(parseConfig(base, { KONTIKI_HEAP_GROWING_PERCENT: '50' })).toMatchObject({
      heapGrowingPercent: 50,
    });
    expect(() => parseConfig([...base, '--heap-growing-percent', '-1'], {})).toThrow(
      /--heap-growing-percent/,
    );
    expect(() => parseConfig([...base, '--heap-growing-percent', '1001'], {})).toThrow(ConfigError);
    // An empty value is not 0 (which would turn the pacing off without a word).
    expect(() =>
      parseConfig([...base, '--groups', '1000'], { KONTIKI_HEAP_GROWING_PERCENT: '' }),
    ).toThrow(/--heap-growing-percent/);
    expect(() => setHeapGrowingPercent(2.5)).toThrow(RangeError);
  });

  it("this Node's V8 knows the flag heap-pacing.ts sets (V8 ignores a flag it does not know)", () => {
    const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    expect(options).toContain('--heap-growing-percent');
  });
});

/** What an etcd call failed with (it must fail). */
async function failure(p: Promise<unknown>): Promise<EtcdCallError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EtcdCallError);
  return error as EtcdCallError;
}

const putOp = (key: string, value: string): RequestOp => ({
  request: {
    $case: 'requestPut',
    value: {
      key: bytes(key),
      value: bytes(value),
      lease: 0n,
      prevKv: false,
      ignoreValue: false,
      ignoreLease: false,
    },
  },
});

const valueIs = (key: string, value: string) => ({
  result: Compare_CompareResult.EQUAL,
  target: Compare_CompareTarget.VALUE,
  key: bytes(key),
  targetUnion: { $case: 'value' as const, value: bytes(value) },
  rangeEnd: new Uint8Array(0),
});

async function statusOf(http: string, group?: string): Promise<StatusBody> {
  const q = group === undefined ? '' : `?group=${group}`;
  const res = await requestJson('GET', `http://${http}/status${q}`);
  expect(res.status).toBe(200);
  return res.body as StatusBody;
}

/** Two keys (from `prefix`0, 1, ...) in different groups, and two in the same one. */
function keysByGroup(prefix: string, count: number): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (let i = 0; i < 200; i++) {
    const k = `${prefix}${i}`;
    const g = groupIndexOf(k, count);
    out.set(g, [...(out.get(g) ?? []), k]);
  }
  return out;
}

describe(`three in-process nodes with ${GROUPS} groups`, () => {
  let cluster: InProcessServers;
  let client: KvClient;

  beforeAll(async () => {
    cluster = await startInProcessServers(3, {
      groups: GROUPS,
      etcdListen: '127.0.0.1:0',
      electionTimeoutMs: 300,
    });
    client = new KvClient(cluster.endpoints, { token: TEST_TOKEN });
    // Every group elected, and every node knows each group's leader.
    await waitUntil(
      'every group has a leader known to every node',
      async () => {
        const all = await Promise.all(cluster.endpoints.map((e) => statusOf(e)));
        return all.every((s) => s.groups?.withLeader === GROUPS);
      },
      20_000,
    );
    // And settled on their preferred voters (RaftHost balancing): no leadership transfer will
    // cut into the writes of the tests below.
    await waitForBalance(cluster.endpoints, {
      ids: cluster.servers.map((srv) => srv.config.id),
      groups: groupIds('kv', GROUPS),
      timeoutMs: 30_000,
    });
  });
  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('status summarises the groups: counts, leaders per node, no row per group', async () => {
    const all = await Promise.all(cluster.endpoints.map((e) => statusOf(e)));
    for (const s of all) {
      const g = s.groups as GroupsSummaryBody;
      expect(g.count).toBe(GROUPS);
      expect(g.starting).toBe(0);
      const perNode = Object.values(g.leadersPerNode).reduce((a, b) => a + b, 0);
      expect(perNode).toBe(g.withLeader);
      expect(Object.keys(g.leadersPerNode).every((id) => ['n1', 'n2', 'n3'].includes(id))).toBe(
        true,
      );
      expect(g.laggards).toMatchObject({ count: 0, worst: [] });
      // The top-level fields are the primary group's.
      expect(s.groupId).toBe('kv-0');
    }
    // Each group has one leader: the groups led here, summed over the nodes, are all of them
    // (a summary may be up to SUMMARY_TTL_MS old: polled, not assumed).
    let ledTotal = 0;
    await waitUntil(
      'the groups led by each node add up to the group count',
      async () => {
        const now = await Promise.all(cluster.endpoints.map((e) => statusOf(e)));
        ledTotal = now.reduce((a, s) => a + (s.groups?.ledHere ?? 0), 0);
        return ledTotal === GROUPS;
      },
      10_000,
    );
    expect(ledTotal).toBe(GROUPS);
  });

  it('/metrics summarises the groups and the RaftHost in a few series, not one per group', async () => {
    const scrape = async (http: string) =>
      (await requestJson('GET', `http://${http}/metrics`)).text;
    const value = (text: string, series: string): number | undefined => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    const ids = cluster.servers.map((srv) => srv.config.id);
    // The groups led here, summed over the nodes, are all of them (polled: summaries age).
    let texts: string[] = [];
    await waitUntil(
      'the groups led by each node add up to the group count in /metrics',
      async () => {
        texts = await Promise.all(cluster.endpoints.map(scrape));
        const led = texts.map((t, i) => value(t, `kontiki_groups_led{node="${ids[i]}"}`) ?? 0);
        return led.reduce((a, b) => a + b, 0) === GROUPS;
      },
      10_000,
    );
    for (const [i, text] of texts.entries()) {
      const id = ids[i] as string;
      expect(value(text, `kontiki_groups{node="${id}"}`)).toBe(GROUPS);
      expect(value(text, `kontiki_groups_with_leader{node="${id}"}`)).toBe(GROUPS);
      expect(value(text, `kontiki_host_beats_sent_total{node="${id}"}`)).toBeGreaterThan(0);
      for (const peer of ids.filter((p) => p !== id)) {
        expect(value(text, `kontiki_host_peer_alive{peer="${peer}",node="${id}"}`)).toBe(1);
        expect(
          value(text, `kontiki_host_groups_quiesced{peer="${peer}",side="leader",node="${id}"}`),
        ).toBeGreaterThanOrEqual(0);
      }
      // Only the primary group has series of its own (core's per-node metrics); no other does.
      expect(text).toMatch(/group="kv-0"/);
      expect(text).not.toMatch(/group="kv-[1-9]/);
    }
  });

  it('?group=ID answers one group in full; an unknown group is 404', async () => {
    const e = cluster.endpoints[0] as string;
    const s = await statusOf(e, 'kv-5');
    expect(s.groupId).toBe('kv-5');
    expect(s.leaderId).not.toBeNull();
    expect(s.voters).toEqual(['n1', 'n2', 'n3']);
    const missing = await requestJson('GET', `http://${e}/status?group=kv-99`);
    expect(missing.status).toBe(404);
    expect((missing.body as ErrorBody).error.code).toBe('NO_GROUP');
  });

  it('writes to keys in every group are readable from every node (HTTP)', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `spread/${i}`);
    expect(new Set(keys.map((k) => groupIndexOf(k, GROUPS))).size).toBe(GROUPS);
    for (const k of keys) await client.put(k, `v-${k}`);
    for (const endpoint of cluster.endpoints) {
      for (const k of keys) {
        expect(await client.get(k, { endpoint })).toMatchObject({ value: `v-${k}` });
      }
    }
    // The summary counts the keys over every group.
    await waitUntil(
      'the summary counts the keys',
      async () => ((await statusOf(cluster.endpoints[1] as string)).groups?.keys ?? 0) >= 40,
      5_000,
    );
  });

  it("a write sent to a node that does not lead the key's group is redirected to that group's leader", async () => {
    const key = 'redirect/0';
    // The key's group's leader, and a node that is not it (one node may lead every group).
    const leader = await statusOf(
      cluster.endpoints[0] as string,
      `kv-${groupIndexOf(key, GROUPS)}`,
    );
    const e = cluster.endpoints.find((x) => x !== leader.leaderHttp) as string;
    expect(leader.leaderId).not.toBeNull();
    const res = await requestJson('PUT', `http://${e}/kv/${key}`, { body: { value: 'x' } });
    expect(res.status).toBe(307);
    expect(res.headers.location).toBe(`http://${leader.leaderHttp}/kv/${key}`);
    expect((res.body as ErrorBody).error).toMatchObject({
      code: 'NOT_LEADER',
      leaderId: leader.leaderId,
      outcome: 'not-applied',
    });
    // The client follows it, as for a single group.
    const only = new KvClient([e]);
    try {
      await only.put(key, 'followed');
    } finally {
      only.close();
    }
    expect(await client.get(key, { endpoint: e })).toMatchObject({ value: 'followed' });
  });

  it('etcd: puts anywhere (forwarded per group), a prefix range over every group, merged and limited', async () => {
    const etcd = cluster.etcdEndpoints.map((e) => new EtcdClient(e));
    try {
      const keys = Array.from({ length: 24 }, (_, i) => `e/${String(i).padStart(2, '0')}`);
      for (const [i, k] of keys.entries()) {
        const via = etcd[i % 3] as EtcdClient;
        const r = await via.put(k, `v${i}`);
        // Answered by the node asked, whichever node leads the key's group.
        const id = cluster.servers[i % 3]?.config.id as string;
        expect(r.header?.memberId).toBe(memberId(id));
      }
      for (const c of etcd) {
        const all = await c.get('e/', { prefix: true });
        expect(all.kvs.map((kv) => text(kv.key))).toEqual(keys);
        expect(all.count).toBe(24n);
        const limited = await c.get('e/', { prefix: true, limit: 5, keysOnly: true });
        expect(limited.kvs.map((kv) => text(kv.key))).toEqual(keys.slice(0, 5));
        expect(limited.more).toBe(true);
        expect(limited.count).toBe(24n);
        // One key: its group's revision heads the answer; it is the key's mod revision.
        const one = await c.get('e/07');
        expect(one.kvs[0]?.modRevision).toBeLessThanOrEqual(one.header?.revision ?? 0n);
      }
      // The HTTP API reads the same keys.
      expect(await client.get('e/07')).toMatchObject({ value: 'v7' });
    } finally {
      for (const c of etcd) c.close();
    }
  });

  it('etcd: a transaction within one group runs; one across groups is refused', async () => {
    const c = new EtcdClient(cluster.etcdEndpoints[1] as string);
    try {
      const byGroup = keysByGroup('t/', GROUPS);
      const [same1, same2] = byGroup.get(3) as string[];
      const other = (byGroup.get(4) as string[])[0] as string;
      await c.put(same1 as string, 'a');
      const ok = await c.txn([valueIs(same1 as string, 'a')], [putOp(same2 as string, 'b')]);
      expect(ok.succeeded).toBe(true);
      expect(await client.get(same2 as string)).toMatchObject({ value: 'b' });

      const e = await failure(c.txn([valueIs(same1 as string, 'a')], [putOp(other, 'c')]));
      expect(status[e.code]).toBe('INVALID_ARGUMENT');
      expect(e.details).toMatch(/cross-group transactions are not supported with --groups>1/);
      // Nothing of it was applied.
      expect(await client.get(other)).toBeNull();
      // A range in a transaction spans every group: refused too.
      const ranged = await failure(
        c.txn(
          [{ ...valueIs('t/', 'x'), rangeEnd: prefixEnd(bytes('t/')) }],
          [putOp(same1 as string, 'z')],
        ),
      );
      expect(ranged.details).toMatch(/cross-group/);
    } finally {
      c.close();
    }
  });

  it('etcd: deleting a prefix deletes it in every group', async () => {
    const c = new EtcdClient(cluster.etcdEndpoints[2] as string);
    try {
      const keys = Array.from({ length: 16 }, (_, i) => `d/${i}`);
      for (const k of keys) await c.put(k, 'x');
      const del = await c.delete('d/', { prefix: true, prevKv: true });
      expect(del.deleted).toBe(16n);
      expect(del.prevKvs.map((kv) => text(kv.key)).sort()).toEqual([...keys].sort());
      for (const e of cluster.etcdEndpoints) {
        const other = new EtcdClient(e);
        try {
          expect((await other.get('d/', { prefix: true })).count).toBe(0n);
        } finally {
          other.close();
        }
      }
    } finally {
      c.close();
    }
  });

  it('etcd: a key is watched in its group; a prefix watch is refused with a reason', async () => {
    const endpoint = cluster.etcdEndpoints[0] as string;
    const watch = new WatchClient(endpoint, credentials.createInsecure());
    const stream = watch.watch();
    const received: WatchResponse[] = [];
    stream.on('data', (r: WatchResponse) => received.push(r));
    stream.on('error', () => {});
    try {
      const create = (c: Partial<WatchCreateRequest>) =>
        stream.write({
          requestUnion: { $case: 'createRequest', value: WatchCreateRequest.fromPartial(c) },
        });
      create({ key: bytes('w/one'), watchId: 1n });
      create({ key: bytes('w/'), rangeEnd: prefixEnd(bytes('w/')), watchId: 2n });
      await waitUntil('both watches answered', () => received.length >= 2, 5_000);
      const refused = received.find((r) => r.watchId === 2n);
      expect(refused).toMatchObject({ created: true, canceled: true });
      expect(refused?.cancelReason).toMatch(/not supported with --groups>1/);
      await client.put('w/one', 'seen');
      await waitUntil('the put is watched', () => received.some((r) => r.events.length > 0), 5_000);
      const event = received.find((r) => r.events.length > 0);
      expect(event?.watchId).toBe(1n);
      expect(text(event?.events[0]?.kv?.value ?? new Uint8Array())).toBe('seen');
    } finally {
      stream.end();
      watch.close();
    }
  });

  it('etcd: Status and MemberList still answer (for the primary group)', async () => {
    const c = new EtcdClient(cluster.etcdEndpoints[0] as string);
    try {
      const members = await c.memberList();
      expect(members.members.map((m) => m.name).sort()).toEqual(['n1', 'n2', 'n3']);
      const s = await c.status();
      expect(s.leader).not.toBe(0n);
    } finally {
      c.close();
    }
  });

  it('admin requests name their group: leadership of one group moves; one group snapshots', async () => {
    const admin = { authorization: `Bearer ${TEST_TOKEN}` };
    const e = cluster.endpoints[0] as string;
    const target = await statusOf(e, 'kv-3');
    const to = ['n1', 'n2', 'n3'].find((id) => id !== target.leaderId) as string;
    const res = await requestJson(
      'POST',
      `http://${target.leaderHttp}/admin/transfer-leader?group=kv-3`,
      { body: { peer: to }, headers: admin },
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ from: target.leaderId, requested: to });
    await waitUntil(
      `kv-3 led by ${to} as ${e} sees it`,
      async () => (await statusOf(e, 'kv-3')).leaderId === to,
      5_000,
    );
    // A snapshot of one group covers that group's log only.
    const snap = await requestJson('POST', `http://${e}/admin/snapshot?group=kv-5`, {
      body: {},
      headers: admin,
    });
    expect(snap.status).toBe(200);
    expect((await statusOf(e, 'kv-5')).snapshotIndex).toBe(
      (snap.body as { snapshotIndex: number }).snapshotIndex,
    );
    expect((await statusOf(e, 'kv-6')).snapshotIndex).toBe(0);
  });

  it('membership changes are refused with several groups', async () => {
    const res = await requestJson('POST', `http://${cluster.endpoints[0]}/admin/membership`, {
      body: { voters: ['n1', 'n2'] },
      headers: { authorization: `Bearer ${TEST_TOKEN}` },
    });
    expect(res.status).toBe(400);
    expect((res.body as ErrorBody).error.code).toBe('NOT_SUPPORTED');
  });
});

describe('a data directory remembers its group count', () => {
  const config = (dataDir: string, groups: number): ServerConfig => ({
    id: 'n1',
    raftListen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    peers: new Map([['n1', { raft: '127.0.0.1:0' }]]),
    join: false,
    transport: 'grpc',
    storage: 'sqlite',
    dataDir,
    sqliteSync: 'normal',
    sqliteThread: 'main',
    electionTimeoutMs: 200,
    snapshotIntervalS: 0,
    snapshotLogMargin: 1000,
    token: TEST_TOKEN,
    groupId: 'kv',
    groups,
    maxValueBytes: 1024,
    maxKeyBytes: 64,
    writeTimeoutMs: 5000,
    enableBench: false,
    exitOnStdinClose: false,
  });

  it('a restart with another --groups is refused before anything is opened', async () => {
    const dir = tempDir('kv-groups');
    const server = await KvServer.start(config(dir.dir, 4));
    try {
      await waitUntil(
        'the single node leads every group',
        () => server.raftGroups.all.every((g) => g.node?.isLeader === true),
        10_000,
      );
      const c = new KvClient([server.httpAddress]);
      await c.put('kept', 'yes');
      c.close();
    } finally {
      await server.stop();
    }
    // The directory holds the count (GROUPS_FILE); another one would move keys.
    expect(existsSync(join(dir.dir, GROUPS_FILE))).toBe(true);
    await expect(KvServer.start(config(dir.dir, 2))).rejects.toThrow(
      /holds data sharded as --groups 4 --group kv/,
    );
    await expect(KvServer.start(config(dir.dir, 1))).rejects.toThrow(ConfigError);
    // The same count serves the data it wrote.
    const again = await KvServer.start(config(dir.dir, 4));
    try {
      const c = new KvClient([again.httpAddress]);
      await waitUntil(
        'the node leads again',
        () => again.raftGroups.all.every((g) => g.node?.isLeader === true),
        10_000,
      );
      expect(await c.get('kept')).toMatchObject({ value: 'yes' });
      c.close();
    } finally {
      await again.stop();
      dir.remove();
    }
  });
});
