import {
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  BadRequestError,
  type Configuration,
  EntryType,
  type InstallSnapshotRequest,
  type InstallSnapshotResponse,
  type LogEntry,
  type ReadIndexRequest,
  type ReadIndexResponse,
  type RequestVoteRequest,
  type RequestVoteResponse,
  type RpcEnvelope,
  type SnapshotMeta,
  type TimeoutNowRequest,
  type TimeoutNowResponse,
} from '@kontiki/core';
import * as pb from './gen/kontiki/raft/v1/raft.js';
import { toSafeNumber, toUint64 } from './uint64.js';

// Conversions between core's message types and the generated protobuf ones. `toProto*`
// checks what core hands out (safe integers); `fromProto*` checks what the wire brought in
// (presence of required sub-messages, known enum values, uint64 within 2^53 - 1) and throws
// BadRequestError, so a handler never sees a message it could misread.

function headerToProto(r: RpcEnvelope): pb.RpcHeader {
  return { groupId: r.groupId, from: r.from, to: r.to, term: toUint64(r.term, 'term') };
}

function headerFromProto(h: pb.RpcHeader | undefined): RpcEnvelope {
  if (h === undefined) throw new BadRequestError('request has no header');
  return { groupId: h.groupId, from: h.from, to: h.to, term: toSafeNumber(h.term, 'term') };
}

function entryTypeToProto(type: EntryType): pb.EntryType {
  switch (type) {
    case EntryType.Data:
      return pb.EntryType.ENTRY_TYPE_DATA;
    case EntryType.Configuration:
      return pb.EntryType.ENTRY_TYPE_CONFIGURATION;
    default:
      throw new BadRequestError(`unknown entry type ${String(type)}`);
  }
}

function entryTypeFromProto(type: pb.EntryType): EntryType {
  switch (type) {
    case pb.EntryType.ENTRY_TYPE_DATA:
      return EntryType.Data;
    case pb.EntryType.ENTRY_TYPE_CONFIGURATION:
      return EntryType.Configuration;
    default:
      throw new BadRequestError(`unknown entry type ${String(type)}`);
  }
}

export function entryToProto(e: LogEntry): pb.LogEntry {
  return {
    index: toUint64(e.index, 'entry index'),
    term: toUint64(e.term, 'entry term'),
    type: entryTypeToProto(e.type),
    data: e.data,
  };
}

export function entryFromProto(e: pb.LogEntry): LogEntry {
  return {
    index: toSafeNumber(e.index, 'entry index'),
    term: toSafeNumber(e.term, 'entry term'),
    type: entryTypeFromProto(e.type),
    data: e.data,
  };
}

export function configurationToProto(c: Configuration): pb.Configuration {
  return {
    voters: [...c.voters],
    oldVoters: [...(c.oldVoters ?? [])],
    learners: [...(c.learners ?? [])],
  };
}

/** Empty lists become absent, as core's own encoding of a configuration does. */
export function configurationFromProto(c: pb.Configuration | undefined): Configuration {
  if (c === undefined) throw new BadRequestError('snapshot meta has no configuration');
  return {
    voters: c.voters,
    ...(c.oldVoters.length > 0 ? { oldVoters: c.oldVoters } : {}),
    ...(c.learners.length > 0 ? { learners: c.learners } : {}),
  };
}

function snapshotMetaToProto(m: SnapshotMeta): pb.SnapshotMeta {
  return {
    lastIncludedIndex: toUint64(m.lastIncludedIndex, 'lastIncludedIndex'),
    lastIncludedTerm: toUint64(m.lastIncludedTerm, 'lastIncludedTerm'),
    configuration: configurationToProto(m.configuration),
  };
}

function snapshotMetaFromProto(m: pb.SnapshotMeta | undefined): SnapshotMeta {
  if (m === undefined) throw new BadRequestError('InstallSnapshot request has no meta');
  return {
    lastIncludedIndex: toSafeNumber(m.lastIncludedIndex, 'lastIncludedIndex'),
    lastIncludedTerm: toSafeNumber(m.lastIncludedTerm, 'lastIncludedTerm'),
    configuration: configurationFromProto(m.configuration),
  };
}

export function requestVoteRequestToProto(r: RequestVoteRequest): pb.RequestVoteRequest {
  return {
    header: headerToProto(r),
    preVote: r.preVote,
    lastLogIndex: toUint64(r.lastLogIndex, 'lastLogIndex'),
    lastLogTerm: toUint64(r.lastLogTerm, 'lastLogTerm'),
    disruptedLeader:
      r.disruptedLeader === undefined
        ? undefined
        : {
            peerId: r.disruptedLeader.peerId,
            term: toUint64(r.disruptedLeader.term, 'disruptedLeader.term'),
          },
  };
}

export function requestVoteRequestFromProto(r: pb.RequestVoteRequest): RequestVoteRequest {
  const d = r.disruptedLeader;
  return {
    ...headerFromProto(r.header),
    preVote: r.preVote,
    lastLogIndex: toSafeNumber(r.lastLogIndex, 'lastLogIndex'),
    lastLogTerm: toSafeNumber(r.lastLogTerm, 'lastLogTerm'),
    ...(d === undefined
      ? {}
      : {
          disruptedLeader: { peerId: d.peerId, term: toSafeNumber(d.term, 'disruptedLeader.term') },
        }),
  };
}

export function requestVoteResponseToProto(r: RequestVoteResponse): pb.RequestVoteResponse {
  return { term: toUint64(r.term, 'term'), granted: r.granted, leaderId: r.leaderId ?? '' };
}

export function requestVoteResponseFromProto(r: pb.RequestVoteResponse): RequestVoteResponse {
  return {
    term: toSafeNumber(r.term, 'term'),
    granted: r.granted,
    ...(r.leaderId !== '' ? { leaderId: r.leaderId } : {}),
  };
}

export function appendEntriesRequestToProto(r: AppendEntriesRequest): pb.AppendEntriesRequest {
  return {
    header: headerToProto(r),
    prevLogIndex: toUint64(r.prevLogIndex, 'prevLogIndex'),
    prevLogTerm: toUint64(r.prevLogTerm, 'prevLogTerm'),
    entries: r.entries.map(entryToProto),
    leaderCommit: toUint64(r.leaderCommit, 'leaderCommit'),
  };
}

export function appendEntriesRequestFromProto(r: pb.AppendEntriesRequest): AppendEntriesRequest {
  return {
    ...headerFromProto(r.header),
    prevLogIndex: toSafeNumber(r.prevLogIndex, 'prevLogIndex'),
    prevLogTerm: toSafeNumber(r.prevLogTerm, 'prevLogTerm'),
    entries: r.entries.map(entryFromProto),
    leaderCommit: toSafeNumber(r.leaderCommit, 'leaderCommit'),
  };
}

export function appendEntriesResponseToProto(r: AppendEntriesResponse): pb.AppendEntriesResponse {
  return {
    term: toUint64(r.term, 'term'),
    success: r.success,
    lastLogIndex: toUint64(r.lastLogIndex, 'lastLogIndex'),
    conflictTerm:
      r.conflictTerm === undefined ? undefined : toUint64(r.conflictTerm, 'conflictTerm'),
    conflictIndex:
      r.conflictIndex === undefined ? undefined : toUint64(r.conflictIndex, 'conflictIndex'),
  };
}

export function appendEntriesResponseFromProto(r: pb.AppendEntriesResponse): AppendEntriesResponse {
  return {
    term: toSafeNumber(r.term, 'term'),
    success: r.success,
    lastLogIndex: toSafeNumber(r.lastLogIndex, 'lastLogIndex'),
    ...(r.conflictTerm === undefined
      ? {}
      : { conflictTerm: toSafeNumber(r.conflictTerm, 'conflictTerm') }),
    ...(r.conflictIndex === undefined
      ? {}
      : { conflictIndex: toSafeNumber(r.conflictIndex, 'conflictIndex') }),
  };
}

export function installSnapshotRequestToProto(
  r: InstallSnapshotRequest,
): pb.InstallSnapshotRequest {
  return {
    header: headerToProto(r),
    meta: snapshotMetaToProto(r.meta),
    offset: toUint64(r.offset, 'offset'),
    data: r.data,
    done: r.done,
  };
}

export function installSnapshotRequestFromProto(
  r: pb.InstallSnapshotRequest,
): InstallSnapshotRequest {
  return {
    ...headerFromProto(r.header),
    meta: snapshotMetaFromProto(r.meta),
    offset: toSafeNumber(r.offset, 'offset'),
    data: r.data,
    done: r.done,
  };
}

export function installSnapshotResponseToProto(
  r: InstallSnapshotResponse,
): pb.InstallSnapshotResponse {
  return { term: toUint64(r.term, 'term'), success: r.success };
}

export function installSnapshotResponseFromProto(
  r: pb.InstallSnapshotResponse,
): InstallSnapshotResponse {
  return { term: toSafeNumber(r.term, 'term'), success: r.success };
}

export function timeoutNowRequestToProto(r: TimeoutNowRequest): pb.TimeoutNowRequest {
  return { header: headerToProto(r) };
}

export function timeoutNowRequestFromProto(r: pb.TimeoutNowRequest): TimeoutNowRequest {
  return headerFromProto(r.header);
}

export function timeoutNowResponseToProto(r: TimeoutNowResponse): pb.TimeoutNowResponse {
  return { term: toUint64(r.term, 'term'), success: r.success };
}

export function timeoutNowResponseFromProto(r: pb.TimeoutNowResponse): TimeoutNowResponse {
  return { term: toSafeNumber(r.term, 'term'), success: r.success };
}

export function readIndexRequestToProto(r: ReadIndexRequest): pb.ReadIndexRequest {
  return { header: headerToProto(r) };
}

export function readIndexRequestFromProto(r: pb.ReadIndexRequest): ReadIndexRequest {
  return headerFromProto(r.header);
}

export function readIndexResponseToProto(r: ReadIndexResponse): pb.ReadIndexResponse {
  return {
    term: toUint64(r.term, 'term'),
    success: r.success,
    readIndex: toUint64(r.readIndex, 'readIndex'),
  };
}

export function readIndexResponseFromProto(r: pb.ReadIndexResponse): ReadIndexResponse {
  return {
    term: toSafeNumber(r.term, 'term'),
    success: r.success,
    readIndex: toSafeNumber(r.readIndex, 'readIndex'),
  };
}
