import { Metadata, status } from '@grpc/grpc-js';
import {
  AbortedError,
  BadRequestError,
  type ErrorCode,
  errorFromCode,
  InternalError,
  type PeerId,
  type RaftError,
  TimeoutError,
  UnauthenticatedError,
  UnreachableError,
} from '@kontiki/core';

/** Trailing metadata that carries a RaftError's exact code and details next to the gRPC status. */
export const ERROR_CODE_KEY = 'kontiki-error-code';
export const LEADER_ID_KEY = 'kontiki-leader-id';

const STATUS_OF_CODE: Record<ErrorCode, status> = {
  NOT_LEADER: status.FAILED_PRECONDITION,
  LEADER_STEPPED_DOWN: status.ABORTED,
  BUSY: status.RESOURCE_EXHAUSTED,
  SHUTDOWN: status.UNAVAILABLE,
  TERM_MISMATCH: status.FAILED_PRECONDITION,
  TIMEOUT: status.DEADLINE_EXCEEDED,
  ABORTED: status.CANCELLED,
  BAD_REQUEST: status.INVALID_ARGUMENT,
  INVALID_OPTION: status.INVALID_ARGUMENT,
  UNKNOWN_GROUP: status.NOT_FOUND,
  UNREACHABLE: status.UNAVAILABLE,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  NOT_MEMBER: status.PERMISSION_DENIED,
  CORRUPT_LOG: status.DATA_LOSS,
  STORAGE: status.INTERNAL,
  TRANSFER_IN_PROGRESS: status.FAILED_PRECONDITION,
  INTERNAL: status.INTERNAL,
};

/** What grpc-js needs to end a call with an error: status, details, trailing metadata. */
export interface GrpcErrorStatus {
  readonly code: status;
  readonly details: string;
  readonly metadata: Metadata;
}

/**
 * A RaftError as a gRPC status: the nearest standard status (so that any gRPC tool reads
 * it sensibly) plus the exact Kontiki code and leader id in trailing metadata.
 */
export function grpcStatusOf(error: RaftError): GrpcErrorStatus {
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_KEY, error.code);
  const leaderId = (error as { leaderId?: unknown }).leaderId;
  if (typeof leaderId === 'string' && leaderId !== '') metadata.set(LEADER_ID_KEY, leaderId);
  return { code: STATUS_OF_CODE[error.code] ?? status.INTERNAL, details: error.message, metadata };
}

function first(metadata: Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The RaftError a gRPC status stands for. With Kontiki's metadata the code is exact; without
 * it (the status came from grpc-js itself, or from a server that is not Kontiki) the status
 * is mapped: UNAVAILABLE and CANCELLED (the connection or the peer went away) to
 * UNREACHABLE, DEADLINE_EXCEEDED to TIMEOUT, RESOURCE_EXHAUSTED (a message above the
 * size limit) and INVALID_ARGUMENT and UNIMPLEMENTED to BAD_REQUEST, UNAUTHENTICATED and
 * PERMISSION_DENIED to UNAUTHENTICATED, anything else to INTERNAL.
 */
export function errorOfGrpcStatus(
  s: { code: number; details: string; metadata?: Metadata | undefined },
  peerId: PeerId,
): RaftError {
  const code = first(s.metadata, ERROR_CODE_KEY);
  if (code !== undefined) {
    const leaderId = first(s.metadata, LEADER_ID_KEY);
    return errorFromCode(code, s.details, leaderId === undefined ? {} : { leaderId });
  }
  const details = `${s.details} (gRPC status ${status[s.code] ?? s.code})`;
  switch (s.code) {
    case status.UNAVAILABLE:
    case status.CANCELLED:
      return new UnreachableError(peerId, `peer ${peerId} is unreachable: ${details}`);
    case status.DEADLINE_EXCEEDED:
      return new TimeoutError(details);
    case status.RESOURCE_EXHAUSTED:
    case status.INVALID_ARGUMENT:
    case status.UNIMPLEMENTED:
      return new BadRequestError(details);
    case status.UNAUTHENTICATED:
    case status.PERMISSION_DENIED:
      return new UnauthenticatedError(details);
    case status.ABORTED:
      return new AbortedError(details);
    default:
      return new InternalError(details);
  }
}

/** For tests and tools: the gRPC status a Kontiki error code maps to. */
export function grpcStatusCodeOf(code: ErrorCode): status {
  return STATUS_OF_CODE[code] ?? status.INTERNAL;
}
