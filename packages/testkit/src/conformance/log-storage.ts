/**
 * The LogStorage contract as vitest tests. Every log storage runs it from its own tests:
 *
 * ```ts
 * import { logStorageSuite } from '@kontiki/testkit/log-storage';
 *
 * logStorageSuite({
 *   name: 'my storage',
 *   durable: true,
 *   async create() {
 *     let storage = await openMyStorage(dir);
 *     return {
 *       storage,
 *       async reopen() { await storage.close(); storage = await openMyStorage(dir); return storage; },
 *       async cleanup() { await storage.close(); await removeDir(dir); },
 *     };
 *   },
 * });
 * ```
 *
 * @packageDocumentation
 */
import { EntryType, type LogEntry, type LogStorage } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { expectRaftError, expectSameBytes, patternBytes, withHarness } from './internal/harness.js';

/** One fresh, empty log for one test. */
export interface LogStorageHarness {
  /** An empty log: firstIndex 1, lastIndex 0. */
  readonly storage: LogStorage;
  /**
   * Closes the current storage as a process exit would and opens the same data again
   * (a restart). Required when the suite runs with `durable: true`.
   */
  reopen?(): Promise<LogStorage>;
  /** Closes whatever is open and removes the test's data. Runs after every test. */
  cleanup?(): Promise<void>;
}

export interface LogStorageSuiteOptions {
  /** Shown in the test names. */
  readonly name: string;
  /** Creates a fresh harness for each test. */
  create(): Promise<LogStorageHarness>;
  /**
   * Whether the log keeps its data across `reopen` (a restart). When true, the tests
   * that reopen run too, and the harness must provide `reopen`.
   */
  readonly durable: boolean;
  /** Size of each entry in the huge-entries test (default 4 MiB). */
  readonly hugeEntryBytes?: number;
}

/** An entry whose data depends on index and term, so a wrong or stale entry shows. */
export function testEntry(index: number, term: number, size = 100): LogEntry {
  return {
    index,
    term,
    type: index % 7 === 0 ? EntryType.Configuration : EntryType.Data,
    data: patternBytes(size, index * 1_000_003 + term),
  };
}

/** Entries [from, to) of one term. */
export function testEntries(from: number, to: number, term: number, size = 100): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i < to; i++) out.push(testEntry(i, term, size));
  return out;
}

function expectEntries(actual: readonly LogEntry[], expected: readonly LogEntry[]): void {
  expect(actual.map((e) => e.index)).toEqual(expected.map((e) => e.index));
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as LogEntry;
    const e = expected[i] as LogEntry;
    expect({ index: a.index, term: a.term, type: a.type }).toEqual({
      index: e.index,
      term: e.term,
      type: e.type,
    });
    expectSameBytes(a.data, e.data, `data of entry ${e.index}`);
  }
}

async function expectRange(storage: LogStorage, first: number, last: number): Promise<void> {
  expect({ first: await storage.firstIndex(), last: await storage.lastIndex() }).toEqual({
    first,
    last,
  });
}

/** Declares the LogStorage conformance tests (inside a `describe`). */
export function logStorageSuite(options: LogStorageSuiteOptions): void {
  const run = (test: (h: LogStorageHarness) => Promise<void>) => () =>
    withHarness(options.create, test);
  const hugeBytes = options.hugeEntryBytes ?? 4 * 1024 * 1024;

  describe(`LogStorage conformance: ${options.name}`, () => {
    it(
      'a new log is empty: firstIndex 1, lastIndex 0, no entries and no terms',
      run(async ({ storage }) => {
        await expectRange(storage, 1, 0);
        expect(await storage.entries(1, 100)).toEqual([]);
        expect(await storage.term(0)).toBeUndefined();
        expect(await storage.term(1)).toBeUndefined();
      }),
    );

    it(
      'appended entries read back with their index, term, type and data',
      run(async ({ storage }) => {
        const batch = [
          ...testEntries(1, 4, 1),
          ...testEntries(4, 6, 2, 0),
          ...testEntries(6, 9, 3, 1000),
        ];
        await storage.append(batch);
        await expectRange(storage, 1, 8);
        expectEntries(await storage.entries(1, 9), batch);
      }),
    );

    it(
      'appends in several calls continue the log; an empty append changes nothing',
      run(async ({ storage }) => {
        const all = testEntries(1, 31, 1);
        await storage.append(all.slice(0, 1));
        await storage.append(all.slice(1, 10));
        await storage.append([]);
        await storage.append(all.slice(10, 30));
        await expectRange(storage, 1, 30);
        expectEntries(await storage.entries(1, 31), all);
      }),
    );

    it(
      'entries(from, to) is half-open: from <= index < to, clipped to the log',
      run(async ({ storage }) => {
        const all = testEntries(1, 11, 1);
        await storage.append(all);
        expectEntries(await storage.entries(2, 4), all.slice(1, 3));
        expectEntries(await storage.entries(1, 2), all.slice(0, 1));
        expectEntries(await storage.entries(10, 11), all.slice(9, 10));
        expect(await storage.entries(5, 5)).toEqual([]);
        expect(await storage.entries(6, 5)).toEqual([]);
        expectEntries(await storage.entries(8, 1000), all.slice(7));
        expect(await storage.entries(11, 20)).toEqual([]);
      }),
    );

    it(
      'maxBytes ends a read early, yet a read always returns at least one entry',
      run(async ({ storage }) => {
        const all = testEntries(1, 11, 1, 100);
        await storage.append(all);
        expectEntries(await storage.entries(1, 11, 250), all.slice(0, 2));
        expectEntries(await storage.entries(1, 11, 300), all.slice(0, 3));
        expectEntries(await storage.entries(3, 11, 0), all.slice(2, 3));
        expectEntries(await storage.entries(3, 11, 1), all.slice(2, 3));
        expectEntries(await storage.entries(1, 11, 10_000), all);
        expectEntries(await storage.entries(1, 11), all);
      }),
    );

    it(
      'term(index) answers inside the log and is undefined outside it',
      run(async ({ storage }) => {
        await storage.append([...testEntries(1, 4, 1), ...testEntries(4, 7, 5)]);
        expect(await storage.term(1)).toBe(1);
        expect(await storage.term(3)).toBe(1);
        expect(await storage.term(4)).toBe(5);
        expect(await storage.term(6)).toBe(5);
        expect(await storage.term(0)).toBeUndefined();
        expect(await storage.term(7)).toBeUndefined();
        await storage.truncatePrefix(3);
        expect(await storage.term(2)).toBeUndefined();
        expect(await storage.term(3)).toBe(1);
      }),
    );

    it(
      'an append that does not start at lastIndex + 1 is rejected with BAD_REQUEST and changes nothing',
      run(async ({ storage }) => {
        await expectRaftError(storage.append(testEntries(2, 3, 1)), 'BAD_REQUEST');
        await expectRange(storage, 1, 0);
        await storage.append(testEntries(1, 6, 1));
        // A gap, an overlap, a repeat of the last entry, and a batch with a hole inside.
        await expectRaftError(storage.append(testEntries(7, 9, 1)), 'BAD_REQUEST');
        await expectRaftError(storage.append(testEntries(3, 8, 2)), 'BAD_REQUEST');
        await expectRaftError(storage.append(testEntries(5, 6, 1)), 'BAD_REQUEST');
        await expectRaftError(storage.append([testEntry(6, 1), testEntry(8, 1)]), 'BAD_REQUEST');
        await expectRange(storage, 1, 5);
        expectEntries(await storage.entries(1, 100), testEntries(1, 6, 1));
        await storage.append(testEntries(6, 8, 1));
        await expectRange(storage, 1, 7);
      }),
    );

    // The log 4..10 (entries 1..3 compacted away), truncated after each boundary.
    const suffixCases = [
      { where: 'two below the first index', lastKept: 2, last: 3 },
      { where: 'just before the first index', lastKept: 3, last: 3 },
      { where: 'at the first index', lastKept: 4, last: 4 },
      { where: 'in the middle', lastKept: 7, last: 7 },
      { where: 'at the last index', lastKept: 10, last: 10 },
      { where: 'after the last index', lastKept: 15, last: 10 },
    ];
    for (const c of suffixCases) {
      it(
        `truncateSuffix ${c.where} keeps exactly the entries up to it, and the log continues there`,
        run(async ({ storage }) => {
          await storage.append(testEntries(1, 11, 1));
          await storage.truncatePrefix(4);
          await storage.truncateSuffix(c.lastKept);
          await expectRange(storage, 4, c.last);
          expectEntries(await storage.entries(1, 100), testEntries(4, c.last + 1, 1));
          expect(await storage.term(c.last + 1)).toBeUndefined();
          // The next append starts right after what was kept, in a new term.
          await storage.append(testEntries(c.last + 1, c.last + 3, 2));
          await expectRange(storage, 4, c.last + 2);
          expectEntries(await storage.entries(4, 100), [
            ...testEntries(4, c.last + 1, 1),
            ...testEntries(c.last + 1, c.last + 3, 2),
          ]);
        }),
      );
    }

    const prefixCases = [
      { where: 'at the first index', firstKept: 1, first: 1, last: 10 },
      { where: 'in the middle', firstKept: 5, first: 5, last: 10 },
      { where: 'at the last index', firstKept: 10, first: 10, last: 10 },
      { where: 'just after the last index', firstKept: 11, first: 11, last: 10 },
      { where: 'far after the last index', firstKept: 20, first: 20, last: 19 },
    ];
    for (const c of prefixCases) {
      it(
        `truncatePrefix ${c.where} drops the entries before it, and appends continue after the last`,
        run(async ({ storage }) => {
          await storage.append(testEntries(1, 11, 1));
          await storage.truncatePrefix(c.firstKept);
          await expectRange(storage, c.first, c.last);
          expectEntries(await storage.entries(c.first, 100), testEntries(c.first, c.last + 1, 1));
          expect(await storage.term(c.first - 1)).toBeUndefined();
          await storage.append(testEntries(c.last + 1, c.last + 3, 2));
          await expectRange(storage, c.first, c.last + 2);
          // Truncating at or below the first index again changes nothing.
          await storage.truncatePrefix(c.first);
          await expectRange(storage, c.first, c.last + 2);
        }),
      );
    }

    it(
      'reset(n) empties the log and the next append starts at n',
      run(async ({ storage }) => {
        await storage.append(testEntries(1, 11, 1));
        await storage.reset(100);
        await expectRange(storage, 100, 99);
        expect(await storage.entries(1, 200)).toEqual([]);
        expect(await storage.term(5)).toBeUndefined();
        await expectRaftError(storage.append(testEntries(11, 12, 1)), 'BAD_REQUEST');
        await storage.append(testEntries(100, 103, 4));
        await expectRange(storage, 100, 102);
        expectEntries(await storage.entries(100, 103), testEntries(100, 103, 4));
        // A reset may also move the start backwards.
        await storage.reset(50);
        await expectRange(storage, 50, 49);
      }),
    );

    it(
      'reset rejects a next index that is not a positive integer, and changes nothing',
      run(async ({ storage }) => {
        await storage.append(testEntries(1, 4, 1));
        for (const bad of [0, -1, 1.5, Number.NaN]) {
          await expectRaftError(storage.reset(bad), 'BAD_REQUEST');
        }
        await expectRange(storage, 1, 3);
      }),
    );

    it(
      `huge entries (${(hugeBytes / 1024 / 1024).toFixed(1)} MiB each) read back byte for byte`,
      run(async ({ storage }) => {
        const huge = [1, 2, 3].map((i) => ({
          ...testEntry(i, 1),
          data: patternBytes(hugeBytes + i, i),
        }));
        await storage.append(huge.slice(0, 2));
        await storage.append(huge.slice(2));
        expectEntries(await storage.entries(1, 4), huge);
        // One huge entry alone exceeds maxBytes and still comes back.
        expectEntries(await storage.entries(2, 4, 1024), huge.slice(1, 2));
      }),
    );

    it(
      'a long log appended in uneven batches reads back in windows',
      run(async ({ storage }) => {
        const all = testEntries(1, 3001, 1, 20);
        for (let from = 0, size = 1; from < all.length; from += size, size = (size * 7) % 97) {
          await storage.append(all.slice(from, from + size));
        }
        await expectRange(storage, 1, 3000);
        const read: LogEntry[] = [];
        for (let from = 1; from <= 3000 && read.length < 3000; ) {
          const batch = await storage.entries(from, from + 250, 2000);
          expect(batch.length).toBeGreaterThan(0);
          read.push(...batch);
          from += batch.length;
        }
        expectEntries(read, all);
      }),
    );

    it(
      'an append after close is rejected with SHUTDOWN',
      run(async ({ storage }) => {
        await storage.append(testEntries(1, 2, 1));
        await storage.close();
        await expectRaftError(storage.append(testEntries(2, 3, 1)), 'SHUTDOWN');
      }),
    );

    if (options.durable) {
      const reopen = (h: LogStorageHarness): Promise<LogStorage> => {
        if (h.reopen === undefined) {
          throw new Error(`${options.name}: a durable log's harness must provide reopen()`);
        }
        return h.reopen();
      };

      it(
        'a new log reopens empty',
        run(async (h) => {
          await expectRange(await reopen(h), 1, 0);
        }),
      );

      it(
        'after a reopen the log holds exactly what was appended and truncated',
        run(async (h) => {
          await h.storage.append(testEntries(1, 21, 1));
          await h.storage.truncatePrefix(5);
          await h.storage.truncateSuffix(15);
          await h.storage.append(testEntries(16, 19, 2, 3000));
          const storage = await reopen(h);
          await expectRange(storage, 5, 18);
          expectEntries(await storage.entries(1, 100), [
            ...testEntries(5, 16, 1),
            ...testEntries(16, 19, 2, 3000),
          ]);
          expect(await storage.term(15)).toBe(1);
          expect(await storage.term(16)).toBe(2);
          // And it goes on from there.
          await storage.append(testEntries(19, 20, 3));
          await expectRange(storage, 5, 19);
        }),
      );

      it(
        'a reset survives a reopen',
        run(async (h) => {
          await h.storage.append(testEntries(1, 6, 1));
          await h.storage.reset(42);
          const storage = await reopen(h);
          await expectRange(storage, 42, 41);
          await storage.append(testEntries(42, 44, 7));
          const again = await reopen(h);
          await expectRange(again, 42, 43);
          expectEntries(await again.entries(42, 44), testEntries(42, 44, 7));
        }),
      );

      it(
        'a truncatePrefix past the end survives a reopen',
        run(async (h) => {
          await h.storage.append(testEntries(1, 6, 1));
          await h.storage.truncatePrefix(9);
          const storage = await reopen(h);
          await expectRange(storage, 9, 8);
        }),
      );
    }
  });
}
