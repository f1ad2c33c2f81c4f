import { InvalidOptionError } from '@kontiki/core';

/**
 * When an append (and every other write) resolves.
 * - `'full'`: once SQLite has fsynced the write-ahead log: the write survives a power loss.
 * - `'normal'`: once the write is in the operating system (no fsync per commit; SQLite
 *   fsyncs at checkpoints): it survives the process being killed, but a power loss or kernel
 *   crash may lose the last commits. The database itself never ends up corrupt either way.
 */
export type Durability = 'full' | 'normal';

/**
 * What to do when a record fails its check at open.
 * - `'refuse'`: throw CorruptLogError naming the group and index; change nothing.
 * - `'truncate-torn-tail'`: if the bad records are the tail of a group's log (no good
 *   record after the first bad one), delete that tail and open; a bad record with good
 *   ones after it still refuses. The truncated ranges are listed in `store.recovered`.
 */
export type RecoveryMode = 'refuse' | 'truncate-torn-tail';

/**
 * Where SQLite runs.
 * - `'worker'`: on a worker thread of its own. Commits and their fsyncs never block the
 *   event loop, so timers and network I/O (Raft heartbeats) keep flowing during a slow disk
 *   write. Every batch is copied once across the thread boundary.
 * - `'main'`: on the calling thread, as better-sqlite3 does by default. No copies and no
 *   thread, but each commit blocks the event loop for as long as the disk takes.
 */
export type ThreadMode = 'worker' | 'main';

export interface SqliteStoreOptions {
  /**
   * When a write resolves: after the fsync (`'full'`), or once in the OS page cache.
   * @defaultValue `'full'`
   */
  readonly synchronous?: Durability;
  /**
   * What a bad record found at open does: refuse to open, or cut a torn tail.
   * @defaultValue `'refuse'`
   */
  readonly recover?: RecoveryMode;
  /**
   * Where SQLite runs: `'main'` has the lowest latency; `'worker'` suits slow disks or short
   * election timeouts.
   * @defaultValue `'main'`
   */
  readonly thread?: ThreadMode;
}

export interface ResolvedStoreOptions {
  readonly synchronous: Durability;
  readonly recover: RecoveryMode;
  readonly thread: ThreadMode;
}

const DURABILITIES: readonly Durability[] = ['full', 'normal'];
const RECOVERY_MODES: readonly RecoveryMode[] = ['refuse', 'truncate-torn-tail'];
const THREAD_MODES: readonly ThreadMode[] = ['worker', 'main'];
const KEYS = new Set(['synchronous', 'recover', 'thread']);

function pick<T extends string>(
  o: Record<string, unknown>,
  key: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const value = o[key] ?? fallback;
  if (!allowed.includes(value as T)) {
    throw new InvalidOptionError(
      key,
      `must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

export function resolveStoreOptions(options: unknown): ResolvedStoreOptions {
  if (options === undefined) return { synchronous: 'full', recover: 'refuse', thread: 'main' };
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KEYS.has(key)) throw new InvalidOptionError(key, 'is not an option of SqliteStore');
  }
  return {
    synchronous: pick(o, 'synchronous', DURABILITIES, 'full'),
    recover: pick(o, 'recover', RECOVERY_MODES, 'refuse'),
    thread: pick(o, 'thread', THREAD_MODES, 'main'),
  };
}
