import { ErrorCode, errorFromCode, RaftError } from '@kontiki/core';
import type * as pb from './gen/kontiki/raft/v1/raft.js';
import { checkGroupId, checkPeerId, WIRE_LIMITS } from './limits.js';

/**
 * A RaftError as it crosses the wire: its code, message and the details of the typed
 * subclasses (NotLeaderError.leaderId, UnknownGroupError.groupId, UnreachableError.peerId).
 * Anything else a handler throws travels as INTERNAL with its message.
 */
export function errorToProto(error: unknown): pb.RpcError {
  if (!RaftError.is(error)) {
    return {
      code: ErrorCode.INTERNAL,
      message: error instanceof Error ? error.message : String(error),
      leaderId: '',
      groupId: '',
      peerId: '',
    };
  }
  const details = error as RaftError & { leaderId?: unknown; groupId?: unknown; peerId?: unknown };
  return {
    code: error.code,
    message: error.message,
    leaderId: typeof details.leaderId === 'string' ? details.leaderId : '',
    groupId: typeof details.groupId === 'string' ? details.groupId : '',
    peerId: typeof details.peerId === 'string' ? details.peerId : '',
  };
}

/** An id of an error's details if it is a valid one; a malformed id is dropped, not trusted. */
function validId(value: string, check: (v: string, field: string) => string): string | undefined {
  if (value === '') return undefined;
  try {
    return check(value, 'id');
  } catch {
    return undefined;
  }
}

/**
 * The typed error a wire error stands for (unknown codes become INTERNAL). What a peer says
 * about itself is bounded: a long message is cut, an id that is not a valid one is dropped.
 */
export function errorFromProto(error: pb.RpcError): RaftError {
  const details: { leaderId?: string; groupId?: string; peerId?: string } = {};
  const leaderId = validId(error.leaderId, checkPeerId);
  const groupId = validId(error.groupId, checkGroupId);
  const peerId = validId(error.peerId, checkPeerId);
  if (leaderId !== undefined) details.leaderId = leaderId;
  if (groupId !== undefined) details.groupId = groupId;
  if (peerId !== undefined) details.peerId = peerId;
  const max = WIRE_LIMITS.maxErrorMessageLength;
  const message = error.message.length > max ? `${error.message.slice(0, max)}...` : error.message;
  const code = error.code.length > 64 ? error.code.slice(0, 64) : error.code;
  return errorFromCode(code, message, details);
}
