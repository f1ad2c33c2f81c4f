import type { GroupId, PeerId } from './types.js';

/** Stable codes of every error that crosses Kontiki's public API or the wire. */
export const ErrorCode = {
  NOT_LEADER: 'NOT_LEADER',
  LEADER_STEPPED_DOWN: 'LEADER_STEPPED_DOWN',
  BUSY: 'BUSY',
  SHUTDOWN: 'SHUTDOWN',
  TERM_MISMATCH: 'TERM_MISMATCH',
  TIMEOUT: 'TIMEOUT',
  ABORTED: 'ABORTED',
  BAD_REQUEST: 'BAD_REQUEST',
  INVALID_OPTION: 'INVALID_OPTION',
  UNKNOWN_GROUP: 'UNKNOWN_GROUP',
  UNREACHABLE: 'UNREACHABLE',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  NOT_MEMBER: 'NOT_MEMBER',
  CORRUPT_LOG: 'CORRUPT_LOG',
  STORAGE: 'STORAGE',
  TRANSFER_IN_PROGRESS: 'TRANSFER_IN_PROGRESS',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const RAFT_ERROR = Symbol.for('@kontiki/core/RaftError');

/**
 * The base of every Kontiki error. Match on `code` (stable, carried across the wire),
 * or use `RaftError.is`, which works across two installed copies of the package.
 */
export class RaftError extends Error {
  readonly code: ErrorCode;
  readonly [RAFT_ERROR] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'RaftError';
  }

  static is(value: unknown, code?: ErrorCode): value is RaftError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as { [RAFT_ERROR]?: unknown })[RAFT_ERROR] === true &&
      (code === undefined || (value as RaftError).code === code)
    );
  }
}

/** A proposal or read sent to a node that is not the leader. `leaderId` is set when known. */
export class NotLeaderError extends RaftError {
  readonly leaderId: PeerId | undefined;
  constructor(leaderId: PeerId | undefined, message?: string) {
    super(
      ErrorCode.NOT_LEADER,
      message ??
        (leaderId
          ? `not the leader; the leader is ${leaderId}`
          : 'not the leader; no leader is known'),
    );
    this.name = 'NotLeaderError';
    this.leaderId = leaderId;
  }
}

/**
 * The leader stepped down before the proposal was applied. Its outcome is unknown: it
 * may still be committed by the next leader. Retry only idempotent commands blindly.
 */
export class LeaderSteppedDownError extends RaftError {
  constructor(message = 'the leader stepped down before the proposal was applied') {
    super(ErrorCode.LEADER_STEPPED_DOWN, message);
    this.name = 'LeaderSteppedDownError';
  }
}

/** Too many proposals are waiting to be applied: back off and retry. */
export class BusyError extends RaftError {
  constructor(message = 'too many proposals are pending; retry later') {
    super(ErrorCode.BUSY, message);
    this.name = 'BusyError';
  }
}

export class ShutdownError extends RaftError {
  constructor(message = 'the node is shut down') {
    super(ErrorCode.SHUTDOWN, message);
    this.name = 'ShutdownError';
  }
}

/** `expectedTerm` was given and the leader's term is another one. */
export class TermMismatchError extends RaftError {
  readonly expectedTerm: number;
  readonly actualTerm: number;
  constructor(expectedTerm: number, actualTerm: number) {
    super(
      ErrorCode.TERM_MISMATCH,
      `expected term ${expectedTerm}, the leader is in term ${actualTerm}`,
    );
    this.name = 'TermMismatchError';
    this.expectedTerm = expectedTerm;
    this.actualTerm = actualTerm;
  }
}

export class TimeoutError extends RaftError {
  constructor(message = 'the operation timed out') {
    super(ErrorCode.TIMEOUT, message);
    this.name = 'TimeoutError';
  }
}

export class AbortedError extends RaftError {
  constructor(message = 'the operation was aborted', options?: { cause?: unknown }) {
    super(ErrorCode.ABORTED, message, options);
    this.name = 'AbortedError';
  }
}

/** A malformed or unacceptable request; nothing was changed. */
export class BadRequestError extends RaftError {
  constructor(message: string) {
    super(ErrorCode.BAD_REQUEST, message);
    this.name = 'BadRequestError';
  }
}

/** A constructor or factory was given a bad option; `option` names it. */
export class InvalidOptionError extends RaftError {
  readonly option: string;
  constructor(option: string, message: string) {
    super(ErrorCode.INVALID_OPTION, `invalid option ${option}: ${message}`);
    this.name = 'InvalidOptionError';
    this.option = option;
  }
}

/** A message arrived for a group this endpoint does not host. */
export class UnknownGroupError extends RaftError {
  readonly groupId: GroupId;
  constructor(groupId: GroupId) {
    super(ErrorCode.UNKNOWN_GROUP, `no raft group ${JSON.stringify(groupId)} on this endpoint`);
    this.name = 'UnknownGroupError';
    this.groupId = groupId;
  }
}

/** The peer could not be reached (no route, connection refused, partitioned, closed). */
export class UnreachableError extends RaftError {
  readonly peerId: PeerId | undefined;
  constructor(peerId: PeerId | undefined, message?: string, options?: { cause?: unknown }) {
    super(ErrorCode.UNREACHABLE, message ?? `peer ${peerId ?? '?'} is unreachable`, options);
    this.name = 'UnreachableError';
    this.peerId = peerId;
  }
}

export class UnauthenticatedError extends RaftError {
  constructor(message = 'the connection was not authenticated') {
    super(ErrorCode.UNAUTHENTICATED, message);
    this.name = 'UnauthenticatedError';
  }
}

/**
 * A Raft request from a peer that is not a member of the group as the receiver knows it (or a
 * vote asked by a non-voter). Refused without touching term, vote, log or lease.
 */
export class NotMemberError extends RaftError {
  readonly peerId: PeerId | undefined;
  constructor(peerId: PeerId | undefined, message?: string) {
    super(
      ErrorCode.NOT_MEMBER,
      message ?? `${peerId ?? 'the sender'} is not a member of this group`,
    );
    this.name = 'NotMemberError';
    this.peerId = peerId;
  }
}

/** A stored record failed its check; the store refuses to start rather than lose entries. */
export class CorruptLogError extends RaftError {
  readonly groupId: GroupId | undefined;
  readonly index: number | undefined;
  constructor(message: string, details: { groupId?: GroupId; index?: number } = {}) {
    super(ErrorCode.CORRUPT_LOG, message);
    this.name = 'CorruptLogError';
    this.groupId = details.groupId;
    this.index = details.index;
  }
}

export class StorageError extends RaftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.STORAGE, message, options);
    this.name = 'StorageError';
  }
}

export class TransferInProgressError extends RaftError {
  constructor(message = 'a leadership transfer is in progress') {
    super(ErrorCode.TRANSFER_IN_PROGRESS, message);
    this.name = 'TransferInProgressError';
  }
}

export class InternalError extends RaftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.INTERNAL, message, options);
    this.name = 'InternalError';
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCode, value);
}

/**
 * Rebuilds a typed error from its code and message, as a transport does with an error
 * that came over the wire. Unknown codes become INTERNAL.
 */
export function errorFromCode(
  code: string,
  message: string,
  details: { leaderId?: string; groupId?: string; peerId?: string } = {},
): RaftError {
  switch (code) {
    case ErrorCode.NOT_LEADER:
      return new NotLeaderError(details.leaderId || undefined, message);
    case ErrorCode.LEADER_STEPPED_DOWN:
      return new LeaderSteppedDownError(message);
    case ErrorCode.BUSY:
      return new BusyError(message);
    case ErrorCode.SHUTDOWN:
      return new ShutdownError(message);
    case ErrorCode.TIMEOUT:
      return new TimeoutError(message);
    case ErrorCode.ABORTED:
      return new AbortedError(message);
    case ErrorCode.BAD_REQUEST:
      return new BadRequestError(message);
    case ErrorCode.UNKNOWN_GROUP: {
      const e = new UnknownGroupError(details.groupId ?? '');
      e.message = message;
      return e;
    }
    case ErrorCode.UNREACHABLE:
      return new UnreachableError(details.peerId, message);
    case ErrorCode.UNAUTHENTICATED:
      return new UnauthenticatedError(message);
    case ErrorCode.NOT_MEMBER:
      return new NotMemberError(details.peerId || undefined, message);
    case ErrorCode.CORRUPT_LOG:
      return new CorruptLogError(message);
    case ErrorCode.STORAGE:
      return new StorageError(message);
    case ErrorCode.TRANSFER_IN_PROGRESS:
      return new TransferInProgressError(message);
    case ErrorCode.TERM_MISMATCH:
    case ErrorCode.INVALID_OPTION:
    case ErrorCode.INTERNAL:
      return new RaftError(code, message);
    default:
      return new InternalError(`${code}: ${message}`);
  }
}

/** Wraps anything thrown into a RaftError, keeping RaftErrors as they are. */
export function toRaftError(error: unknown, fallback: ErrorCode = ErrorCode.INTERNAL): RaftError {
  if (RaftError.is(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RaftError(fallback, message, { cause: error });
}
