import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LogEntry } from '@kontiki/core';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.js';
// @ts-expect-error: a plain-JS fixture shared with the child process, without types.
import { payload, voteFor } from './fixtures/crash-payload.mjs';
import { CHILD_STORE_MODULE } from './support/child-build.js';
import { tempDir } from './support/temp-dir.js';

const CHILD = fileURLToPath(new URL('./fixtures/crash-child.mjs', import.meta.url));
const KILLS = 60;
const COMPACT_EVERY = 2_000;
const GROUPS = ['g0', 'g1'] as const;

const expectedPayload = payload as (
  group: string,
  index: number,
  term: number,
  big: boolean,
) => Uint8Array;
const expectedVote = voteFor as (term: number) => string;

/** What the parent saw the child acknowledge, over every run. */
interface Acked {
  index: Record<string, number>;
  term: number;
  votedFor: string | null;
}

/**
 * When to kill: `early` a random time after spawn (often while the store is opening and
 * checking); `amidWrites` a random time after a random number of acknowledgements, so the
 * kill lands among writes whatever the disk's speed.
 */
type KillPlan =
  | { kind: 'early'; delayMs: number }
  | { kind: 'amidWrites'; acks: number; delayMs: number };

/** Runs the child and SIGKILLs it as `plan` says; collects what it acknowledged. */
function runAndKill(
  dir: string,
  mode: 'full' | 'normal',
  seed: number,
  plan: KillPlan,
  acked: Acked,
): Promise<{ sawReady: boolean; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [CHILD, dir, mode, String(seed)], {
      env: {
        ...process.env,
        KONTIKI_SQLITE_MODULE: CHILD_STORE_MODULE,
        // Half the kills hit a store running SQLite on a worker thread.
        KONTIKI_SQLITE_THREAD: seed % 2 === 0 ? 'worker' : 'main',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let sawReady = false;
    let acks = 0;
    let stderr = '';
    let pending = '';
    let killTimer: NodeJS.Timeout | undefined;
    // A safety net: a child that neither becomes ready nor dies fails the test.
    const hang = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child was not killed within 10 s (stderr: ${stderr})`));
    }, 10_000);
    const killLater = () => {
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), plan.delayMs);
    };
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      // The last piece may be a line cut by the kill: keep it until a newline completes it.
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const [kind, a, b] = line.split(' ');
        if (kind === 'ready') {
          sawReady = true;
        } else if (kind === 'ack' && a !== undefined) {
          acked.index[a] = Math.max(acked.index[a] ?? 0, Number(b));
          acks++;
          if (plan.kind === 'amidWrites' && acks >= plan.acks) killLater();
        } else if (kind === 'meta') {
          acked.term = Number(a);
          acked.votedFor = b ?? null;
        }
      }
    });
    if (plan.kind === 'early') killLater();
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(hang);
      if (killTimer !== undefined) clearTimeout(killTimer);
      resolve({ sawReady, signal, stderr });
    });
  });
}

/** Opens the store as a restarted node would and checks everything the child acknowledged. */
async function verify(dir: string, acked: Acked, previousTerm: number): Promise<number> {
  // Opening checks every record's checksum: a half-written entry would refuse the open.
  const store = await SqliteStore.open(dir);
  try {
    const meta = await store.metaStorage('g0').load();
    expect(meta.term).toBeGreaterThanOrEqual(acked.term);
    expect(meta.term).toBeGreaterThanOrEqual(previousTerm);
    if (meta.term > 0) expect(meta.votedFor).toBe(expectedVote(meta.term));
    for (const group of GROUPS) {
      const log = store.logStorage(group);
      const first = await log.firstIndex();
      const last = await log.lastIndex();
      expect(last).toBeGreaterThanOrEqual(acked.index[group] ?? 0);
      // The child compacts only in whole steps: a log starts at 1, 2001, 4001, ...
      expect((first - 1) % COMPACT_EVERY).toBe(0);
      let expected = first;
      let lastTerm = 0;
      while (expected <= last) {
        const batch: LogEntry[] = await log.entries(expected, last + 1, 4 * 1024 * 1024);
        for (const e of batch) {
          expect(e.index).toBe(expected);
          expect(e.term).toBeGreaterThanOrEqual(lastTerm);
          const want = expectedPayload(group, e.index, e.term, e.data[0] === 1);
          expect(Buffer.compare(Buffer.from(e.data), Buffer.from(want)), `entry ${e.index}`).toBe(
            0,
          );
          lastTerm = e.term;
          expected++;
        }
      }
    }
    return meta.term;
  } finally {
    await store.close();
  }
}

describe('crash safety under SIGKILL', () => {
  const tmp = tempDir('crash');
  afterAll(() => tmp.remove());

  it(`every acknowledged write survives ${KILLS} SIGKILLs at random moments, in both durability modes`, async () => {
    const acked: Acked = { index: {}, term: 0, votedFor: null };
    let term = 0;
    let rng = 0x9e3779b9;
    const random = () => {
      rng ^= rng << 13;
      rng >>>= 0;
      rng ^= rng >>> 17;
      rng ^= rng << 5;
      rng >>>= 0;
      return rng / 0x1_0000_0000;
    };
    let killedWhileWriting = 0;
    for (let run = 0; run < KILLS; run++) {
      const mode = run % 2 === 0 ? 'full' : 'normal';
      // Mostly while writing; sometimes while the store is still opening and checking.
      const plan: KillPlan =
        random() < 0.2
          ? { kind: 'early', delayMs: Math.floor(random() * 150) }
          : {
              kind: 'amidWrites',
              acks: 1 + Math.floor(random() * 40),
              delayMs: Math.floor(random() * 15),
            };
      const before = { ...acked.index };
      const result = await runAndKill(tmp.dir, mode, run + 1, plan, acked);
      expect(result.signal, `run ${run} ended by itself: ${result.stderr}`).toBe('SIGKILL');
      if (GROUPS.some((g) => (acked.index[g] ?? 0) > (before[g] ?? 0))) killedWhileWriting++;
      term = await verify(tmp.dir, acked, term);
    }
    // The kills did land among writes, not only before the first one.
    expect(killedWhileWriting).toBeGreaterThan(KILLS / 2);
    expect(acked.index.g0 ?? 0).toBeGreaterThan(0);
  }, 300_000); // 60 child processes: minutes on a loaded 2-core machine
});
