import { BadRequestError, type GroupId, InvalidOptionError } from '@kontiki/core';
import type { EngineLink, LinkEvents } from './engine-link.js';
import { InlineLink } from './inline-link.js';
import { SqliteLogStorage } from './log-storage.js';
import type { TruncatedTail } from './log-verifier.js';
import { SqliteMetaStorage } from './meta-storage.js';
import { OpQueue } from './op-queue.js';
import {
  type ResolvedStoreOptions,
  resolveStoreOptions,
  type SqliteStoreOptions,
} from './options.js';
import { SqliteSnapshotStorage } from './snapshot-storage.js';
import { type GroupMirror, StoreContext } from './store-context.js';
import type { TestHooks } from './test-hooks.js';
import { WorkerLink } from './worker-link.js';

export { DEFAULT_FILE_NAME } from './open-database.js';

/**
 * One SQLite database file holding the logs, terms, votes and snapshots of any number of
 * Raft groups. Open it once per process and data directory; hand each node its group's
 * storages; close it after the nodes have shut down.
 *
 * SQLite runs on the calling thread by default (`thread: 'main'`); with `thread: 'worker'` it
 * runs on a worker thread of the store's own, so commits and their fsyncs never block the
 * event loop. Writes from every group that arrive
 * in the same turn of the event loop share one transaction and so one fsync (group commit),
 * and so do the writes that arrive while the previous transaction is being written. The file
 * is opened with an exclusive lock: a second store (in this process or another) on the same
 * file fails to open.
 */
export class SqliteStore {
  /** The database file. */
  readonly path: string;
  readonly options: ResolvedStoreOptions;
  /** Torn tails removed at open (only with `recover: 'truncate-torn-tail'`). */
  readonly recovered: readonly TruncatedTail[];

  private readonly context: StoreContext;
  private readonly groups = new Map<GroupId, GroupMirror>();
  private closedFlag = false;
  private closing: Promise<void> | undefined;

  /**
   * Opens (or creates) a store. `path` is a database file, or an existing directory in
   * which the file is `kontiki.sqlite`. Every record is checked before this resolves.
   *
   * Rejects with InvalidOptionError for a bad option, NotAStoreError for a file that is not
   * a Kontiki store, SchemaVersionError for a store written by a newer version (neither is
   * modified), CorruptLogError for a record that fails its check, and StorageError when
   * the file cannot be opened or is in use by another store.
   */
  static open(path: string, options?: SqliteStoreOptions): Promise<SqliteStore> {
    return openSqliteStore(path, options);
  }

  /** @internal Use `SqliteStore.open`. */
  constructor(
    private readonly link: EngineLink,
    private readonly queue: OpQueue,
    options: ResolvedStoreOptions,
  ) {
    this.path = link.opened.file;
    this.options = options;
    this.recovered = link.opened.recovered;
    for (const g of link.opened.groups) {
      this.groups.set(g.name, { name: g.name, log: g.log, meta: g.meta, pendingWrites: 0 });
    }
    this.context = new StoreContext(queue, options.thread === 'worker', () => this.closedFlag);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The groups this store holds data for (and those whose storages were asked for). */
  groupIds(): GroupId[] {
    return [...this.groups.keys()];
  }

  /** The log of `groupId` (one object per group while it is open). */
  logStorage(groupId: GroupId): SqliteLogStorage {
    const group = this.openGroup(groupId);
    group.views ??= {};
    const views = group.views;
    views.log ??= new SqliteLogStorage(this.context, group);
    return views.log;
  }

  /** The term and vote of `groupId`. */
  metaStorage(groupId: GroupId): SqliteMetaStorage {
    const group = this.openGroup(groupId);
    group.views ??= {};
    const views = group.views;
    views.meta ??= new SqliteMetaStorage(this.context, group);
    return views.meta;
  }

  /** The snapshots of `groupId`. */
  snapshotStorage(groupId: GroupId): SqliteSnapshotStorage {
    const group = this.openGroup(groupId);
    group.views ??= {};
    const views = group.views;
    views.snapshot ??= new SqliteSnapshotStorage(this.context, group);
    return views.snapshot;
  }

  /**
   * Writes whatever is queued (those writes resolve as usual), then closes the file and
   * ends the worker. Calls on this store's storages afterwards reject with ShutdownError.
   * Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** @internal For benchmarks and tests: transactions committed since open. */
  get commitCount(): number {
    return this.queue.commits;
  }

  /**
   * @internal For benchmarks: transactions committed, and the batches of ops handed to the
   * engine (with `thread: 'worker'`, messages posted to the worker) with the ops and log
   * entries in them, since open.
   */
  get stats(): { commits: number; batches: number; ops: number; entries: number } {
    return { commits: this.queue.commits, ...this.queue.sent };
  }

  private async shutdown(): Promise<void> {
    this.closedFlag = true;
    // Queued writes are sent (a failed final commit rejects them); anything later is refused.
    this.queue.close();
    for (const g of this.groups.values()) {
      const v = g.views;
      if (v === undefined) continue;
      v.log?.detach();
      v.meta?.detach();
      v.snapshot?.detach();
      g.views = undefined;
    }
    await this.link.close();
  }

  /** The group's mirror, for a storage object of it; its row is created with its first write. */
  private openGroup(groupId: GroupId): GroupMirror {
    this.context.checkOpen();
    if (typeof groupId !== 'string' || groupId.length === 0) {
      throw new BadRequestError('a group id must be a non-empty string');
    }
    let g = this.groups.get(groupId);
    if (g === undefined) {
      g = {
        name: groupId,
        log: { first: 1, last: 0 },
        meta: { term: 0, votedFor: null },
        pendingWrites: 0,
      };
      this.groups.set(groupId, g);
    }
    return g;
  }
}

/**
 * `SqliteStore.open`, plus test hooks (not exported from the package). Options are checked
 * before anything is started or created.
 */
export async function openSqliteStore(
  path: string,
  options?: SqliteStoreOptions,
  hooks: TestHooks = {},
): Promise<SqliteStore> {
  const resolved = resolveStoreOptions(options);
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidOptionError('path', 'must be a non-empty string');
  }
  // The queue exists before the link (which answers into it); ops reach the link only once
  // the store exists, after the link does.
  let link: EngineLink | undefined;
  const queue = new OpQueue(
    (ops) => link?.send(ops),
    (busy) => link?.setBusy(busy),
  );
  const events: LinkEvents = {
    results: (results, commits) => queue.deliver(results, commits),
    failed: (error) => queue.fail(error),
  };
  link =
    resolved.thread === 'worker'
      ? await WorkerLink.start(path, resolved, hooks, events)
      : InlineLink.open(path, resolved, hooks, events);
  return new SqliteStore(link, queue, resolved);
}
