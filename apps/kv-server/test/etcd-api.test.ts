import { credentials, Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForLeader } from '../src/cluster-observer.js';
import { ETCD_API_VERSION } from '../src/etcd/etcd-api.js';
import { bytes, EtcdCallError, EtcdClient, prefixEnd, text } from '../src/etcd/etcd-client.js';
import { memberId } from '../src/etcd/ids.js';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  RangeRequest,
  type RequestOp,
  WatchClient,
  WatchCreateRequest,
  WatchCreateRequest_FilterType,
  type WatchRequest,
  type WatchResponse,
} from '../src/gen/etcdserverpb/rpc.js';
import { Event_EventType } from '../src/gen/mvccpb/kv.js';
import { requestJson } from '../src/http-json.js';
import { KvClient } from '../src/kv-client.js';
import { type InProcessServers, startInProcessServers } from './support/in-process-servers.js';
import { sampleOf } from './support/prometheus-text.js';

/** Expects the promise to fail with this gRPC status (and message, when given). */
async function refused(
  p: Promise<unknown>,
  code: status,
  details?: RegExp,
): Promise<EtcdCallError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EtcdCallError);
  const e = error as EtcdCallError;
  expect(status[e.code]).toBe(status[code]);
  if (details) expect(e.details).toMatch(details);
  return e;
}

const put = (key: string, value: string, prevKv = false): RequestOp => ({
  request: {
    $case: 'requestPut',
    value: {
      key: bytes(key),
      value: bytes(value),
      lease: 0n,
      prevKv,
      ignoreValue: false,
      ignoreLease: false,
    },
  },
});
const get = (key: string): RequestOp => ({
  request: { $case: 'requestRange', value: RangeRequest.fromPartial({ key: bytes(key) }) },
});
const valueIs = (key: string, value: string) => ({
  result: Compare_CompareResult.EQUAL,
  target: Compare_CompareTarget.VALUE,
  key: bytes(key),
  targetUnion: { $case: 'value' as const, value: bytes(value) },
  rangeEnd: new Uint8Array(0),
});

/** A Watch stream: what it received so far, and a bounded wait for more. */
function watchStream(endpoint: string) {
  const client = new WatchClient(endpoint, credentials.createInsecure());
  const stream = client.watch();
  const received: WatchResponse[] = [];
  let wake: (() => void) | undefined;
  stream.on('data', (r: WatchResponse) => {
    received.push(r);
    wake?.();
  });
  stream.on('error', () => {});
  return {
    received,
    send: (req: WatchRequest) => stream.write(req),
    create: (c: Partial<WatchCreateRequest>) =>
      stream.write({
        requestUnion: { $case: 'createRequest', value: WatchCreateRequest.fromPartial(c) },
      }),
    /** Resolves once `count` answers arrived; fails after 5 s. */
    async until(count: number): Promise<WatchResponse[]> {
      const deadline = Date.now() + 5000;
      while (received.length < count) {
        if (Date.now() > deadline)
          throw new Error(`only ${received.length} of ${count} watch answers`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
      return received;
    },
    close: () => {
      stream.end();
      client.close();
    },
  };
}

/** "PUT key=value" / "DELETE key", and the previous value when sent. */
function describeEvents(r: WatchResponse): string[] {
  return r.events.map((e) => {
    const kv = e.kv;
    const what =
      e.type === Event_EventType.PUT
        ? `PUT ${text(kv?.key ?? new Uint8Array())}=${text(kv?.value ?? new Uint8Array())}`
        : `DELETE ${text(kv?.key ?? new Uint8Array())}`;
    return e.prevKv === undefined ? what : `${what} (was ${text(e.prevKv.value)})`;
  });
}

describe("etcd's v3 API on three in-process nodes", () => {
  let cluster: InProcessServers;
  let leaderClient: EtcdClient;
  let followerClient: EtcdClient;
  let leaderId: string;

  beforeAll(async () => {
    // A longer election timeout than the other in-process tests: the tests below follow one leader.
    cluster = await startInProcessServers(3, {
      etcdListen: '127.0.0.1:0',
      maxKeyBytes: 64,
      electionTimeoutMs: 1000,
    });
    const leader = await waitForLeader(cluster.endpoints, { timeoutMs: 10_000 });
    leaderId = leader.id;
    const i = cluster.endpoints.indexOf(leader.http);
    leaderClient = new EtcdClient(cluster.etcdEndpoints[i] as string);
    followerClient = new EtcdClient(cluster.etcdEndpoints[(i + 1) % 3] as string);
  });
  afterAll(async () => {
    leaderClient?.close();
    followerClient?.close();
    await cluster?.stop();
  });

  it('puts and gets a key, with revisions in the answers and the keys', async () => {
    const first = await leaderClient.put('greeting', 'hello');
    const rev = Number(first.header?.revision);
    expect(rev).toBeGreaterThan(1);
    const second = await leaderClient.put('greeting', 'hi', { prevKv: true });
    expect(Number(second.header?.revision)).toBe(rev + 1);
    expect(text(second.prevKv?.value ?? new Uint8Array())).toBe('hello');
    expect(second.prevKv).toMatchObject({
      createRevision: BigInt(rev),
      modRevision: BigInt(rev),
      version: 1n,
    });
    const got = await followerClient.get('greeting');
    expect(got.kvs).toHaveLength(1);
    expect(got.kvs.map((kv) => [text(kv.key), text(kv.value)])).toEqual([['greeting', 'hi']]);
    expect(got.kvs[0]).toMatchObject({
      createRevision: BigInt(rev),
      modRevision: BigInt(rev + 1),
      version: 2n,
    });
    expect(got.count).toBe(1n);
    expect(got.header?.revision).toBe(BigInt(rev + 1));
    // Bytes travel as they are, a leading byte order mark included (in the key and the value).
    await leaderClient.put('\ufeffbom', '\ufeff\u00e9');
    const bom = await followerClient.get('\ufeffbom');
    expect(bom.kvs.map((kv) => [[...kv.key.subarray(0, 3)], [...kv.value]])).toEqual([
      [
        [0xef, 0xbb, 0xbf],
        [0xef, 0xbb, 0xbf, 0xc3, 0xa9],
      ],
    ]);
    // The HTTP API serves the same state.
    const http = new KvClient(cluster.endpoints);
    try {
      expect(await http.get('\ufeffbom')).toMatchObject({ value: '\ufeff\u00e9' });
      expect(await http.get('greeting')).toMatchObject({ value: 'hi' });
    } finally {
      http.close();
    }
  });

  it('a write sent to a follower is forwarded to the leader and answered by the follower', async () => {
    const r = await followerClient.put('via-follower', '1');
    const i = cluster.etcdEndpoints.indexOf(followerClient.endpoint);
    const followerId = cluster.servers[i]?.config.id as string;
    expect(followerId).not.toBe(leaderId);
    expect(r.header?.memberId).toBe(memberId(followerId));
    // Linearizable: a read on any node right after the acknowledgement sees it.
    for (const e of cluster.etcdEndpoints) {
      const c = new EtcdClient(e);
      try {
        expect((await c.get('via-follower')).kvs.map((kv) => text(kv.value))).toEqual(['1']);
      } finally {
        c.close();
      }
    }
    const del = await followerClient.delete('via-follower', { prevKv: true });
    expect(del.deleted).toBe(1n);
    expect(del.prevKvs.map((kv) => text(kv.value))).toEqual(['1']);
  });

  it('ranges over a prefix with limit, keys only and count; deletes a prefix', async () => {
    for (const k of ['dir/a', 'dir/b', 'dir/c', 'dis']) await followerClient.put(k, `v-${k}`);
    const all = await followerClient.get('dir/', { prefix: true });
    expect(all.kvs.map((kv) => text(kv.key))).toEqual(['dir/a', 'dir/b', 'dir/c']);
    const limited = await leaderClient.get('dir/', { prefix: true, limit: 2, keysOnly: true });
    expect(limited.kvs.map((kv) => [text(kv.key), kv.value.byteLength])).toEqual([
      ['dir/a', 0],
      ['dir/b', 0],
    ]);
    expect(limited.more).toBe(true);
    expect(limited.count).toBe(3n);
    const del = await followerClient.delete('dir/', { prefix: true });
    expect(del.deleted).toBe(2n + 1n);
    expect((await leaderClient.get('di', { prefix: true })).kvs.map((kv) => text(kv.key))).toEqual([
      'dis',
    ]);
  });

  it('compare-and-set by Txn: the first of two racing sets wins, the other sees the winner', async () => {
    await leaderClient.put('lock', 'free');
    const [a, b] = await Promise.all([
      followerClient.txn([valueIs('lock', 'free')], [put('lock', 'a')], [get('lock')]),
      leaderClient.txn([valueIs('lock', 'free')], [put('lock', 'b')], [get('lock')]),
    ]);
    expect([a.succeeded, b.succeeded].sort()).toEqual([false, true]);
    const loser = a.succeeded ? b : a;
    const winner = a.succeeded ? 'a' : 'b';
    const range = loser.responses[0]?.response;
    expect(range?.$case).toBe('responseRange');
    if (range?.$case === 'responseRange') {
      expect(range.value.kvs.map((kv) => text(kv.value))).toEqual([winner]);
    }
    expect((await followerClient.get('lock')).kvs.map((kv) => text(kv.value))).toEqual([winner]);
  });

  it('compares on version, create and mod revision, with every operator', async () => {
    const created = await leaderClient.put('cmp', '1');
    const rev = created.header?.revision ?? 0n;
    const cmp = (target: Compare_CompareTarget, result: Compare_CompareResult, n: bigint) => {
      const which = {
        [Compare_CompareTarget.VERSION]: 'version',
        [Compare_CompareTarget.CREATE]: 'createRevision',
        [Compare_CompareTarget.MOD]: 'modRevision',
      } as const;
      const $case = which[target as keyof typeof which];
      return followerClient
        .txn(
          [
            {
              result,
              target,
              key: bytes('cmp'),
              targetUnion: { $case, value: n },
              rangeEnd: new Uint8Array(0),
            },
          ],
          [],
        )
        .then((r) => r.succeeded);
    };
    const { VERSION, CREATE, MOD } = Compare_CompareTarget;
    const { EQUAL, NOT_EQUAL, GREATER, LESS } = Compare_CompareResult;
    expect(await cmp(VERSION, EQUAL, 1n)).toBe(true);
    expect(await cmp(VERSION, GREATER, 1n)).toBe(false);
    expect(await cmp(CREATE, EQUAL, rev)).toBe(true);
    expect(await cmp(CREATE, LESS, rev)).toBe(false);
    expect(await cmp(MOD, NOT_EQUAL, rev)).toBe(false);
    expect(await cmp(MOD, LESS, rev + 1n)).toBe(true);
    expect(await cmp(MOD, GREATER, rev - 1n)).toBe(true);
  });

  it('serves serializable reads locally', async () => {
    await leaderClient.put('local', 'yes');
    // Bounded: the follower applies the write within a few heartbeats.
    let seen: string[] = [];
    for (let i = 0; i < 200 && seen.length === 0; i++) {
      const r = await followerClient.get('local', { serializable: true });
      seen = r.kvs.map((kv) => text(kv.value));
      if (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(seen).toEqual(['yes']);
  });

  it('refuses bad requests with the status and message etcd uses', async () => {
    await refused(leaderClient.put('', 'v'), status.INVALID_ARGUMENT, /key is not provided/);
    await refused(leaderClient.get(''), status.INVALID_ARGUMENT, /key is not provided/);
    await refused(
      leaderClient.put('k'.repeat(65), 'v'),
      status.INVALID_ARGUMENT,
      /request is too large/,
    );
    await refused(
      leaderClient.put('bin', new Uint8Array([0xff, 0xfe])),
      status.INVALID_ARGUMENT,
      /not UTF-8/,
    );
    // A surrogate's three-byte form (CESU-8) is not UTF-8 either: no lone surrogate reaches the log.
    await refused(
      leaderClient.put('bin', new Uint8Array([0x61, 0xed, 0xa0, 0x80])),
      status.INVALID_ARGUMENT,
      /not UTF-8/,
    );
    await refused(
      leaderClient.txn([], [put('dup', '1'), put('dup', '2')]),
      status.INVALID_ARGUMENT,
      /duplicate key/,
    );
    const many = Array.from({ length: 129 }, (_, i) => put(`m${i}`, 'x'));
    await refused(leaderClient.txn([], many), status.INVALID_ARGUMENT, /too many operations/);
    const nested: RequestOp = {
      request: { $case: 'requestTxn', value: { compare: [], success: [], failure: [] } },
    };
    await refused(leaderClient.txn([], [nested]), status.UNIMPLEMENTED);
    // No history: only the current revision can be read.
    const now = (await leaderClient.get('greeting')).header?.revision ?? 0n;
    const at = (revision: bigint) =>
      new Promise((resolve, reject) =>
        leaderClient.kv.range(
          RangeRequest.fromPartial({ key: bytes('greeting'), revision }),
          (e, r) => (e ? reject(EtcdCallError.from(e)) : resolve(r)),
        ),
      );
    await expect(at(now)).resolves.toMatchObject({ count: 1n });
    await refused(at(now + 100n), status.OUT_OF_RANGE, /future revision/);
    await refused(at(1n), status.OUT_OF_RANGE, /compacted/);
    // Nothing above changed the store.
    expect((await leaderClient.get('greeting')).header?.revision).toBe(now);
  });

  it("counts its calls under etcd's gRPC metric names, by method and status code", async () => {
    const http = cluster.endpoints[cluster.servers.findIndex((x) => x.config.id === leaderId)];
    const scrape = async () => (await requestJson('GET', `http://${http}/metrics`)).text;
    const handled = (text: string, method: string, code: string) =>
      sampleOf(text, 'grpc_server_handled_total', {
        grpc_type: 'unary',
        grpc_service: 'etcdserverpb.KV',
        grpc_method: method,
        grpc_code: code,
      }) ?? 0;
    const before = await scrape();
    await leaderClient.put('counted', 'once');
    await refused(leaderClient.put('', 'v'), status.INVALID_ARGUMENT);
    const after = await scrape();
    expect(handled(after, 'Put', 'OK') - handled(before, 'Put', 'OK')).toBe(1);
    expect(
      handled(after, 'Put', 'InvalidArgument') - handled(before, 'Put', 'InvalidArgument'),
    ).toBe(1);
    expect(
      sampleOf(after, 'grpc_server_handling_seconds_count', { grpc_method: 'Put' }),
    ).toBeGreaterThanOrEqual(2);
  });

  it('lists the members with stable 64-bit ids, peer and client URLs', async () => {
    const list = await followerClient.memberList();
    expect(list.members.map((m) => m.name).sort()).toEqual(['n1', 'n2', 'n3']);
    for (const m of list.members) {
      const i = cluster.servers.findIndex((s) => s.config.id === m.name);
      const server = cluster.servers[i];
      expect(m.ID).toBe(memberId(m.name));
      expect(m.ID > 2n ** 32n).toBe(true);
      expect(m.peerURLs).toEqual([`http://${server?.raftAddress}`]);
      expect(m.clientURLs).toEqual([`http://${cluster.etcdEndpoints[i]}`]);
      expect(m.isLearner).toBe(false);
    }
  });

  it("reports each member's status: leader, raft index and term, applied index", async () => {
    const leader = await waitForLeader(cluster.endpoints, { timeoutMs: 10_000 });
    const s = await followerClient.status();
    expect(s.version).toBe(ETCD_API_VERSION);
    expect(s.leader).toBe(memberId(leader.id));
    expect(s.raftTerm).toBeGreaterThan(0n);
    expect(s.raftAppliedIndex).toBeGreaterThan(0n);
    expect(s.raftIndex).toBeGreaterThanOrEqual(s.raftAppliedIndex);
    expect(s.header?.memberId).not.toBe(memberId(leaderId));
    expect((await leaderClient.status()).header?.memberId).toBe(memberId(leaderId));
  });

  it('a watch on a prefix, on a follower, hears puts and deletes as they are applied', async () => {
    const w = watchStream(followerClient.endpoint);
    try {
      w.create({ key: bytes('watched/'), rangeEnd: prefixEnd(bytes('watched/')), prevKv: true });
      const [created] = await w.until(1);
      expect(created).toMatchObject({ created: true, watchId: 0n });
      await leaderClient.put('watched/a', '1');
      await leaderClient.put('unwatched', 'x');
      await followerClient.put('watched/a', '2');
      await leaderClient.delete('watched/a');
      const answers = (await w.until(4)).slice(1);
      expect(answers.map(describeEvents)).toEqual([
        ['PUT watched/a=1'],
        ['PUT watched/a=2 (was 1)'],
        ['DELETE watched/a (was 2)'],
      ]);
      // Each answer is headed by the revision of its change; the delete's kv carries it too.
      const last = answers[2] as WatchResponse;
      expect(last.events[0]?.kv?.modRevision).toBe(last.header?.revision);
      // A second watch on the same stream gets the next id; cancelling it is acknowledged.
      w.create({ key: bytes('other') });
      w.send({ requestUnion: { $case: 'cancelRequest', value: { watchId: 1n } } });
      const [second, cancelled] = (await w.until(6)).slice(4);
      expect(second).toMatchObject({ created: true, watchId: 1n });
      expect(cancelled).toMatchObject({ canceled: true, watchId: 1n });
    } finally {
      w.close();
    }
  });

  it('a watch from a past revision replays its changes; filters drop puts or deletes', async () => {
    const first = await leaderClient.put('past/a', '1');
    await leaderClient.put('past/b', '2');
    await leaderClient.delete('past/a');
    const from = first.header?.revision ?? 0n;
    const w = watchStream(leaderClient.endpoint);
    try {
      w.create({ key: bytes('past/'), rangeEnd: prefixEnd(bytes('past/')), startRevision: from });
      w.create({
        key: bytes('past/'),
        rangeEnd: prefixEnd(bytes('past/')),
        startRevision: from,
        filters: [WatchCreateRequest_FilterType.NOPUT],
      });
      const r = await w.until(4);
      const byWatch = (id: bigint) => r.filter((x) => x.watchId === id).flatMap(describeEvents);
      expect(byWatch(0n)).toEqual(['PUT past/a=1', 'PUT past/b=2', 'DELETE past/a']);
      expect(byWatch(1n)).toEqual(['DELETE past/a']);
    } finally {
      w.close();
    }
  });

  it('answers UNIMPLEMENTED for what it does not serve (leases, Lease service)', async () => {
    await refused(
      leaderClient.txn(
        [],
        [
          {
            request: {
              $case: 'requestPut',
              value: {
                key: bytes('l'),
                value: bytes('v'),
                lease: 7n,
                prevKv: false,
                ignoreValue: false,
                ignoreLease: false,
              },
            },
          },
        ],
      ),
      status.NOT_FOUND,
      /lease not found/,
    );
    const channel = leaderClient.kv.getChannel();
    const call = channel.createCall(
      '/etcdserverpb.Lease/LeaseGrant',
      Date.now() + 5000,
      null,
      null,
      0,
    );
    const code = await new Promise<status>((resolve) => {
      call.start(new Metadata(), {
        onReceiveMetadata: () => {},
        onReceiveMessage: () => {},
        onReceiveStatus: (s) => resolve(s.code),
      });
      call.halfClose();
    });
    expect(status[code]).toBe(status[status.UNIMPLEMENTED]);
  });
});
