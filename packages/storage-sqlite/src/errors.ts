import { StorageError } from '@kontiki/core';

/**
 * The file is not a Kontiki store: not SQLite at all, or a SQLite database whose tables are
 * someone else's. Nothing was written to it. Code STORAGE; match on `name`.
 */
export class NotAStoreError extends StorageError {
  readonly path: string;
  /** Why the file is not a store. */
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(`${path} is not a Kontiki store: ${reason}; it was left untouched`);
    this.name = 'NotAStoreError';
    this.path = path;
    this.reason = reason;
  }
}

/**
 * The store was written with a newer schema than this version of @kontiki/storage-sqlite
 * understands. Nothing was written to it: upgrade the package. Code STORAGE; match on `name`.
 */
export class SchemaVersionError extends StorageError {
  readonly path: string;
  readonly found: number;
  readonly supported: number;
  constructor(path: string, found: number, supported: number) {
    super(
      `${path} has schema version ${found}, newer than the ${supported} this version of @kontiki/storage-sqlite understands; it was left untouched`,
    );
    this.name = 'SchemaVersionError';
    this.path = path;
    this.found = found;
    this.supported = supported;
  }
}
