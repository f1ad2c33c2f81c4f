/**
 * In-memory storage for Kontiki nodes: log, term/vote and snapshots. For tests, the
 * simulator and nodes whose state may vanish with the process.
 *
 * @example
 * ```ts
 * import { MemoryLogStorage, MemoryMetaStorage } from '@kontiki/storage-memory';
 * const logStorage = new MemoryLogStorage();
 * const metaStorage = new MemoryMetaStorage();
 * ```
 *
 * @packageDocumentation
 */
export { MemoryLogStorage } from './log-storage.js';
export { MemoryMetaStorage } from './meta-storage.js';
export { MemorySnapshotStorage } from './snapshot-storage.js';
