import { EntryType, type LogEntry } from '@kontiki/core';
import { MemoryLogStorage } from '@kontiki/storage-memory';
import { MemoryNetwork } from '@kontiki/transport-memory';
import { describe, expect, it } from 'vitest';
import { CountingLogStorage, CountingTransport } from '../bench/index.js';

const entry = (index: number): LogEntry => ({
  index,
  term: 1,
  type: EntryType.Data,
  data: new Uint8Array([index]),
});

const appendEntries = (entries: LogEntry[]) => ({
  groupId: 'g',
  from: 'a',
  to: 'b',
  term: 1,
  prevLogIndex: 0,
  prevLogTerm: 0,
  entries,
  leaderCommit: 0,
});

describe('the benchmark counting wrappers', () => {
  it('count the AppendEntries a node sends and the entries in them, and pass calls through', async () => {
    const network = new MemoryNetwork();
    const server = network.endpoint('b');
    const seen: number[] = [];
    server.serve('g', {
      appendEntries: async (r) => {
        seen.push(r.entries.length);
        return { term: 1, success: true, lastLogIndex: r.entries.length };
      },
      requestVote: async () => ({ term: 1, granted: false }),
      installSnapshot: async () => ({ term: 1, success: false }),
      timeoutNow: async () => ({ term: 1, success: false }),
      readIndex: async () => ({ term: 1, success: false, readIndex: 0 }),
    });
    const caller = new CountingTransport(network.endpoint('a'));
    const answers = [
      await caller.call('appendEntries', appendEntries([entry(1), entry(2), entry(3)])),
      await caller.call('appendEntries', appendEntries([])),
      await caller.call('appendEntries', appendEntries([entry(1)])),
    ];
    expect(answers.map((a) => a.lastLogIndex)).toEqual([3, 0, 1]);
    expect(seen).toEqual([3, 0, 1]);
    expect(caller.counts).toEqual({
      appendEntriesWithEntries: 2,
      entriesSent: 4,
      emptyAppendEntries: 1,
      calls: 3,
    });
    await caller.close();
    await server.close();
  });

  it('count the appends and writes a node asks of its log, which still holds what was written', async () => {
    const log = new CountingLogStorage(new MemoryLogStorage());
    await log.append([entry(1), entry(2)]);
    await log.append([entry(3)]);
    await log.truncateSuffix(2);
    expect(log.counts).toEqual({ appends: 2, entriesAppended: 3, writes: 3 });
    expect(await log.lastIndex()).toBe(2);
    expect((await log.entries(1, 3)).map((e) => e.index)).toEqual([1, 2]);
  });
});
