import {
  ErrorCode,
  InvalidOptionError,
  type LogStorage,
  type NodeOptions,
  RaftError,
  RaftNode,
  type RequestVoteRequest,
  StorageError,
} from '@kontiki/core';
import { nodeInternals } from '@kontiki/core/internal';
import { MemoryLogStorage, MemoryMetaStorage } from '@kontiki/storage-memory';
import { MemoryNetwork } from '@kontiki/transport-memory';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../src/index.js';

const T = 100;
const bytes = (s: string) => new TextEncoder().encode(s);

async function started(
  seed: number,
  options: Partial<ConstructorParameters<typeof SimCluster>[0]> = {},
) {
  const c = new SimCluster({ seed, peers: 3, electionTimeoutMs: T, ...options });
  await c.start();
  const leader = await c.waitForLeader();
  const followers = c.peers.filter((p) => p !== leader.id);
  return { c, leader, followers };
}

/** Settles a promise into a plain outcome so tests can look at it without awaiting. */
function watch<V>(p: Promise<V>) {
  const out: { value?: V; error?: unknown; settled: boolean } = { settled: false };
  p.then(
    (v) => {
      out.value = v;
      out.settled = true;
    },
    (e: unknown) => {
      out.error = e;
      out.settled = true;
    },
  );
  return out;
}

describe('node.apply', () => {
  it('on a follower fails with NOT_LEADER naming the leader', async () => {
    const { c, leader, followers } = await started(31);
    const f = c.node(followers[0] as string);
    await c.runUntil(() => f?.leader === leader.id, 'the follower to know its leader');
    const e = await f?.apply(bytes('x')).catch((err: unknown) => err);
    expect(RaftError.is(e, ErrorCode.NOT_LEADER)).toBe(true);
    expect((e as { leaderId?: string }).leaderId).toBe(leader.id);
    await c.stop();
  });

  it('rejects data that is not a Uint8Array with BAD_REQUEST', async () => {
    const { c, leader } = await started(32);
    const e = await leader.apply('text' as unknown as Uint8Array).catch((err: unknown) => err);
    expect(RaftError.is(e, ErrorCode.BAD_REQUEST)).toBe(true);
    await c.stop();
  });

  it('applies backpressure: beyond maxPendingProposals it fails with BUSY, and recovers', async () => {
    const { c, leader } = await started(33, { nodeOptions: { maxPendingProposals: 5 } });
    const out = Array.from({ length: 8 }, (_, i) => watch(leader.apply(bytes(`b${i}`))));
    await c.runUntil(() => out.every((o) => o.settled), 'all proposals to settle');
    expect(out.filter((o) => o.value).length).toBe(5);
    const busy = out.filter((o) => o.error);
    expect(busy.length).toBe(3);
    for (const b of busy) expect(RaftError.is(b.error, ErrorCode.BUSY)).toBe(true);
    const again = await c.propose('after-busy');
    expect(again.result).toBe(`${again.index}:after-busy`);
    await c.stop();
  });

  it('fails with TERM_MISMATCH when expectedTerm is not the leader term', async () => {
    const { c, leader } = await started(34);
    const e = await leader
      .apply(bytes('x'), { expectedTerm: leader.term + 1 })
      .catch((err: unknown) => err);
    expect(RaftError.is(e, ErrorCode.TERM_MISMATCH)).toBe(true);
    const ok = watch(leader.apply(bytes('y'), { expectedTerm: leader.term }));
    await c.runUntil(() => ok.settled, 'the proposal');
    expect(ok.value?.term).toBe(leader.term);
    await c.stop();
  });

  it('honours an AbortSignal: before appending nothing is written; after, the caller stops waiting', async () => {
    const { c, leader } = await started(35);
    const before = leader.status().lastLogIndex;
    const e = await leader
      .apply(bytes('never'), { signal: AbortSignal.abort() })
      .catch((err: unknown) => err);
    expect(RaftError.is(e, ErrorCode.ABORTED)).toBe(true);
    expect(leader.status().lastLogIndex).toBe(before);

    const ac = new AbortController();
    const late = watch(leader.apply(bytes('maybe'), { signal: ac.signal }));
    ac.abort();
    await c.runUntil(() => late.settled, 'the aborted proposal');
    expect(RaftError.is(late.error, ErrorCode.ABORTED)).toBe(true);
    // It was appended already, so it still commits and applies.
    await c.runUntil(() => c.appliedKeys(leader.id).includes('maybe'), 'the entry to apply anyway');
    await c.stop();
  });

  it('a leader that steps down fails every pending proposal at once with LEADER_STEPPED_DOWN', async () => {
    const { c, leader } = await started(36);
    c.network.isolate(leader.id, c.peers);
    const pending = Array.from({ length: 10 }, (_, i) => watch(leader.apply(bytes(`p${i}`))));
    let steppedDownAt = -1;
    leader.on('roleChange', (e) => {
      if (e.previous === 'leader') steppedDownAt = c.now;
    });
    await c.runUntil(() => leader.role !== 'leader', 'check-quorum to depose the leader', 3 * T);
    expect(steppedDownAt).toBeGreaterThan(0);
    // Settled in the same step as the step-down, not a timeout later.
    expect(pending.every((p) => p.settled)).toBe(true);
    for (const p of pending)
      expect(RaftError.is(p.error, ErrorCode.LEADER_STEPPED_DOWN)).toBe(true);
    await c.stop();
  });
});

describe('node lifecycle', () => {
  it('shutdown is idempotent, fails pending work with SHUTDOWN and leaves no timer armed', async () => {
    const { c, leader } = await started(41);
    c.network.isolate(leader.id, c.peers);
    const pending = watch(leader.apply(bytes('pending')));
    const read = watch(leader.readIndex());
    const a = leader.shutdown();
    const b = leader.shutdown();
    expect(a).toBe(b);
    await c.settle(a);
    expect(RaftError.is(pending.error, ErrorCode.SHUTDOWN)).toBe(true);
    await c.runUntil(() => read.settled, 'the read to fail');
    expect(RaftError.is(read.error, ErrorCode.SHUTDOWN)).toBe(true);
    expect(leader.role).toBe('shutdown');
    expect(c.clock(leader.id)?.activeTimers).toBe(0);
    const after = await leader.apply(bytes('late')).catch((err: unknown) => err);
    expect(RaftError.is(after, ErrorCode.SHUTDOWN)).toBe(true);
    await c.stop();
  });

  it('a storage failure stops the node in the error role and tells the state machine', async () => {
    let failWrites = false;
    const errors: string[] = [];
    const c = new SimCluster({
      seed: 42,
      peers: 3,
      electionTimeoutMs: T,
      wrapLogStorage: (_peer, _group, storage): LogStorage => ({
        ...bind(storage),
        append: (entries) =>
          failWrites ? Promise.reject(new Error('disk on fire')) : storage.append(entries),
      }),
      wrapStateMachine: (peer, _group, sm) => ({
        onApply: (entries) => sm.onApply(entries),
        onError: (e) => errors.push(`${peer}:${e.code}`),
      }),
    });
    await c.start();
    const leader = await c.waitForLeader();
    failWrites = true;
    const p = watch(leader.apply(bytes('doomed')));
    await c.runUntil(() => leader.role === 'error', 'the leader to stop on the error');
    expect(errors).toContain(`${leader.id}:${ErrorCode.STORAGE}`);
    await c.runUntil(() => p.settled, 'the proposal to fail');
    expect(RaftError.is(p.error)).toBe(true);
    await c.stop();
  });

  it('tells the state machine about leadership and following, in order', async () => {
    const events: string[] = [];
    const c = new SimCluster({
      seed: 43,
      peers: 3,
      electionTimeoutMs: T,
      wrapStateMachine: (peer, _group, sm) => ({
        onApply: (entries) => sm.onApply(entries),
        onLeaderStart: (term) => events.push(`${peer} leader-start ${term}`),
        onLeaderStop: (e) => events.push(`${peer} leader-stop ${e.code}`),
        onStartFollowing: (ctx) => events.push(`${peer} follow ${ctx.leaderId}`),
        onStopFollowing: (ctx) => events.push(`${peer} unfollow ${ctx.leaderId}`),
        onShutdown: () => events.push(`${peer} shutdown`),
      }),
    });
    await c.start();
    const leader = await c.waitForLeader();
    await c.runUntil(
      () => events.includes(`${leader.id} leader-start ${leader.term}`),
      'onLeaderStart',
    );
    const followers = c.peers.filter((p) => p !== leader.id);
    await c.runUntil(
      () => followers.every((f) => events.includes(`${f} follow ${leader.id}`)),
      'onStartFollowing on both followers',
    );
    // The leader is told only once its first entry of the term is applied.
    expect(leader.appliedIndex).toBeGreaterThanOrEqual(
      nodeInternals(leader).log.firstIndexOfTerm(leader.term) ?? 1,
    );
    c.network.isolate(leader.id, c.peers);
    await c.runUntil(
      () => events.includes(`${leader.id} leader-stop ${ErrorCode.LEADER_STEPPED_DOWN}`),
      'onLeaderStop',
      3 * T,
    );
    await c.runUntil(
      () => followers.every((f) => events.includes(`${f} unfollow ${leader.id}`)),
      'onStopFollowing',
      6 * T,
    );
    await c.stop();
    for (const p of c.peers) expect(events).toContain(`${p} shutdown`);
  });

  it('emits roleChange and leaderChange events', async () => {
    const c = new SimCluster({ seed: 44, peers: 3, electionTimeoutMs: T });
    await c.start();
    const seen: string[] = [];
    for (const p of c.peers) {
      const n = c.node(p);
      n?.on('roleChange', (e) => seen.push(`${p}:${e.previous}->${e.role}@${e.term}`));
      n?.on('leaderChange', (e) => seen.push(`${p}:leader=${e.leaderId ?? '-'}@${e.term}`));
    }
    const leader = await c.waitForLeader();
    expect(seen).toContain(`${leader.id}:follower->candidate@${leader.term}`);
    expect(seen).toContain(`${leader.id}:candidate->leader@${leader.term}`);
    expect(seen).toContain(`${leader.id}:leader=${leader.id}@${leader.term}`);
    expect(seen.indexOf(`${leader.id}:follower->candidate@${leader.term}`)).toBeLessThan(
      seen.indexOf(`${leader.id}:candidate->leader@${leader.term}`),
    );
    await c.stop();
  });

  it('status() reports the role, indexes and, on a leader, each follower', async () => {
    const { c, leader } = await started(45);
    const r = await c.propose('s');
    await c.runFor(2 * T);
    const s = leader.status();
    expect(s).toMatchObject({
      role: 'leader',
      leaderId: leader.id,
      term: leader.term,
      groupId: 'g',
    });
    expect(s.commitIndex).toBeGreaterThanOrEqual(r.index);
    expect(s.appliedIndex).toBeGreaterThanOrEqual(r.index);
    expect(s.lastLogIndex).toBe(r.index);
    expect(s.peers.map((p) => p.peerId).sort()).toEqual(
      c.peers.filter((p) => p !== leader.id).sort(),
    );
    for (const p of s.peers) {
      expect(p.matchIndex).toBe(r.index);
      expect(p.nextIndex).toBe(r.index + 1);
      expect(p.state).toBe('replicate');
      expect(p.lastAckAt).toBeGreaterThan(0);
    }
    const f = c.node(c.peers.find((p) => p !== leader.id) as string)?.status();
    expect(f?.peers).toEqual([]);
    expect(f?.role).toBe('follower');
    await c.stop();
  });
});

describe('reads (ReadIndex)', () => {
  it('a read on the leader or a follower returns after everything committed before it is applied locally', async () => {
    const { c, leader, followers } = await started(51);
    const w = await c.propose('w1');
    const onLeader = await c.settle(leader.readIndex());
    expect(onLeader).toBeGreaterThanOrEqual(w.index);
    const f = c.node(followers[0] as string);
    if (!f) throw new Error('no follower');
    const onFollower = await c.settle(f.readIndex());
    expect(onFollower).toBeGreaterThanOrEqual(w.index);
    expect(f.appliedIndex).toBeGreaterThanOrEqual(w.index);
    expect(c.appliedKeys(f.id)).toContain('w1');
    await c.stop();
  });

  it('a leader cut off from its quorum does not confirm a read', async () => {
    const { c, leader } = await started(52);
    c.network.isolate(leader.id, c.peers);
    const read = watch(leader.readIndex({ timeoutMs: T / 2 }));
    await c.runUntil(() => read.settled, 'the read to end', 2 * T);
    expect(read.value).toBeUndefined();
    expect(RaftError.is(read.error)).toBe(true);
    await c.stop();
  });
});

describe('lease reads', () => {
  it('a leader inside its lease answers a lease read without a round of messages', async () => {
    const { c, leader } = await started(53);
    const w = await c.propose('w');
    await c.runFor(2 * T);
    const before = c.network.stats.requests;
    const read = watch(leader.readIndex({ mode: 'lease' }));
    // Let the promises settle without running any event (virtual time stands still).
    await new Promise((r) => setImmediate(r));
    expect(read.settled).toBe(true);
    expect(read.value).toBeGreaterThanOrEqual(w.index);
    expect(c.network.stats.requests).toBe(before);
    const safe = watch(leader.readIndex({ mode: 'safe' }));
    await c.runUntil(() => safe.settled, 'the safe read');
    expect(c.network.stats.requests).toBeGreaterThan(before);
    await c.stop();
  });

  it('an isolated leader stops answering lease reads once its lease has run out', async () => {
    const { c, leader } = await started(54);
    await c.propose('w');
    c.network.isolate(leader.id, c.peers);
    // Wait past electionTimeout - maxClockDrift since the last acknowledgement.
    await c.runFor(T);
    const read = watch(leader.readIndex({ mode: 'lease', timeoutMs: T / 2 }));
    await c.runUntil(() => read.settled, 'the read to end', 2 * T);
    expect(read.value).toBeUndefined();
    expect(RaftError.is(read.error)).toBe(true);
    await c.stop();
  });
});

describe('leadership transfer (TimeoutNow, DisruptedLeader)', () => {
  it('hands leadership to the named peer, which is elected despite its peers leases', async () => {
    const { c, leader, followers } = await started(61);
    const target = followers[0] as string;
    const disrupted: RequestVoteRequest[] = [];
    c.network.setFilter((m) => {
      if (m.kind === 'request' && m.method === 'requestVote') {
        const req = m.payload as RequestVoteRequest;
        if (req.disruptedLeader) disrupted.push(req);
      }
      return 'deliver';
    });
    const during = watch(leader.transferLeadership(target));
    const blocked = await leader.apply(bytes('during')).catch((e: unknown) => e);
    expect(RaftError.is(blocked, ErrorCode.TRANSFER_IN_PROGRESS)).toBe(true);
    await c.runUntil(() => during.settled, 'the transfer to finish', 3 * T);
    expect(during.error).toBeUndefined();
    await c.runUntil(() => c.node(target)?.role === 'leader', 'the target to lead');
    expect(c.node(target)?.term).toBe(leader.term);
    expect(disrupted.length).toBeGreaterThan(0);
    expect(disrupted[0]?.disruptedLeader?.peerId).toBe(leader.id);
    await c.stop();
  });

  it('gives up after an election timeout when the target cannot be reached, and leads on', async () => {
    const { c, leader, followers } = await started(62);
    const target = followers[0] as string;
    c.network.isolate(target, c.peers);
    const t = watch(leader.transferLeadership(target));
    await c.runUntil(() => t.settled, 'the transfer to time out', 3 * T);
    expect(RaftError.is(t.error, ErrorCode.TIMEOUT)).toBe(true);
    expect(leader.role).toBe('leader');
    const r = await c.propose('after-transfer');
    expect(r.term).toBe(leader.term);
    await c.stop();
  });

  it('refuses a target that is not a voter', async () => {
    const { c, leader } = await started(63);
    const e = await leader.transferLeadership('stranger').catch((err: unknown) => err);
    expect(RaftError.is(e, ErrorCode.BAD_REQUEST)).toBe(true);
    await c.stop();
  });
});

describe('options are validated', () => {
  const network = new MemoryNetwork();
  const base = (): NodeOptions<string> => ({
    groupId: 'g',
    peerId: 'a',
    initialConfiguration: { voters: ['a'] },
    transport: network.endpoint('a'),
    logStorage: new MemoryLogStorage(),
    metaStorage: new MemoryMetaStorage(),
    stateMachine: { onApply: () => undefined },
  });
  const cases: Array<[string, Partial<Record<keyof NodeOptions<string>, unknown>>]> = [
    ['groupId', { groupId: '' }],
    ['peerId', { peerId: 42 }],
    ['transport', { transport: undefined }],
    ['logStorage', { logStorage: {} }],
    ['metaStorage', { metaStorage: null }],
    ['stateMachine', { stateMachine: {} }],
    ['electionTimeoutMs', { electionTimeoutMs: 0 }],
    ['electionTimeoutMs', { electionTimeoutMs: 1.5 }],
    ['electionTimeoutMs', { electionTimeoutMs: '100' }],
    ['electionJitter', { electionJitter: 0 }],
    ['electionJitter', { electionJitter: 1.5 }],
    ['electionJitter', { electionJitter: Number.NaN }],
    ['electionJitter', { electionJitter: '0.3' }],
    ['heartbeatIntervalMs', { electionTimeoutMs: 100, heartbeatIntervalMs: 60 }],
    ['maxClockDriftMs', { electionTimeoutMs: 100, maxClockDriftMs: 100 }],
    ['maxEntriesPerRpc', { maxEntriesPerRpc: 0 }],
    ['maxInflightRpcs', { maxInflightRpcs: -3 }],
    ['maxPendingProposals', { maxPendingProposals: Number.NaN }],
    ['initialConfiguration', { initialConfiguration: { voters: ['a', 'a'] } }],
    ['initialConfiguration', { initialConfiguration: { voters: [] } }],
    ['initialConfiguration', { initialConfiguration: {} }],
    ['random', { random: 4 }],
  ];
  for (const [option, patch] of cases) {
    it(`rejects a bad ${option} (${JSON.stringify(patch)}) with INVALID_OPTION naming it`, () => {
      let thrown: unknown;
      try {
        new RaftNode({ ...base(), ...patch } as NodeOptions<string>);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
      expect((thrown as InvalidOptionError).code).toBe(ErrorCode.INVALID_OPTION);
    });
  }

  it('a storage that is not ready fails start() with a typed error', async () => {
    const broken = new MemoryLogStorage();
    const node = new RaftNode({
      ...base(),
      logStorage: {
        ...bind(broken),
        firstIndex: () => Promise.reject(new StorageError('unreadable')),
      },
    });
    await expect(node.start()).rejects.toSatisfy((e: unknown) =>
      RaftError.is(e, ErrorCode.STORAGE),
    );
  });
});

/** The methods of a storage object bound to it, so that a test can replace some. */
function bind(s: LogStorage): LogStorage {
  return {
    firstIndex: () => s.firstIndex(),
    lastIndex: () => s.lastIndex(),
    entries: (a, b, m) => s.entries(a, b, m),
    term: (i) => s.term(i),
    append: (e) => s.append(e),
    truncateSuffix: (i) => s.truncateSuffix(i),
    truncatePrefix: (i) => s.truncatePrefix(i),
    reset: (i) => s.reset(i),
    close: () => s.close(),
  };
}

describe('node.waitForLeader', () => {
  it('resolves on every node with the same leader; on the leader only once it can serve reads', async () => {
    const c = new SimCluster({ seed: 61, peers: 3, electionTimeoutMs: T });
    await c.start();
    const waits = c.peers.map((p) => watch((c.node(p) as RaftNode<string>).waitForLeader()));
    await c.runUntil(() => waits.every((w) => w.settled), 'every node to know a leader');
    const leaders = new Set(waits.map((w) => w.value));
    expect(leaders.size).toBe(1);
    const leader = c.node([...leaders][0] as string) as RaftNode<string>;
    expect(leader.role).toBe('leader');
    // The leader resolved only once its first entry of the term was applied: a read now
    // needs no wait for that entry.
    const first = nodeInternals(leader).log.firstIndexOfTerm(leader.term) ?? 0;
    expect(leader.appliedIndex).toBeGreaterThanOrEqual(first);
    // Already known: resolves at once.
    expect(await leader.waitForLeader()).toBe(leader.id);
    await c.stop();
  });

  it('rejects with TIMEOUT when no quorum is up to elect anyone', async () => {
    const c = new SimCluster({ seed: 62, peers: 3, electionTimeoutMs: T });
    await c.start();
    c.crash('n2');
    c.crash('n3');
    const w = watch((c.node('n1') as RaftNode<string>).waitForLeader({ timeoutMs: 10 * T }));
    await c.runFor(11 * T);
    expect(w.settled).toBe(true);
    expect(RaftError.is(w.error, ErrorCode.TIMEOUT)).toBe(true);
    await c.stop();
  });

  it('rejects with SHUTDOWN when the node stops, and with ABORTED on its signal', async () => {
    const c = new SimCluster({ seed: 63, peers: 3, electionTimeoutMs: T });
    await c.start();
    c.crash('n2');
    c.crash('n3');
    const n1 = c.node('n1') as RaftNode<string>;
    const controller = new AbortController();
    const aborted = watch(n1.waitForLeader({ signal: controller.signal }));
    const stopped = watch(n1.waitForLeader());
    controller.abort();
    await c.runFor(T);
    expect(RaftError.is(aborted.error, ErrorCode.ABORTED)).toBe(true);
    expect(stopped.settled).toBe(false);
    await n1.shutdown();
    await c.runFor(T);
    expect(RaftError.is(stopped.error, ErrorCode.SHUTDOWN)).toBe(true);
    await expect(n1.waitForLeader()).rejects.toThrow(RaftError);
    await c.stop();
  });
});
