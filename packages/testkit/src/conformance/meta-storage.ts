/**
 * The MetaStorage contract (durable term and vote) as vitest tests. Every meta storage runs
 * it from its own tests:
 *
 * ```ts
 * import { metaStorageSuite } from '@kontiki/testkit/meta-storage';
 * metaStorageSuite({ name: 'my storage', durable: true, create: async () => ({ storage, reopen, cleanup }) });
 * ```
 *
 * @packageDocumentation
 */
import type { MetaStorage, RaftMeta } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { expectRaftError, withHarness } from './internal/harness.js';

/** One fresh meta storage (term 0, no vote) for one test. */
export interface MetaStorageHarness {
  readonly storage: MetaStorage;
  /** Closes the storage as a process exit would and opens the same data again. */
  reopen?(): Promise<MetaStorage>;
  /** Closes whatever is open and removes the test's data. Runs after every test. */
  cleanup?(): Promise<void>;
}

export interface MetaStorageSuiteOptions {
  readonly name: string;
  create(): Promise<MetaStorageHarness>;
  /** Whether saves survive `reopen`; when true the harness must provide `reopen`. */
  readonly durable: boolean;
}

/** Declares the MetaStorage conformance tests. */
export function metaStorageSuite(options: MetaStorageSuiteOptions): void {
  const run = (test: (h: MetaStorageHarness) => Promise<void>) => () =>
    withHarness(options.create, test);

  describe(`MetaStorage conformance: ${options.name}`, () => {
    it(
      'a new store loads term 0 and no vote',
      run(async ({ storage }) => {
        expect(await storage.load()).toEqual({ term: 0, votedFor: null });
      }),
    );

    it(
      'load returns what save stored',
      run(async ({ storage }) => {
        await storage.save({ term: 3, votedFor: 'n2' });
        expect(await storage.load()).toEqual({ term: 3, votedFor: 'n2' });
      }),
    );

    it(
      'a later save replaces the earlier one, and a new term can clear the vote',
      run(async ({ storage }) => {
        await storage.save({ term: 1, votedFor: 'n1' });
        await storage.save({ term: 2, votedFor: 'n3' });
        expect(await storage.load()).toEqual({ term: 2, votedFor: 'n3' });
        await storage.save({ term: 5, votedFor: null });
        expect(await storage.load()).toEqual({ term: 5, votedFor: null });
      }),
    );

    it(
      'saves issued back to back without waiting land in order: the last one wins',
      run(async ({ storage }) => {
        const saves: Promise<void>[] = [];
        for (let term = 1; term <= 20; term++) {
          saves.push(storage.save({ term, votedFor: `n${term % 3}` }));
        }
        await Promise.all(saves);
        expect(await storage.load()).toEqual({ term: 20, votedFor: 'n2' });
      }),
    );

    it(
      'terms up to 2^53 - 1 and peer ids of any characters round-trip',
      run(async ({ storage }) => {
        const metas: RaftMeta[] = [
          { term: Number.MAX_SAFE_INTEGER, votedFor: 'node-ü-日本-🚀' },
          { term: 7, votedFor: 'x'.repeat(4096) },
          { term: 8, votedFor: '10.0.0.1:7000' },
        ];
        for (const meta of metas) {
          await storage.save(meta);
          expect(await storage.load()).toEqual(meta);
        }
      }),
    );

    it(
      'a save with a malformed term or vote is rejected with BAD_REQUEST and changes nothing',
      run(async ({ storage }) => {
        await storage.save({ term: 4, votedFor: 'n1' });
        const bad: unknown[] = [
          { term: -1, votedFor: null },
          { term: 1.5, votedFor: null },
          { term: Number.NaN, votedFor: null },
          { term: '5', votedFor: null },
          { term: 5, votedFor: 42 },
        ];
        for (const meta of bad) {
          await expectRaftError(storage.save(meta as RaftMeta), 'BAD_REQUEST');
        }
        expect(await storage.load()).toEqual({ term: 4, votedFor: 'n1' });
      }),
    );

    if (options.durable) {
      const reopen = (h: MetaStorageHarness): Promise<MetaStorage> => {
        if (h.reopen === undefined) {
          throw new Error(
            `${options.name}: a durable meta storage's harness must provide reopen()`,
          );
        }
        return h.reopen();
      };

      it(
        'term and vote survive a reopen',
        run(async (h) => {
          await h.storage.save({ term: 9, votedFor: 'n3' });
          const storage = await reopen(h);
          expect(await storage.load()).toEqual({ term: 9, votedFor: 'n3' });
        }),
      );

      it(
        'the last of several saves is what a reopen finds',
        run(async (h) => {
          await h.storage.save({ term: 1, votedFor: 'n1' });
          await h.storage.save({ term: 2, votedFor: null });
          await h.storage.save({ term: 3, votedFor: 'n2' });
          let storage = await reopen(h);
          expect(await storage.load()).toEqual({ term: 3, votedFor: 'n2' });
          await storage.save({ term: 4, votedFor: null });
          storage = await reopen(h);
          expect(await storage.load()).toEqual({ term: 4, votedFor: null });
        }),
      );

      it(
        'a new store reopens with term 0 and no vote',
        run(async (h) => {
          expect(await (await reopen(h)).load()).toEqual({ term: 0, votedFor: null });
        }),
      );
    }
  });
}
