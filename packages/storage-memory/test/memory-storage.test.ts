import { ErrorCode, type LogEntry, RaftError } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { MemoryLogStorage, MemoryMetaStorage, MemorySnapshotStorage } from '../src/index.js';

const e = (index: number, term = 1): LogEntry => ({
  index,
  term,
  type: 1,
  data: new Uint8Array([index]),
});

// The full contract runs in @kontiki/testkit (test/conformance-storage-memory.test.ts); these
// cover what is particular to the memory implementation.
describe('memory storage', () => {
  it('keeps its entries across close and reopen, the way the simulator restarts a node', async () => {
    const log = new MemoryLogStorage();
    await log.append([e(1), e(2)]);
    await log.close();
    const err = await log.append([e(3)]).catch((x: unknown) => x);
    expect(RaftError.is(err, ErrorCode.SHUTDOWN)).toBe(true);
    log.reopen();
    expect(await log.lastIndex()).toBe(2);
    expect((await log.entries(1, 3)).map((x) => x.index)).toEqual([1, 2]);
  });

  it('rejects a meta record that is not a term and a vote', async () => {
    const meta = new MemoryMetaStorage();
    await expect(meta.save({ term: -1, votedFor: null })).rejects.toSatisfy((x: unknown) =>
      RaftError.is(x, ErrorCode.BAD_REQUEST),
    );
    await expect(meta.save({ term: 1, votedFor: 7 as unknown as string })).rejects.toSatisfy(
      (x: unknown) => RaftError.is(x, ErrorCode.BAD_REQUEST),
    );
    expect(await meta.load()).toEqual({ term: 0, votedFor: null });
  });

  it('a snapshot writer cannot be used after commit, and its chunks are copied', async () => {
    const snaps = new MemorySnapshotStorage();
    const w = await snaps.create({
      lastIncludedIndex: 5,
      lastIncludedTerm: 2,
      configuration: { voters: ['a'] },
    });
    const chunk = new Uint8Array([1, 2, 3]);
    await w.write(chunk);
    chunk[0] = 9;
    await w.commit();
    await expect(w.write(new Uint8Array(1))).rejects.toSatisfy((x: unknown) =>
      RaftError.is(x, ErrorCode.BAD_REQUEST),
    );
    const r = await snaps.openLatest();
    expect(Array.from((await r?.read(0, 10)) ?? [])).toEqual([1, 2, 3]);
  });
});
