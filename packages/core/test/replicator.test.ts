import { describe, expect, it } from 'vitest';
import {
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  type CallOptions,
  type Clock,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
  type TimerHandle,
  type Transport,
  UnreachableError,
} from '../src/index.js';
import { resolveOptions } from '../src/internal.js';
import { LogManager } from '../src/log-manager.js';
import { Replicator, type ReplicatorHost } from '../src/replicator.js';
import { entry, flush, GatedLogStorage, ManualClock } from './fakes.js';

/** A transport that records AppendEntries and lets the test answer each one. */
class ScriptedTransport implements Transport {
  readonly sent: Array<{
    req: AppendEntriesRequest;
    timeoutMs: number | undefined;
    resolve: (r: AppendEntriesResponse) => void;
    reject: (e: Error) => void;
  }> = [];
  call<M extends RpcMethod>(
    _m: M,
    request: RpcRequest<M>,
    o?: CallOptions,
  ): Promise<RpcResponse<M>> {
    return new Promise((resolve, reject) => {
      this.sent.push({
        req: request as AppendEntriesRequest,
        timeoutMs: o?.timeoutMs,
        resolve: resolve as (r: AppendEntriesResponse) => void,
        reject,
      });
    });
  }
  serve() {
    return () => {};
  }
  async close() {}
}

async function setup(opts: {
  lastIndex: number;
  clock?: Clock;
  maxEntriesPerRpc?: number;
  maxInflightRpcs?: number;
  maxInflightBytes?: number;
  maxBytesPerRpc?: number;
  maxPartialInflightRpcs?: number;
  /** Bytes of each entry's data (default: its index as text). */
  entryBytes?: number;
}) {
  const clock = opts.clock ?? new ManualClock();
  const transport = new ScriptedTransport();
  const storage = new GatedLogStorage();
  const log = new LogManager({
    storage,
    initialConfiguration: { index: 0, term: 0, configuration: { voters: ['a', 'b'] } },
    onDurable: () => {},
    onStorageError: () => {},
  });
  await log.load();
  const data = (i: number) => (opts.entryBytes ? 'x'.repeat(opts.entryBytes) : `${i}`);
  const entries = Array.from({ length: opts.lastIndex }, (_, i) =>
    entry(i + 1, i < 5 ? 1 : 2, data(i + 1)),
  );
  log.appendLocal(entries);
  const matches: number[] = [];
  const higher: number[] = [];
  const options = resolveOptions({
    groupId: 'g',
    peerId: 'a',
    transport,
    logStorage: storage,
    metaStorage: {
      load: async () => ({ term: 0, votedFor: null }),
      save: async () => {},
      close: async () => {},
    },
    stateMachine: { onApply: () => undefined },
    electionTimeoutMs: 100,
    clock,
    maxEntriesPerRpc: opts.maxEntriesPerRpc ?? 4,
    maxInflightRpcs: opts.maxInflightRpcs ?? 3,
    ...(opts.maxInflightBytes ? { maxInflightBytes: opts.maxInflightBytes } : {}),
    ...(opts.maxBytesPerRpc ? { maxBytesPerRpc: opts.maxBytesPerRpc } : {}),
    ...(opts.maxPartialInflightRpcs ? { maxPartialInflightRpcs: opts.maxPartialInflightRpcs } : {}),
  });
  const host: ReplicatorHost = {
    options: options as never,
    log,
    commitIndex: () => 0,
    onMatch: (_p, m) => matches.push(m),
    onAck: () => {},
    onHigherTerm: (t) => higher.push(t),
    openSnapshot: async () => null,
  };
  const r = new Replicator(host, 'b', 2);
  /** The leader appends entries of term 2 after its last, as proposals do. */
  const propose = (count: number) => {
    const first = log.lastIndex + 1;
    log.appendLocal(Array.from({ length: count }, (_, i) => entry(first + i, 2, data(first + i))));
  };
  return { r, transport, matches, higher, clock, log, propose };
}

/** Probes once and gets a match at `last`: the replicator is then pipelining. */
async function matchedAt(r: Replicator, transport: ScriptedTransport, last: number): Promise<void> {
  r.start();
  transport.sent[0]?.resolve(ok(last));
  await flush();
}

const ok = (last: number): AppendEntriesResponse => ({
  term: 2,
  success: true,
  lastLogIndex: last,
});

describe('Replicator', () => {
  it('probes from the end of the log, backs off with the follower hint, then pipelines full batches while one partial batch at a time is in flight', async () => {
    const { r, transport, matches, propose } = await setup({ lastIndex: 12 });
    r.start();
    expect(transport.sent).toHaveLength(1);
    const probe = transport.sent[0];
    expect(probe?.req.prevLogIndex).toBe(12);
    // The follower has only 3 entries: the next probe starts right after them.
    probe?.resolve({ term: 2, success: false, lastLogIndex: 3 });
    await flush();
    const second = transport.sent[1];
    expect(second?.req.prevLogIndex).toBe(3);
    expect(second?.req.entries.map((e) => e.index)).toEqual([4, 5, 6, 7]);
    second?.resolve(ok(7));
    await flush();
    expect(matches).toEqual([7]);
    // Now pipelined: a full batch (maxEntriesPerRpc = 4), and the partial rest behind it.
    const sentNow = () => transport.sent.slice(2).map((s) => s.req.entries.map((e) => e.index));
    expect(sentNow()).toEqual([[8, 9, 10, 11], [12]]);
    expect(r.status().state).toBe('replicate');
    // A partial batch is in flight (maxPartialInflightRpcs = 1): new entries wait, although
    // the window (maxInflightRpcs = 3) has room ...
    propose(1);
    r.kick();
    propose(1);
    r.kick();
    expect(sentNow()).toEqual([[8, 9, 10, 11], [12]]);
    // ... until the partial one is answered; the full one may still be in flight.
    transport.sent[3]?.resolve(ok(12));
    await flush();
    expect(sentNow()).toEqual([[8, 9, 10, 11], [12], [13, 14]]);
  });

  it('with maxPartialInflightRpcs = 2, a second partial batch pipelines behind the first', async () => {
    const { r, transport, propose } = await setup({ lastIndex: 3, maxPartialInflightRpcs: 2 });
    await matchedAt(r, transport, 3);
    const sentNow = () => transport.sent.slice(1).map((s) => s.req.entries.map((e) => e.index));
    for (let i = 0; i < 3; i++) {
      propose(1);
      r.kick();
    }
    expect(sentNow()).toEqual([[4], [5]]);
    transport.sent[1]?.resolve(ok(4));
    await flush();
    expect(sentNow()).toEqual([[4], [5], [6]]);
  });

  it('maxPartialInflightRpcs must lie between 1 and maxInflightRpcs', async () => {
    await expect(setup({ lastIndex: 1, maxPartialInflightRpcs: 4 })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
    await expect(setup({ lastIndex: 1, maxPartialInflightRpcs: 0.5 })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
  });

  it('a lone proposal on an idle pipeline is sent at once, without waiting for a turn or a timer', async () => {
    const { r, transport, clock, propose } = await setup({ lastIndex: 3 });
    await matchedAt(r, transport, 3);
    expect(r.status().inflightRpcs).toBe(0);
    const before = transport.sent.length;
    const timersBefore = (clock as ManualClock).armed;
    propose(1);
    r.kick();
    // Synchronously, in the same turn: no microtask, no timer in between.
    expect(transport.sent.length).toBe(before + 1);
    expect(transport.sent.at(-1)?.req.entries.map((e) => e.index)).toEqual([4]);
    expect((clock as ManualClock).armed).toBe(timersBefore);
  });

  it('proposals arriving one per turn while an AppendEntries is in flight leave together in one request when it is answered', async () => {
    const { r, transport, propose } = await setup({ lastIndex: 3, maxEntriesPerRpc: 64 });
    await matchedAt(r, transport, 3);
    propose(1);
    r.kick();
    const first = transport.sent.length - 1;
    expect(transport.sent[first]?.req.entries.map((e) => e.index)).toEqual([4]);
    // Five proposals, each in its own macrotask, as requests read from sockets arrive.
    for (let i = 0; i < 5; i++) {
      await flush();
      propose(1);
      r.kick();
    }
    expect(transport.sent.length).toBe(first + 1);
    transport.sent[first]?.resolve(ok(4));
    await flush();
    expect(transport.sent.length).toBe(first + 2);
    expect(transport.sent[first + 1]?.req.entries.map((e) => e.index)).toEqual([5, 6, 7, 8, 9]);
  });

  it('what waits behind a partial request left a heartbeat interval without an answer goes on the heartbeat tick', async () => {
    // electionTimeoutMs 100: heartbeat 10 ms, rpcTimeoutMs 50 ms.
    const { r, transport, clock, propose } = await setup({ lastIndex: 3, maxEntriesPerRpc: 64 });
    const manual = clock as ManualClock;
    await matchedAt(r, transport, 3);
    propose(1);
    r.kick();
    propose(2);
    r.kick();
    const sentNow = () => transport.sent.slice(1).map((s) => s.req.entries.map((e) => e.index));
    expect(sentNow()).toEqual([[4]]);
    manual.advance(9);
    expect(sentNow()).toEqual([[4]]);
    // The answer to [4] is late: after a heartbeat interval, [5, 6] goes without it.
    manual.advance(1);
    expect(sentNow()).toEqual([[4], [5, 6]]);
    // And the late answers still move the pipeline on, as ever.
    transport.sent[1]?.resolve(ok(4));
    transport.sent[2]?.resolve(ok(6));
    await flush();
    expect(r.matchIndex).toBe(6);
  });

  it('64 KiB values: full batches (by bytes) pipeline up to the byte window, a partial one follows them', async () => {
    const KiB = 1024;
    const { r, transport, propose } = await setup({
      lastIndex: 1,
      entryBytes: 64 * KiB,
      maxEntriesPerRpc: 1024,
      maxInflightRpcs: 64,
      maxBytesPerRpc: 128 * KiB,
      maxInflightBytes: 512 * KiB,
    });
    await matchedAt(r, transport, 1);
    const sentNow = () => transport.sent.slice(1).map((s) => s.req.entries.map((e) => e.index));
    propose(9);
    r.kick();
    // Four requests of 128 KiB fill the byte window; entry 10 waits for room.
    expect(sentNow()).toEqual([
      [2, 3],
      [4, 5],
      [6, 7],
      [8, 9],
    ]);
    transport.sent[1]?.resolve(ok(3));
    await flush();
    // Room again, and no partial request in flight: entry 10 leaves behind the full ones.
    expect(sentNow().at(-1)).toEqual([10]);
    // Behind a partial request, one more entry waits; two fill a request and leave.
    propose(1);
    r.kick();
    expect(sentNow().at(-1)).toEqual([10]);
    propose(1);
    r.kick();
    expect(sentNow().at(-1)).toEqual([11, 12]);
  });

  it('jumps over a whole conflicting term using conflictTerm/conflictIndex', async () => {
    const { r, transport } = await setup({ lastIndex: 12 });
    r.start();
    // The follower has term 7 at index 12, which the leader never had; its term-7 run starts at 6.
    transport.sent[0]?.resolve({
      term: 2,
      success: false,
      lastLogIndex: 14,
      conflictTerm: 7,
      conflictIndex: 6,
    });
    await flush();
    expect(transport.sent[1]?.req.prevLogIndex).toBe(5);
    // Follower holds term 1 at 9 (the leader's term-1 run ends at 5): resume after the leader's run.
    transport.sent[1]?.resolve({
      term: 2,
      success: false,
      lastLogIndex: 14,
      conflictTerm: 1,
      conflictIndex: 2,
    });
    await flush();
    expect(transport.sent[2]?.req.prevLogIndex).toBeLessThan(5);
  });

  it('a late success of a reset pipeline still moves matchIndex (never back), and replication goes on from there', async () => {
    const { r, transport, matches } = await setup({ lastIndex: 12, maxInflightRpcs: 3 });
    r.start();
    transport.sent[0]?.resolve({ term: 2, success: false, lastLogIndex: 0 });
    await flush();
    transport.sent[1]?.resolve(ok(4));
    await flush();
    const [a, b] = transport.sent.slice(2);
    // b fails (lost), which resets the pipeline to a probe from 5; then a's success arrives:
    // the follower holds 5..8, whatever happened to the pipeline since.
    b?.reject(new UnreachableError('b'));
    await flush();
    a?.resolve(ok(8));
    await flush();
    expect(matches).toEqual([4, 8]);
    expect(r.matchIndex).toBe(8);
    expect(r.status().state).toBe('replicate');
    // Replication goes on after 8 at once, not after the probe from 5 is answered.
    expect(transport.sent.at(-1)?.req.prevLogIndex).toBe(8);
    // An older success (of the probe from 5) changes nothing: matchIndex never moves back.
    const probeFrom5 = transport.sent.find((s, i) => i > 3 && s.req.prevLogIndex === 4);
    probeFrom5?.resolve(ok(8));
    await flush();
    expect(matches).toEqual([4, 8]);
  });

  it('calls stay open for late answers: their deadline is the reply horizon, not rpcTimeoutMs', async () => {
    const { r, transport } = await setup({ lastIndex: 3 });
    r.start();
    // electionTimeoutMs 100, rpcTimeoutMs 50 by default: the horizon is 10 election timeouts.
    expect(transport.sent[0]?.timeoutMs).toBe(1000);
  });

  it('a probe unanswered for rpcTimeoutMs is sent again on a heartbeat tick, and the late answer of the first still counts', async () => {
    const { r, transport, clock, matches } = await setup({ lastIndex: 3 });
    const manual = clock as ManualClock;
    r.start();
    const probes = () =>
      transport.sent.filter((s) => s.req.entries.length > 0 || s.req.prevLogIndex === 3);
    expect(probes()).toHaveLength(1);
    // The first probe is rejected: the follower is empty. The probe from 1 then goes unanswered.
    transport.sent[0]?.resolve({ term: 2, success: false, lastLogIndex: 0 });
    await flush();
    const first = transport.sent[1];
    expect(first?.req.prevLogIndex).toBe(0);
    manual.advance(40);
    // Heartbeats only, before rpcTimeoutMs (50 ms).
    expect(transport.sent.filter((s) => s.req.entries.length > 0)).toHaveLength(1);
    manual.advance(20);
    const resent = transport.sent.filter((s) => s.req.entries.length > 0);
    expect(resent).toHaveLength(2);
    expect(resent[1]?.req.prevLogIndex).toBe(0);
    // Now the first one's answer arrives, long after rpcTimeoutMs: it counts.
    first?.resolve(ok(3));
    await flush();
    expect(matches).toEqual([3]);
    expect(r.status().state).toBe('replicate');
  });

  it('a pipelined request left unanswered is followed by one request from matchIndex + 1, not by the whole window again', async () => {
    const { r, transport, clock, log } = await setup({ lastIndex: 4, maxInflightRpcs: 3 });
    const manual = clock as ManualClock;
    r.start();
    transport.sent[0]?.resolve({ term: 2, success: false, lastLogIndex: 0 });
    await flush();
    transport.sent[1]?.resolve(ok(4));
    await flush();
    log.appendLocal([5, 6, 7, 8, 9, 10, 11, 12].map((i) => entry(i, 2)));
    r.kick();
    const window = transport.sent.slice(2).filter((s) => s.req.entries.length > 0);
    expect(window.map((s) => s.req.prevLogIndex)).toEqual([4, 8]);
    const before = transport.sent.length;
    manual.advance(60);
    const after = transport.sent.slice(before).filter((s) => s.req.entries.length > 0);
    expect(after.map((s) => s.req.prevLogIndex)).toEqual([4]);
    expect(r.status().state).toBe('probe');
  });

  it('on a link that swallows everything, re-sending stops once open calls hold maxInflightBytes', async () => {
    const { r, transport, clock } = await setup({ lastIndex: 3, maxInflightBytes: 4 });
    r.start();
    transport.sent[0]?.resolve({ term: 2, success: false, lastLogIndex: 0 });
    await flush();
    // Probes of entries 1..3 (3 data bytes each) go unanswered for a long while.
    (clock as ManualClock).advance(500);
    const withEntries = transport.sent.filter((s) => s.req.entries.length > 0);
    expect(withEntries).toHaveLength(2);
    // Heartbeats still go out meanwhile.
    expect(transport.sent.length).toBeGreaterThan(30);
  });

  it('a transport error backs off before probing again', async () => {
    const { r, transport, clock } = await setup({ lastIndex: 3 });
    r.start();
    const probes = () => transport.sent.filter((s) => s.req.prevLogIndex === 3).length;
    expect(probes()).toBe(1);
    transport.sent[0]?.reject(new UnreachableError('b'));
    await flush();
    (clock as ManualClock).advance(5);
    expect(probes()).toBe(1);
    (clock as ManualClock).advance(10);
    expect(probes()).toBe(2);
  });

  it('a response from a later term makes the leader step down', async () => {
    const { r, transport, higher } = await setup({ lastIndex: 3 });
    r.start();
    transport.sent[0]?.resolve({ term: 9, success: false, lastLogIndex: 0 });
    await flush();
    expect(higher).toEqual([9]);
  });

  it('heartbeats at prevLogIndex = matchIndex, and a clock that reads a hair early does not spin the timer', async () => {
    // Regression: with a drifting clock a timer could fire a hair before its deadline as read
    // by now(); the heartbeat timer then re-armed itself with a near-zero delay, forever.
    const inner = new ManualClock();
    let armedTiny = 0;
    const early: Clock = {
      now: () => inner.now(),
      setTimer: (fn: () => void, ms: number): TimerHandle => {
        if (ms < 0.5) armedTiny++;
        return inner.setTimer(fn, Math.max(0, ms - 1e-9));
      },
      clearTimer: (h: TimerHandle) => inner.clearTimer(h),
    };
    const { r, transport } = await setup({ lastIndex: 2, clock: early });
    r.start();
    transport.sent[0]?.resolve(ok(2));
    await flush();
    const sentBefore = transport.sent.length;
    inner.advance(35);
    const heartbeats = transport.sent.slice(sentBefore).map((s) => s.req);
    expect(heartbeats.length).toBe(3);
    for (const h of heartbeats) {
      expect(h.entries).toEqual([]);
      expect(h.prevLogIndex).toBe(2);
    }
    expect(armedTiny).toBe(0);
    r.stop();
  });
});
