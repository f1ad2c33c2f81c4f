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

export interface SqliteStoreOptions {
  /** Default `'full'`. */
  readonly synchronous?: Durability;
  /** Default `'refuse'`. */
  readonly recover?: RecoveryMode;
}

export interface ResolvedStoreOptions {
  readonly synchronous: Durability;
  readonly recover: RecoveryMode;
}

const DURABILITIES: readonly Durability[] = ['full', 'normal'];
const RECOVERY_MODES: readonly RecoveryMode[] = ['refuse', 'truncate-torn-tail'];

export function resolveStoreOptions(options: unknown): ResolvedStoreOptions {
  if (options === undefined) return { synchronous: 'full', recover: 'refuse' };
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'synchronous' && key !== 'recover') {
      throw new InvalidOptionError(key, 'is not an option of SqliteStore');
    }
  }
  const synchronous = o.synchronous ?? 'full';
  if (!DURABILITIES.includes(synchronous as Durability)) {
    throw new InvalidOptionError(
      'synchronous',
      `must be 'full' or 'normal', got ${JSON.stringify(synchronous)}`,
    );
  }
  const recover = o.recover ?? 'refuse';
  if (!RECOVERY_MODES.includes(recover as RecoveryMode)) {
    throw new InvalidOptionError(
      'recover',
      `must be 'refuse' or 'truncate-torn-tail', got ${JSON.stringify(recover)}`,
    );
  }
  return { synchronous: synchronous as Durability, recover: recover as RecoveryMode };
}
