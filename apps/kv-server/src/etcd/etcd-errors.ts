import { Metadata, status } from '@grpc/grpc-js';
import { ErrorCode, RaftError } from '@kontiki/core';
import type { WriteOutcome } from '../error-mapping.js';

/**
 * Trailer of a failed write: `not-applied` (it certainly did not and will not take effect) or
 * `unknown` (it may still be committed). etcd has no such signal (its clients never retry a
 * write whose outcome is unknown); Kontiki's own clients and tests read it.
 */
export const OUTCOME_TRAILER = 'kontiki-outcome';

/** An answer of the etcd API that is a gRPC status, with the message etcd uses for it. */
export class EtcdStatusError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
    readonly outcome?: WriteOutcome,
  ) {
    super(details);
    this.name = 'EtcdStatusError';
  }

  /** What a grpc-js handler passes to its callback. */
  toServerError(): Error & { code: status; details: string; metadata: Metadata } {
    const metadata = new Metadata();
    if (this.outcome !== undefined) metadata.set(OUTCOME_TRAILER, this.outcome);
    return Object.assign(new Error(this.details), {
      code: this.code,
      details: this.details,
      metadata,
    });
  }
}

// etcd's own messages (its rpctypes), so that etcd clients recognise them.
export const emptyKey = () =>
  new EtcdStatusError(status.INVALID_ARGUMENT, 'etcdserver: key is not provided');
export const keyNotFound = () =>
  new EtcdStatusError(status.INVALID_ARGUMENT, 'etcdserver: key not found', 'not-applied');
export const valueProvided = () =>
  new EtcdStatusError(status.INVALID_ARGUMENT, 'etcdserver: value is provided');
export const leaseProvided = () =>
  new EtcdStatusError(status.INVALID_ARGUMENT, 'etcdserver: lease is provided');
export const tooManyOps = () =>
  new EtcdStatusError(status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request');
export const duplicateKey = () =>
  new EtcdStatusError(status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request');
export const requestTooLarge = () =>
  new EtcdStatusError(status.INVALID_ARGUMENT, 'etcdserver: request is too large');
export const leaseNotFound = () =>
  new EtcdStatusError(status.NOT_FOUND, 'etcdserver: requested lease not found');
export const compacted = () =>
  new EtcdStatusError(
    status.OUT_OF_RANGE,
    'etcdserver: mvcc: required revision has been compacted',
  );
export const futureRevision = () =>
  new EtcdStatusError(
    status.OUT_OF_RANGE,
    'etcdserver: mvcc: required revision is a future revision',
  );
export const noLeader = () =>
  new EtcdStatusError(status.UNAVAILABLE, 'etcdserver: no leader', 'not-applied');
export const leaderChanged = (outcome: WriteOutcome) =>
  new EtcdStatusError(status.UNAVAILABLE, 'etcdserver: leader changed', outcome);
export const notUtf8 = (what: string) =>
  new EtcdStatusError(
    status.INVALID_ARGUMENT,
    `etcdserver: the ${what} is not UTF-8 (Kontiki's kv-server stores keys and values as text)`,
  );
export const unimplemented = (what: string) =>
  new EtcdStatusError(status.UNIMPLEMENTED, `etcdserver: ${what} is not supported by Kontiki`);

/**
 * Maps what `node.apply` or `node.readIndex` threw to the status etcd answers in the same
 * situation. Writes carry their outcome (see OUTCOME_TRAILER).
 */
export function etcdErrorOf(error: unknown, kind: 'write' | 'read'): EtcdStatusError {
  if (error instanceof EtcdStatusError) return error;
  const write = kind === 'write';
  if (!RaftError.is(error)) {
    return new EtcdStatusError(
      status.UNKNOWN,
      `etcdserver: ${error instanceof Error ? error.message : String(error)}`,
      write ? 'unknown' : undefined,
    );
  }
  switch (error.code) {
    case ErrorCode.NOT_LEADER: {
      const raw = (error as { leaderId?: unknown }).leaderId;
      const known = typeof raw === 'string' && raw !== '';
      return known ? leaderChanged('not-applied') : noLeader();
    }
    case ErrorCode.TRANSFER_IN_PROGRESS:
      return leaderChanged('not-applied');
    case ErrorCode.BUSY:
      return new EtcdStatusError(
        status.RESOURCE_EXHAUSTED,
        'etcdserver: too many requests',
        'not-applied',
      );
    case ErrorCode.LEADER_STEPPED_DOWN:
      return leaderChanged('unknown');
    case ErrorCode.SHUTDOWN:
      return new EtcdStatusError(status.UNAVAILABLE, 'etcdserver: server stopped', 'unknown');
    case ErrorCode.UNREACHABLE:
    case ErrorCode.TIMEOUT:
    case ErrorCode.ABORTED:
      return new EtcdStatusError(
        status.UNAVAILABLE,
        'etcdserver: request timed out',
        write ? 'unknown' : undefined,
      );
    case ErrorCode.BAD_REQUEST:
      return new EtcdStatusError(status.INVALID_ARGUMENT, `etcdserver: ${error.message}`);
    default:
      return new EtcdStatusError(
        status.INTERNAL,
        `etcdserver: ${error.code}: ${error.message}`,
        write ? 'unknown' : undefined,
      );
  }
}

/** With `--groups` > 1: a transaction whose keys are in more than one group. */
export const crossGroupTxn = (groups: number) =>
  new EtcdStatusError(
    status.INVALID_ARGUMENT,
    `kontiki: cross-group transactions are not supported with --groups>1 (this server shards keys over ${groups} groups; the keys of this transaction, or a range in it, span more than one)`,
    'not-applied',
  );

/** With `--groups` > 1: a range read at a named revision (each group counts its own). */
export const revisionAcrossGroups = () =>
  new EtcdStatusError(
    status.INVALID_ARGUMENT,
    'kontiki: a range over several groups cannot be read at a revision with --groups>1 (each group has its own revisions); read at the current one (revision 0)',
  );
