import {
  BadRequestError,
  CorruptLogError,
  RaftError,
  ShutdownError,
  StorageError,
} from '@kontiki/core';
import { NotAStoreError, SchemaVersionError } from './errors.js';

/**
 * An error as plain data, to cross the thread boundary: structured clone keeps neither an
 * error's class nor its extra fields, and callers match on both (`instanceof`, `groupId`,
 * `index`, `found`, ...). Revived on the other side as the same class with the same fields.
 */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly groupId?: string;
  readonly index?: number;
  readonly path?: string;
  readonly reason?: string;
  readonly found?: number;
  readonly supported?: number;
  /** What SQLite (or Node) threw, for a StorageError made from it. */
  readonly cause?: { readonly message: string; readonly code?: string };
}

/** Kontiki's own errors pass as they are; anything SQLite threw becomes a StorageError. */
export function asStorageError(error: unknown): RaftError {
  if (RaftError.is(error)) return error;
  return new StorageError(`SQLite: ${messageOf(error)}`, { cause: error });
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function toWire(error: unknown): WireError {
  const e = asStorageError(error);
  const out: { -readonly [K in keyof WireError]: WireError[K] } = {
    name: e.name,
    message: e.message,
  };
  if (e instanceof CorruptLogError) {
    if (e.groupId !== undefined) out.groupId = e.groupId;
    if (e.index !== undefined) out.index = e.index;
  } else if (e instanceof NotAStoreError) {
    out.path = e.path;
    out.reason = e.reason;
  } else if (e instanceof SchemaVersionError) {
    out.path = e.path;
    out.found = e.found;
    out.supported = e.supported;
  }
  const cause: unknown = e.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    out.cause = { message: cause.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return out;
}

export function fromWire(w: WireError): RaftError {
  switch (w.name) {
    case 'CorruptLogError':
      return new CorruptLogError(w.message, {
        ...(w.groupId !== undefined ? { groupId: w.groupId } : {}),
        ...(w.index !== undefined ? { index: w.index } : {}),
      });
    case 'NotAStoreError':
      return new NotAStoreError(w.path ?? '', w.reason ?? w.message);
    case 'SchemaVersionError':
      return new SchemaVersionError(w.path ?? '', w.found ?? 0, w.supported ?? 0);
    case 'BadRequestError':
      return new BadRequestError(w.message);
    case 'ShutdownError':
      return new ShutdownError(w.message);
    default: {
      const cause =
        w.cause === undefined
          ? undefined
          : Object.assign(new Error(w.cause.message), w.cause.code ? { code: w.cause.code } : {});
      return new StorageError(w.message, cause === undefined ? undefined : { cause });
    }
  }
}
