import { mkdirSync, type Stats, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  BadRequestError,
  type GroupId,
  InvalidOptionError,
  RaftError,
  ShutdownError,
  StorageError,
} from '@kontiki/core';
import Database from 'better-sqlite3';
import { groupChecksum } from './checksum.js';
import { GroupCommitter } from './group-commit.js';
import { SqliteLogStorage } from './log-storage.js';
import type { TruncatedTail } from './log-verifier.js';
import { SqliteMetaStorage } from './meta-storage.js';
import {
  type ResolvedStoreOptions,
  resolveStoreOptions,
  type SqliteStoreOptions,
} from './options.js';
import { checkFileHeader, createSchema, inspectSchema } from './schema.js';
import { SqliteSnapshotStorage } from './snapshot-storage.js';
import { Statements } from './statements.js';
import type { GroupState, StoreContext } from './store-context.js';
import { loadStore } from './store-verifier.js';

/** The file a store uses when `open` is given a directory. */
export const DEFAULT_FILE_NAME = 'kontiki.sqlite';

interface Views {
  log?: SqliteLogStorage;
  meta?: SqliteMetaStorage;
  snapshot?: SqliteSnapshotStorage;
}

/**
 * One SQLite database file holding the logs, terms, votes and snapshots of any number of
 * Raft groups. Open it once per process and data directory; hand each node its group's
 * storages; close it after the nodes have shut down.
 *
 * Writes from every group that arrive in the same turn of the event loop share one
 * transaction and so one fsync (group commit). The file is opened with an exclusive lock:
 * a second store (in this process or another) on the same file fails to open.
 */
export class SqliteStore {
  /** The database file. */
  readonly path: string;
  readonly options: ResolvedStoreOptions;
  /** Torn tails removed at open (only with `recover: 'truncate-torn-tail'`). */
  readonly recovered: readonly TruncatedTail[];

  private readonly db: Database.Database;
  private readonly context: StoreContext;
  private readonly groups: Map<GroupId, GroupState>;
  private readonly views = new Map<GroupId, Views>();
  private closedFlag = false;

  private constructor(
    db: Database.Database,
    path: string,
    options: ResolvedStoreOptions,
    loaded: { groups: Map<GroupId, GroupState>; recovered: TruncatedTail[] },
  ) {
    this.db = db;
    this.path = path;
    this.options = options;
    this.groups = loaded.groups;
    this.recovered = loaded.recovered;
    const statements = new Statements(db);
    this.context = {
      statements,
      committer: new GroupCommitter(db),
      checkOpen: () => {
        if (this.closedFlag) throw new ShutdownError('the SQLite store is closed');
      },
      snapshotReaders: new Map(),
    };
  }

  /**
   * Opens (or creates) a store. `path` is a database file, or an existing directory in
   * which the file is `kontiki.sqlite`. Every record is checked before this returns.
   *
   * Throws InvalidOptionError for a bad option, NotAStoreError for a file that is not a
   * Kontiki store, SchemaVersionError for a store written by a newer version (neither is
   * modified), CorruptLogError for a record that fails its check, and StorageError when
   * the file cannot be opened or is in use by another store.
   */
  static open(path: string, options?: SqliteStoreOptions): SqliteStore {
    const resolved = resolveStoreOptions(options);
    if (typeof path !== 'string' || path.length === 0) {
      throw new InvalidOptionError('path', 'must be a non-empty string');
    }
    let file: string;
    try {
      file = locateFile(path);
    } catch (error) {
      throw openError(error, path);
    }
    let db: Database.Database;
    try {
      db = new Database(file, { timeout: 0 });
    } catch (error) {
      throw new StorageError(`cannot open ${file}: ${messageOf(error)}`, { cause: error });
    }
    try {
      // Before the first read: the lock, once taken, is held until close, and no
      // shared-memory file is used (nothing but the database and its WAL on disk).
      db.pragma('locking_mode = EXCLUSIVE');
      const state = inspectSchema(db, file);
      // Only now, knowing the file is ours (or new), is anything written.
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal')
        throw new StorageError(`${file}: SQLite refused WAL mode (${String(mode)})`);
      db.pragma(`synchronous = ${resolved.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      if (state === 'new') createSchema(db);
      const loaded = loadStore(db, resolved.recover);
      return new SqliteStore(db, file, resolved, loaded);
    } catch (error) {
      db.close();
      throw openError(error, file);
    }
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The groups this store holds data for. */
  groupIds(): GroupId[] {
    return [...this.groups.keys()];
  }

  /** The log of `groupId` (one object per group while it is open). */
  logStorage(groupId: GroupId): SqliteLogStorage {
    const views = this.viewsOf(groupId);
    views.log ??= new SqliteLogStorage(this.context, this.group(groupId), () => {
      views.log = undefined;
    });
    return views.log;
  }

  /** The term and vote of `groupId`. */
  metaStorage(groupId: GroupId): SqliteMetaStorage {
    const views = this.viewsOf(groupId);
    views.meta ??= new SqliteMetaStorage(this.context, this.group(groupId), () => {
      views.meta = undefined;
    });
    return views.meta;
  }

  /** The snapshots of `groupId`. */
  snapshotStorage(groupId: GroupId): SqliteSnapshotStorage {
    const views = this.viewsOf(groupId);
    views.snapshot ??= new SqliteSnapshotStorage(this.context, this.group(groupId), () => {
      views.snapshot = undefined;
    });
    return views.snapshot;
  }

  /**
   * Writes whatever is queued (those writes resolve as usual), then closes the file. Calls
   * on this store's storages afterwards reject with ShutdownError. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    // A failed final commit has already rejected the writes it held; close regardless.
    this.context.committer.close();
    this.closedFlag = true;
    for (const v of this.views.values()) {
      v.log?.detach();
      v.meta?.detach();
      v.snapshot?.detach();
    }
    this.views.clear();
    try {
      this.db.close();
    } catch (error) {
      throw new StorageError(`closing ${this.path}: ${messageOf(error)}`, { cause: error });
    }
  }

  /** @internal For benchmarks: transactions committed since open. */
  get commitCount(): number {
    return this.context.committer.commits;
  }

  private viewsOf(groupId: GroupId): Views {
    this.context.checkOpen();
    if (typeof groupId !== 'string' || groupId.length === 0) {
      throw new BadRequestError('a group id must be a non-empty string');
    }
    let v = this.views.get(groupId);
    if (!v) {
      v = {};
      this.views.set(groupId, v);
    }
    return v;
  }

  /** The group's state, creating its row on first use. */
  private group(groupId: GroupId): GroupState {
    const known = this.groups.get(groupId);
    if (known) return known;
    let gid: number;
    try {
      gid = Number(
        this.context.statements.insertGroup.run(groupId, 1, groupChecksum(groupId, 1))
          .lastInsertRowid,
      );
    } catch (error) {
      throw new StorageError(`cannot add group ${groupId}: ${messageOf(error)}`, { cause: error });
    }
    const state: GroupState = {
      gid,
      name: groupId,
      log: { first: 1, last: 0 },
      meta: { term: 0, votedFor: null },
    };
    this.groups.set(groupId, state);
    return state;
  }
}

/** The database file for `path`: a file path, or a directory to put the default file in. */
function locateFile(path: string): string {
  const absolute = resolve(path);
  const stat = statOrUndefined(absolute);
  const file = stat?.isDirectory() ? join(absolute, DEFAULT_FILE_NAME) : absolute;
  const fileStat = file === absolute ? stat : statOrUndefined(file);
  if (fileStat === undefined) {
    // A new store: its directory may not exist yet.
    mkdirSync(dirname(file), { recursive: true });
  } else {
    if (!fileStat.isFile()) throw new StorageError(`${file} is not a regular file`);
    checkFileHeader(file, fileStat.size);
  }
  return file;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw new StorageError(`cannot stat ${path}: ${messageOf(error)}`, { cause: error });
  }
}

function openError(error: unknown, file: string): RaftError {
  if (RaftError.is(error)) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_BUSY') {
    return new StorageError(`${file} is in use by another store (it is locked)`, { cause: error });
  }
  if (code === 'SQLITE_NOTADB') {
    return new StorageError(`${file} is not a database`, { cause: error });
  }
  return new StorageError(`cannot open ${file}: ${messageOf(error)}`, { cause: error });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
