/**
 * The SnapshotStorage contract as vitest tests: chunked writes published atomically on
 * commit, only the latest kept, chunked reads. Every snapshot storage runs it:
 *
 * ```ts
 * import { snapshotStorageSuite } from '@kontiki/testkit/snapshot-storage';
 * snapshotStorageSuite({ name: 'my storage', durable: true, create: async () => ({ storage, reopen, cleanup }) });
 * ```
 *
 * @packageDocumentation
 */
import type { SnapshotMeta, SnapshotReader, SnapshotStorage } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { expectRaftError, expectSameBytes, patternBytes, withHarness } from './internal/harness.js';

/** One fresh snapshot storage (no snapshot yet) for one test. */
export interface SnapshotStorageHarness {
  readonly storage: SnapshotStorage;
  /** Closes the storage as a process exit would and opens the same data again. */
  reopen?(): Promise<SnapshotStorage>;
  /** Closes whatever is open and removes the test's data. Runs after every test. */
  cleanup?(): Promise<void>;
}

export interface SnapshotStorageSuiteOptions {
  readonly name: string;
  create(): Promise<SnapshotStorageHarness>;
  /** Whether published snapshots survive `reopen`; when true the harness must provide it. */
  readonly durable: boolean;
  /** Size of the large-snapshot test (default 6 MiB). */
  readonly largeSnapshotBytes?: number;
}

function meta(index: number, term = 1): SnapshotMeta {
  return {
    lastIncludedIndex: index,
    lastIncludedTerm: term,
    configuration: { voters: ['n1', 'n2', 'n3'], learners: ['l1'] },
  };
}

/** Writes `data` as a snapshot in chunks of the given sizes (cycled), without committing. */
async function writeAll(
  storage: SnapshotStorage,
  m: SnapshotMeta,
  data: Uint8Array,
  chunkSizes: readonly number[] = [1000],
) {
  const writer = await storage.create(m);
  for (let offset = 0, i = 0; offset < data.byteLength; i++) {
    const size = Math.max(1, chunkSizes[i % chunkSizes.length] ?? 1000);
    await writer.write(data.subarray(offset, offset + size));
    offset += size;
  }
  return writer;
}

async function readAll(reader: SnapshotReader, chunk: number): Promise<Uint8Array> {
  const out = new Uint8Array(reader.size);
  let offset = 0;
  // Bounded: every turn reads at least one byte or ends.
  for (let turns = 0; turns <= reader.size; turns++) {
    const part = await reader.read(offset, chunk);
    if (part.byteLength === 0) break;
    expect(part.byteLength).toBeLessThanOrEqual(chunk);
    out.set(part, offset);
    offset += part.byteLength;
  }
  expect(offset).toBe(reader.size);
  return out;
}

async function expectLatest(
  storage: SnapshotStorage,
  m: SnapshotMeta,
  data: Uint8Array,
): Promise<void> {
  const reader = await storage.openLatest();
  expect(reader).not.toBeNull();
  if (reader === null) return;
  try {
    expect(reader.meta).toEqual(m);
    expect(reader.size).toBe(data.byteLength);
    expectSameBytes(await readAll(reader, 64 * 1024), data, 'snapshot data');
  } finally {
    await reader.close();
  }
}

/** Declares the SnapshotStorage conformance tests. */
export function snapshotStorageSuite(options: SnapshotStorageSuiteOptions): void {
  const run = (test: (h: SnapshotStorageHarness) => Promise<void>) => () =>
    withHarness(options.create, test);
  const largeBytes = options.largeSnapshotBytes ?? 6 * 1024 * 1024;

  describe(`SnapshotStorage conformance: ${options.name}`, () => {
    it(
      'a new store has no snapshot',
      run(async ({ storage }) => {
        expect(await storage.openLatest()).toBeNull();
      }),
    );

    it(
      'a committed snapshot reads back with its meta, size and bytes',
      run(async ({ storage }) => {
        const data = patternBytes(10_000, 1);
        const writer = await writeAll(storage, meta(10, 2), data, [1, 999, 4000, 17]);
        expect(writer.meta).toEqual(meta(10, 2));
        await writer.commit();
        await expectLatest(storage, meta(10, 2), data);
      }),
    );

    it(
      'a writer reads back what it wrote before it is published; abort then leaves the old latest',
      run(async ({ storage }) => {
        const old = patternBytes(3000, 7);
        await (await writeAll(storage, meta(3), old, [1000])).commit();
        const data = patternBytes(9000, 8);
        const writer = await writeAll(storage, meta(9, 2), data, [2000, 1, 3333]);
        const staged = await writer.openReader();
        expect(staged.meta).toEqual(meta(9, 2));
        expect(staged.size).toBe(data.byteLength);
        expectSameBytes(await readAll(staged, 4096), data, 'read-back before commit');
        await staged.close();
        // Not published by being read back.
        await expectLatest(storage, meta(3), old);
        await writer.abort();
        await expectLatest(storage, meta(3), old);
      }),
    );

    it(
      'a snapshot read back before commit publishes intact',
      run(async ({ storage }) => {
        const data = patternBytes(5000, 9);
        const writer = await writeAll(storage, meta(12, 3), data, [999]);
        const staged = await writer.openReader();
        expectSameBytes(await readAll(staged, 777), data, 'read-back');
        await staged.close();
        await writer.commit();
        await expectLatest(storage, meta(12, 3), data);
      }),
    );

    it(
      'read(offset, maxBytes) returns that window, and an empty array at or past the end',
      run(async ({ storage }) => {
        const data = patternBytes(5000, 2);
        await (await writeAll(storage, meta(5), data, [700])).commit();
        const reader = await storage.openLatest();
        if (reader === null) throw new Error('no snapshot after commit');
        expectSameBytes(await reader.read(0, 10), data.subarray(0, 10), 'first 10 bytes');
        expectSameBytes(await reader.read(695, 10), data.subarray(695, 705), 'across a chunk');
        expectSameBytes(await reader.read(4997, 100), data.subarray(4997), 'the tail');
        expect((await reader.read(1234, 0)).byteLength).toBe(0);
        expect((await reader.read(5000, 10)).byteLength).toBe(0);
        expect((await reader.read(9000, 10)).byteLength).toBe(0);
        await reader.close();
      }),
    );

    it(
      'reading in chunks of any size reassembles the snapshot',
      run(async ({ storage }) => {
        const data = patternBytes(70_000, 3);
        await (await writeAll(storage, meta(7), data, [4096, 1, 30_000])).commit();
        for (const chunk of [13, 1000, 65_536, 70_000, 1_000_000]) {
          const reader = await storage.openLatest();
          if (reader === null) throw new Error('no snapshot after commit');
          expectSameBytes(await readAll(reader, chunk), data, `read in chunks of ${chunk}`);
          await reader.close();
        }
      }),
    );

    it(
      'nothing written is visible before commit',
      run(async ({ storage }) => {
        const writer = await writeAll(storage, meta(3), patternBytes(3000, 4));
        expect(await storage.openLatest()).toBeNull();
        await writer.commit();
        expect(await storage.openLatest()).not.toBeNull();
      }),
    );

    it(
      'an aborted snapshot never appears, and the previous one stays',
      run(async ({ storage }) => {
        const first = patternBytes(2000, 5);
        await (await writeAll(storage, meta(10), first)).commit();
        const writer = await writeAll(storage, meta(20), patternBytes(3000, 6));
        await writer.abort();
        await expectLatest(storage, meta(10), first);
        await expectRaftError(writer.commit(), 'BAD_REQUEST');
        await expectLatest(storage, meta(10), first);
      }),
    );

    it(
      'only the latest committed snapshot is kept',
      run(async ({ storage }) => {
        await (await writeAll(storage, meta(10), patternBytes(2000, 7))).commit();
        const second = patternBytes(4000, 8);
        await (await writeAll(storage, meta(20, 3), second)).commit();
        await expectLatest(storage, meta(20, 3), second);
        const third = patternBytes(100, 9);
        await (await writeAll(storage, meta(30, 3), third)).commit();
        await expectLatest(storage, meta(30, 3), third);
      }),
    );

    it(
      'a reader opened before a newer snapshot is committed still reads its own snapshot',
      run(async ({ storage }) => {
        const old = patternBytes(50_000, 10);
        await (await writeAll(storage, meta(10), old, [8192])).commit();
        const reader = await storage.openLatest();
        if (reader === null) throw new Error('no snapshot after commit');
        const head = await reader.read(0, 1000);
        const newer = patternBytes(20_000, 11);
        await (await writeAll(storage, meta(20), newer)).commit();
        expect(reader.meta).toEqual(meta(10));
        expectSameBytes(head, old.subarray(0, 1000), 'old snapshot before the commit');
        expectSameBytes(await readAll(reader, 7000), old, 'old snapshot after the commit');
        await reader.close();
        await expectLatest(storage, meta(20), newer);
      }),
    );

    it(
      'a committed writer refuses further writes and commits (BAD_REQUEST); abort then changes nothing',
      run(async ({ storage }) => {
        const data = patternBytes(1500, 12);
        const writer = await writeAll(storage, meta(4), data);
        await writer.commit();
        await expectRaftError(writer.write(patternBytes(10, 13)), 'BAD_REQUEST');
        await expectRaftError(writer.commit(), 'BAD_REQUEST');
        await writer.abort();
        await expectLatest(storage, meta(4), data);
      }),
    );

    it(
      'an empty snapshot commits with size 0',
      run(async ({ storage }) => {
        const writer = await storage.create(meta(1));
        await writer.commit();
        await expectLatest(storage, meta(1), new Uint8Array(0));
      }),
    );

    it(
      'a chunk buffer reused after write() resolved does not change the snapshot',
      run(async ({ storage }) => {
        const writer = await storage.create(meta(2));
        const buffer = new Uint8Array(100).fill(1);
        await writer.write(buffer);
        buffer.fill(2);
        await writer.write(buffer);
        await writer.commit();
        const expected = new Uint8Array(200).fill(1, 0, 100).fill(2, 100);
        await expectLatest(storage, meta(2), expected);
      }),
    );

    it(
      `a large snapshot (${(largeBytes / 1024 / 1024).toFixed(1)} MiB) written in uneven chunks reads back exactly`,
      run(async ({ storage }) => {
        const data = patternBytes(largeBytes, 14);
        await (
          await writeAll(storage, meta(1000, 9), data, [1_048_576, 333_333, 2_000_000])
        ).commit();
        await expectLatest(storage, meta(1000, 9), data);
      }),
    );

    it(
      'create rejects a meta with a malformed lastIncludedIndex (BAD_REQUEST)',
      run(async ({ storage }) => {
        await expectRaftError(storage.create({ ...meta(1), lastIncludedIndex: -1 }), 'BAD_REQUEST');
        await expectRaftError(
          storage.create({ ...meta(1), lastIncludedIndex: 2.5 }),
          'BAD_REQUEST',
        );
        expect(await storage.openLatest()).toBeNull();
      }),
    );

    if (options.durable) {
      const reopen = (h: SnapshotStorageHarness): Promise<SnapshotStorage> => {
        if (h.reopen === undefined) {
          throw new Error(
            `${options.name}: a durable snapshot storage's harness must provide reopen()`,
          );
        }
        return h.reopen();
      };

      it(
        'the latest snapshot survives a reopen; one left uncommitted does not appear',
        run(async (h) => {
          const data = patternBytes(300_000, 15);
          await (await writeAll(h.storage, meta(50, 4), data, [65_536])).commit();
          await writeAll(h.storage, meta(60, 4), patternBytes(1000, 16));
          const storage = await reopen(h);
          await expectLatest(storage, meta(50, 4), data);
        }),
      );

      it(
        'a new store reopens without a snapshot',
        run(async (h) => {
          expect(await (await reopen(h)).openLatest()).toBeNull();
        }),
      );
    }
  });
}
