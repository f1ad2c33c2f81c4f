import {
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  ErrorCode,
  NotLeaderError,
  RaftError,
  type RpcHandler,
} from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../src/index.js';

function handler(
  log: number[],
  answer?: (req: AppendEntriesRequest) => Promise<AppendEntriesResponse>,
): RpcHandler {
  const never = () => Promise.reject(new Error('unused'));
  return {
    appendEntries: (req) => {
      log.push(req.prevLogIndex);
      return answer
        ? answer(req)
        : Promise.resolve({ term: req.term, success: true, lastLogIndex: req.prevLogIndex });
    },
    requestVote: never,
    installSnapshot: never,
    timeoutNow: never,
    readIndex: never,
  };
}

const ae = (i: number, to = 'b', from = 'a'): AppendEntriesRequest => ({
  groupId: 'g',
  from,
  to,
  term: 1,
  prevLogIndex: i,
  prevLogTerm: 1,
  entries: [],
  leaderCommit: 0,
});

/** Polls `condition` until it holds; fails after 2 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached within 2 s');
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('MemoryNetwork', () => {
  it('delivers calls to one peer in the order issued, even with random delays', async () => {
    const net = new MemoryNetwork();
    net.setDelay(0, 3);
    const seen: number[] = [];
    net.endpoint('b').serve('g', handler(seen));
    const a = net.endpoint('a');
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.call('appendEntries', ae(i))));
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('lets messages overtake each other only when reordering is on', async () => {
    const net = new MemoryNetwork({
      random: (() => {
        let x = 0;
        return () => {
          x = (x * 9301 + 49297) % 233280;
          return x / 233280;
        };
      })(),
    });
    net.setReorder(true);
    net.setDelay(0, 5);
    const seen: number[] = [];
    net.endpoint('b').serve('g', handler(seen));
    const a = net.endpoint('a');
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.call('appendEntries', ae(i))));
    expect(seen).toHaveLength(50);
    expect(seen).not.toEqual([...seen].sort((x, y) => x - y));
  });

  it('a filter can hold one reply back and let later ones overtake it, the links staying FIFO otherwise', async () => {
    const net = new MemoryNetwork();
    const seen: number[] = [];
    net.endpoint('b').serve('g', handler(seen));
    const a = net.endpoint('a');
    // The reply to request 0 is held for 30 ms outside its link's order; the others pass it.
    net.setFilter((m) =>
      m.kind === 'response' && seen.length === 1 ? { delayMs: 30, overtake: true } : 'deliver',
    );
    const answered: number[] = [];
    const first = a.call('appendEntries', ae(0)).then(() => answered.push(0));
    await until(() => seen.length === 1);
    const rest = Array.from({ length: 5 }, (_, i) =>
      a.call('appendEntries', ae(i + 1)).then(() => answered.push(i + 1)),
    );
    await Promise.all([first, ...rest]);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    expect(answered).toEqual([1, 2, 3, 4, 5, 0]);
  });

  it('a partition stops calls both ways; heal restores them', async () => {
    const net = new MemoryNetwork();
    const seen: number[] = [];
    net.endpoint('b').serve('g', handler(seen));
    const a = net.endpoint('a');
    net.partition(['a'], ['b']);
    const e = await a.call('appendEntries', ae(1), { timeoutMs: 20 }).catch((err: unknown) => err);
    expect(RaftError.is(e, ErrorCode.TIMEOUT)).toBe(true);
    expect(seen).toEqual([]);
    net.heal();
    await a.call('appendEntries', ae(2), { timeoutMs: 20 });
    expect(seen).toEqual([2]);
  });

  it('a one-way cut drops the responses but not the requests', async () => {
    const net = new MemoryNetwork();
    const seen: number[] = [];
    net.endpoint('b').serve('g', handler(seen));
    const a = net.endpoint('a');
    net.cut('b', 'a');
    const e = await a.call('appendEntries', ae(7), { timeoutMs: 20 }).catch((err: unknown) => err);
    expect(RaftError.is(e, ErrorCode.TIMEOUT)).toBe(true);
    expect(seen).toEqual([7]);
    expect(net.isBlocked('b', 'a')).toBe(true);
    net.restore('b', 'a');
    await a.call('appendEntries', ae(8));
  });

  it('drops and duplicates at the configured rates, and counts them', async () => {
    const net = new MemoryNetwork({ random: () => 0.01 });
    const seen: number[] = [];
    net.endpoint('b').serve('g', handler(seen));
    const a = net.endpoint('a');
    net.setDuplicateRate(0.5);
    await a.call('appendEntries', ae(1));
    await until(() => seen.length >= 2);
    // The duplicate reaches the handler too; the caller sees one answer.
    expect(seen).toEqual([1, 1]);
    expect(net.stats.duplicated).toBeGreaterThan(0);
    net.setDuplicateRate(0);
    net.setDropRate(0.5);
    const e = await a.call('appendEntries', ae(2), { timeoutMs: 20 }).catch((err: unknown) => err);
    expect(RaftError.is(e, ErrorCode.TIMEOUT)).toBe(true);
    expect(net.stats.dropped).toBeGreaterThan(0);
    expect(() => net.setDropRate(2)).toThrow(/within \[0, 1\]/);
  });

  it('errors cross by code, with the leader id; an unknown group and an unknown peer are typed', async () => {
    const net = new MemoryNetwork();
    net.endpoint('b').serve(
      'g',
      handler([], () => Promise.reject(new NotLeaderError('c'))),
    );
    const a = net.endpoint('a');
    const e = await a.call('appendEntries', ae(1)).catch((err: unknown) => err);
    expect(RaftError.is(e, ErrorCode.NOT_LEADER)).toBe(true);
    expect((e as NotLeaderError).leaderId).toBe('c');
    const unknown = await a
      .call('appendEntries', { ...ae(1), groupId: 'zzz' })
      .catch((err: unknown) => err);
    expect(RaftError.is(unknown, ErrorCode.UNKNOWN_GROUP)).toBe(true);
    const nobody = await a.call('appendEntries', ae(1, 'nobody')).catch((err: unknown) => err);
    expect(RaftError.is(nobody, ErrorCode.UNREACHABLE)).toBe(true);
  });

  it('closing an endpoint fails the calls in flight to it and lets a new one take its address', async () => {
    const net = new MemoryNetwork();
    let release: (() => void) | undefined;
    const b = net.endpoint('b');
    b.serve(
      'g',
      handler(
        [],
        (req) =>
          new Promise((r) => {
            release = () => r({ term: 1, success: true, lastLogIndex: req.prevLogIndex });
          }),
      ),
    );
    const a = net.endpoint('a');
    const pending = a.call('appendEntries', ae(1)).catch((err: unknown) => err);
    for (let i = 0; i < 100 && release === undefined; i++)
      await new Promise((r) => setImmediate(r));
    expect(release).toBeDefined();
    await b.close();
    expect(RaftError.is(await pending, ErrorCode.UNREACHABLE)).toBe(true);
    release?.();
    const seen: number[] = [];
    net.endpoint('b').serve('g', handler(seen));
    await a.call('appendEntries', ae(3));
    expect(seen).toEqual([3]);
    expect(() => net.endpoint('b').serve('g', handler([]))).toThrow(/already served/);
  });
});
