/**
 * Durable storage for Kontiki Raft nodes on SQLite (better-sqlite3): the log, term/vote and
 * snapshots of many Raft groups in one database file, in WAL mode, with a checksum on every
 * record and group commit across groups. SQLite runs on the main thread by default (the
 * fastest); `thread: 'worker'` moves it to a worker thread, so that commits and their fsyncs
 * never block the event loop.
 *
 * @example
 * ```ts
 * import { RaftNode } from '@kontiki/core';
 * import { SqliteStore } from '@kontiki/storage-sqlite';
 *
 * const store = await SqliteStore.open('./data', { synchronous: 'full' });
 * const node = new RaftNode({
 *   groupId: 'kv',
 *   peerId: 'n1',
 *   initialConfiguration: { voters: ['n1', 'n2', 'n3'] },
 *   transport,
 *   logStorage: store.logStorage('kv'),
 *   metaStorage: store.metaStorage('kv'),
 *   snapshotStorage: store.snapshotStorage('kv'),
 *   stateMachine,
 * });
 * await node.start();
 * // ...
 * await node.shutdown();
 * await store.close();
 * ```
 *
 * @packageDocumentation
 */
export { NotAStoreError, SchemaVersionError } from './errors.js';
export { SqliteLogStorage } from './log-storage.js';
export type { TruncatedTail } from './log-verifier.js';
export { SqliteMetaStorage } from './meta-storage.js';
export type {
  Durability,
  RecoveryMode,
  ResolvedStoreOptions,
  SqliteStoreOptions,
  ThreadMode,
} from './options.js';
export { SCHEMA_VERSION } from './schema.js';
export { SqliteSnapshotReader } from './snapshot-reader.js';
export { SqliteSnapshotStorage } from './snapshot-storage.js';
export { SqliteSnapshotWriter } from './snapshot-writer.js';
export { DEFAULT_FILE_NAME, SqliteStore } from './sqlite-store.js';
