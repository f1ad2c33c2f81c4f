import { ErrorCode, errorFromCode, RaftError } from '@kontiki/core';
import type * as pb from './gen/kontiki/raft/v1/raft.js';

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

/** The typed error a wire error stands for (unknown codes become INTERNAL). */
export function errorFromProto(error: pb.RpcError): RaftError {
  const details: { leaderId?: string; groupId?: string; peerId?: string } = {};
  if (error.leaderId !== '') details.leaderId = error.leaderId;
  if (error.groupId !== '') details.groupId = error.groupId;
  if (error.peerId !== '') details.peerId = error.peerId;
  return errorFromCode(error.code, error.message, details);
}
