import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LogEntry, StorageError } from '@kontiki/core';
import { testEntries } from '@kontiki/testkit/log-storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ThreadMode } from '../src/index.js';
import { openSqliteStore, SqliteStore } from '../src/sqlite-store.js';
import { CHILD_STORE_MODULE } from './support/child-build.js';
import { tempDir } from './support/temp-dir.js';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('worker');
});
afterEach(() => tmp.remove());

/**
 * Ticks a timer every millisecond until stopped, as Raft's heartbeat and election timers
 * do, and records the longest wait between two ticks: how long the event loop was stuck.
 */
function loopProbe(): { stop(): { maxGapMs: number; ticks: number } } {
  let last = performance.now();
  let maxGapMs = 0;
  let ticks = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    ticks++;
    timer = setTimeout(tick, 1);
  };
  timer = setTimeout(tick, 1);
  return {
    stop() {
      clearTimeout(timer);
      // The stall in progress counts too (a loop blocked until now never ticked at all).
      maxGapMs = Math.max(maxGapMs, performance.now() - last);
      return { maxGapMs, ticks };
    },
  };
}

describe('the event loop while SQLite commits', () => {
  // Every commit is made this slow by a test hook that blocks the engine's thread, as a
  // slow fsync would; the assertions compare the loop's stalls with it, not with the disk.
  const COMMIT_MS = 800;

  async function slowAppend(thread: ThreadMode) {
    const file = join(tmp.dir, `${thread}.sqlite`);
    const store = await openSqliteStore(file, { thread }, { commitDelayMs: COMMIT_MS });
    try {
      const log = store.logStorage('g');
      const probe = loopProbe();
      const start = performance.now();
      await log.append(testEntries(1, 101, 1));
      const elapsedMs = performance.now() - start;
      return { elapsedMs, ...probe.stop(), last: await log.lastIndex() };
    } finally {
      await store.close();
    }
  }

  it("keeps turning during a slow commit with thread: 'worker'", async () => {
    const run = await slowAppend('worker');
    expect(run.last).toBe(100);
    // The append did wait for the slow commit...
    expect(run.elapsedMs).toBeGreaterThanOrEqual(COMMIT_MS * 0.95);
    // ...while timers kept firing: the longest stall is a small part of the commit time.
    expect(run.maxGapMs).toBeLessThan(COMMIT_MS / 4);
    expect(run.ticks).toBeGreaterThan(20);
  });

  it("stalls for the whole commit with thread: 'main' (what the worker avoids)", async () => {
    const run = await slowAppend('main');
    expect(run.last).toBe(100);
    expect(run.maxGapMs).toBeGreaterThanOrEqual(COMMIT_MS * 0.95);
  });
});

describe('group commit with a worker', () => {
  /** One append now, then one per turn of the event loop for five turns. */
  async function appendsOverSixTurns(thread: ThreadMode): Promise<number> {
    const file = join(tmp.dir, `${thread}.sqlite`);
    const store = await openSqliteStore(file, { thread }, { commitDelayMs: 250 });
    try {
      const before = store.commitCount;
      const writes = [store.logStorage('g0').append(testEntries(1, 2, 1))];
      for (let turn = 1; turn <= 5; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
        writes.push(store.logStorage(`g${turn}`).append(testEntries(1, 2, 1)));
      }
      await Promise.all(writes);
      for (let g = 0; g <= 5; g++) expect(await store.logStorage(`g${g}`).lastIndex()).toBe(1);
      return store.commitCount - before;
    } finally {
      await store.close();
    }
  }

  it('writes that arrive while a transaction commits share the next one', async () => {
    // The first append's commit takes 250 ms; the five that follow, one turn apart, all
    // arrive meanwhile. At most two batches are with the worker: the next turn's append goes
    // at once (it shares the first transaction if the worker had not woken up yet), the four
    // after it wait and leave together. So three transactions at most, however fast the
    // worker thread wakes (two when it wakes late).
    expect(await appendsOverSixTurns('worker')).toBeLessThanOrEqual(3);
    // On the main thread each turn's write is a transaction of its own.
    expect(await appendsOverSixTurns('main')).toBe(6);
  });

  it('appends, meta saves and reads of many groups that pile up during a commit leave in one message', async () => {
    // The first append's commit takes 400 ms. The next turn's append goes to the worker at
    // once, to wait there for its turn; everything after it waits here and leaves as one
    // message when the first commit is answered.
    const store = await openSqliteStore(tmp.dir, { thread: 'worker' }, { commitDelayMs: 400 });
    try {
      const before = store.stats;
      const turn = () => new Promise((resolve) => setImmediate(resolve));
      const g0 = store.logStorage('g0');
      const done: Promise<unknown>[] = [g0.append(testEntries(1, 2, 1))];
      await turn();
      done.push(store.logStorage('g1').append(testEntries(1, 2, 1)));
      const reads: Promise<LogEntry[]>[] = [];
      for (let g = 2; g <= 5; g++) {
        await turn();
        done.push(store.logStorage(`g${g}`).append(testEntries(1, 3, 1)));
        done.push(store.metaStorage(`g${g}`).save({ term: g, votedFor: 'n1' }));
        reads.push(g0.entries(1, 10));
      }
      await Promise.all(done);
      const read = await Promise.all(reads);
      const after = store.stats;
      expect(after.batches - before.batches).toBe(3);
      expect(after.ops - before.ops).toBe(2 + 4 * 3);
      expect(after.commits - before.commits).toBeLessThanOrEqual(3);
      // Held back, the reads still see exactly the writes issued before them.
      for (const entries of read) expect(entries.map((e) => e.index)).toEqual([1]);
      for (let g = 2; g <= 5; g++) {
        expect(await store.logStorage(`g${g}`).lastIndex()).toBe(2);
        expect(await store.metaStorage(`g${g}`).load()).toEqual({ term: g, votedFor: 'n1' });
      }
    } finally {
      await store.close();
    }
  });

  it('a snapshot read does not wait for the writes sent before it', async () => {
    const store = await openSqliteStore(tmp.dir, { thread: 'worker' }, { commitDelayMs: 150 });
    try {
      const writer = await store.snapshotStorage('g').create({
        lastIncludedIndex: 5,
        lastIncludedTerm: 1,
        configuration: { voters: ['a'] },
      });
      await writer.write(new Uint8Array(100).fill(9));
      await writer.commit();
      const reader = await store.snapshotStorage('g').openLatest();
      if (reader === null) throw new Error('no snapshot');
      const log = store.logStorage('g');
      const at = new Map<string, number>();
      const track = (name: string, p: Promise<unknown>) =>
        p.then(() => at.set(name, performance.now()));
      const turn = () => new Promise((resolve) => setImmediate(resolve));
      // append1 goes out and its commit takes 150 ms; append2 follows a turn later and waits
      // in the worker for the next transaction (or joins append1's, if the worker had not
      // started yet); append3, a turn later still, waits here for append1's answer, and the
      // read comes after it.
      const done = [track('append1', log.append(testEntries(1, 2, 1)))];
      await turn();
      done.push(track('append2', log.append(testEntries(2, 3, 1))));
      await turn();
      done.push(track('append3', log.append(testEntries(3, 4, 1))));
      done.push(track('read', reader.read(0, 100)));
      await Promise.all(done);
      // The chunks of an open reader cannot change: the read is answered as soon as the
      // worker is free, without waiting for append3's commit, issued before it.
      const read = at.get('read') ?? Number.NaN;
      expect((at.get('append3') ?? Number.NaN) - read).toBeGreaterThanOrEqual(100);
      await reader.close();
    } finally {
      await store.close();
    }
  });

  for (const thread of ['worker', 'main'] as const) {
    it(`a read sees exactly the writes issued before it (thread: '${thread}')`, async () => {
      const store = await SqliteStore.open(tmp.dir, { thread });
      try {
        const log = store.logStorage('g');
        const meta = store.metaStorage('g');
        // Nothing awaited in between: the order of the calls is all that orders them.
        const appended = log.append(testEntries(1, 11, 1));
        const all = log.entries(1, 100);
        const truncated = log.truncateSuffix(5);
        const last = log.lastIndex();
        const term = log.term(8);
        const saved = meta.save({ term: 3, votedFor: 'n2' });
        const loaded = meta.load();
        await Promise.all([appended, truncated, saved]);
        expect((await all).map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect(await last).toBe(5);
        expect(await term).toBeUndefined();
        expect(await loaded).toEqual({ term: 3, votedFor: 'n2' });
      } finally {
        await store.close();
      }
    });
  }
});

describe('buffers handed to the store', () => {
  it('stay the caller’s: entry data and snapshot chunks are copied to the worker, not moved', async () => {
    const store = await SqliteStore.open(tmp.dir, { thread: 'worker' });
    try {
      // A small Buffer lives in Node's shared pool: moving its memory would break others.
      const pooled = Buffer.from([1, 2, 3]);
      // Entries whose data are views into one larger buffer, as a decoded message gives.
      const wire = new Uint8Array(4096).map((_, i) => i & 0xff);
      const entries: LogEntry[] = [1, 2, 3].map((index) => ({
        index,
        term: 1,
        type: 1,
        data: wire.subarray(index * 100, index * 100 + 50),
      }));
      await store.logStorage('g').append(entries);
      await store.logStorage('g').append([{ index: 4, term: 1, type: 1, data: pooled }]);
      expect(wire.byteLength).toBe(4096);
      for (const e of entries) expect(e.data.byteLength).toBe(50);
      const read = await store.logStorage('g').entries(1, 5);
      expect(read.map((e) => [...e.data])).toEqual([...entries.map((e) => [...e.data]), [1, 2, 3]]);

      const writer = await store.snapshotStorage('g').create({
        lastIncludedIndex: 3,
        lastIncludedTerm: 1,
        configuration: { voters: ['a'] },
      });
      const chunk = wire.subarray(1000, 3000);
      await writer.write(chunk);
      await writer.write(pooled);
      await writer.commit();
      expect(chunk.byteLength).toBe(2000);
      expect(pooled.buffer.byteLength).toBeGreaterThan(0);
      expect([...pooled]).toEqual([1, 2, 3]);
      const reader = await store.snapshotStorage('g').openLatest();
      expect([...((await reader?.read(0, 5000)) ?? [])]).toEqual([...chunk, 1, 2, 3]);
      await reader?.close();
    } finally {
      await store.close();
    }
  });
});

describe('a worker that stops', () => {
  it('fails every pending and later call with a StorageError; close() resolves; the file reopens', async () => {
    // The worker exits, as in a crash, just before its second COMMIT.
    const store = await openSqliteStore(tmp.dir, { thread: 'worker' }, { exitAtCommit: 2 });
    const log = store.logStorage('g');
    const meta = store.metaStorage('g');
    await log.append(testEntries(1, 4, 1));
    const pending = await Promise.allSettled([
      log.append(testEntries(4, 6, 1)),
      meta.save({ term: 2, votedFor: 'n1' }),
    ]);
    for (const r of pending) {
      expect(r.status).toBe('rejected');
      const reason = (r as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(StorageError);
      expect(String(reason.message)).toMatch(/worker stopped unexpectedly \(exit code 70\)/);
    }
    // Later calls, reads included, are refused the same way.
    await expect(log.append(testEntries(4, 5, 1))).rejects.toBeInstanceOf(StorageError);
    await expect(log.lastIndex()).rejects.toBeInstanceOf(StorageError);
    await expect(meta.load()).rejects.toBeInstanceOf(StorageError);
    expect(() => store.logStorage('h')).toThrow(StorageError);
    const closing = store.close();
    expect(store.close()).toBe(closing);
    await closing;

    // The thread's end released the file's lock; only the acknowledged write is in it.
    const again = await SqliteStore.open(tmp.dir);
    try {
      expect(await again.logStorage('g').lastIndex()).toBe(3);
      expect(await again.metaStorage('g').load()).toEqual({ term: 0, votedFor: null });
    } finally {
      await again.close();
    }
  });
});

describe('the process around a store', () => {
  const CHILD = fileURLToPath(new URL('./fixtures/lifetime-child.mjs', import.meta.url));

  /** Runs the child; resolves with its exit code and output once it exits by itself. */
  function runChild(how: string): Promise<{ code: number | null; stdout: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CHILD, tmp.dir, how], {
        env: { ...process.env, KONTIKI_SQLITE_MODULE: CHILD_STORE_MODULE },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      // A process held up by a worker would never exit: fail instead of hanging.
      const hang = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the child (${how}) did not exit within 10 s; stdout: ${stdout}`));
      }, 10_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(hang);
        resolve({ code, stdout });
      });
    });
  }

  for (const how of ['close', 'idle', 'fail-open']) {
    it(`exits by itself once its work is done (${how})`, async () => {
      const { code, stdout } = await runChild(how);
      expect(stdout.trim()).toBe('done');
      expect(code).toBe(0);
    });
  }
});
