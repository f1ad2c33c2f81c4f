import {
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  BadRequestError,
  type Configuration,
  EntryType,
  type HostHeartbeatRequest,
  type HostHeartbeatResponse,
  type InstallSnapshotRequest,
  type InstallSnapshotResponse,
  type LogEntry,
  type QuiescedGroup,
  type QuiesceOffer,
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
import { checkGroupId, checkPeerId, checkTermOrIndex, WIRE_LIMITS } from './limits.js';
import { toSafeNumber, toUint64 } from './uint64.js';

// Conversions between core's message types and the generated protobuf ones. `toProto*`
// checks what core hands out (safe integers); `fromProto*` checks everything the wire brought
// in and throws BadRequestError, so a handler never sees a message it could misread: required
// sub-messages present, known enum values, terms and indexes within WIRE_LIMITS (below
// 2^53 - 1, so the next election cannot overflow), ids non-empty and bounded, configurations
// well-formed, and what Raft itself guarantees of an honest sender (entries contiguous after
// prevLogIndex, no term above the sender's own).

/** A term or index off the wire: a uint64 that fits a number, within WIRE_LIMITS. */
function wireNumber(value: bigint, field: string): number {
  return checkTermOrIndex(toSafeNumber(value, field), field);
}

/** Fails when `inner` (a term found in the message) is above the sender's own `term`. */
function notAbove(inner: number, innerField: string, term: number): void {
  if (inner > term) {
    throw new BadRequestError(`${innerField} ${inner} is above the sender's term ${term}`);
  }
}

function headerToProto(r: RpcEnvelope): pb.RpcHeader {
  return { groupId: r.groupId, from: r.from, to: r.to, term: toUint64(r.term, 'term') };
}

function headerFromProto(h: pb.RpcHeader | undefined): RpcEnvelope {
  if (h === undefined) throw new BadRequestError('request has no header');
  return {
    groupId: checkGroupId(h.groupId),
    from: checkPeerId(h.from, 'from'),
    to: checkPeerId(h.to, 'to'),
    term: wireNumber(h.term, 'term'),
  };
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
    index: wireNumber(e.index, 'entry index'),
    term: wireNumber(e.term, 'entry term'),
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

/** One list of a configuration: bounded, valid peer ids, none twice. */
function memberList(list: readonly string[], field: string): string[] {
  if (list.length > WIRE_LIMITS.maxMembers) {
    throw new BadRequestError(
      `configuration.${field} lists ${list.length} peers (at most ${WIRE_LIMITS.maxMembers})`,
    );
  }
  const seen = new Set<string>();
  for (const id of list) {
    checkPeerId(id, `configuration.${field} entry`);
    if (seen.has(id)) throw new BadRequestError(`configuration.${field} names ${id} twice`);
    seen.add(id);
  }
  return [...list];
}

/**
 * A configuration off the wire, well-formed: at least one voter, no peer twice in a list,
 * no learner among the voters (an old voter may be a learner: a voter being demoted).
 * Empty lists become absent, as core's own encoding of a configuration does.
 */
export function configurationFromProto(c: pb.Configuration | undefined): Configuration {
  if (c === undefined) throw new BadRequestError('snapshot meta has no configuration');
  const voters = memberList(c.voters, 'voters');
  const oldVoters = memberList(c.oldVoters, 'oldVoters');
  const learners = memberList(c.learners, 'learners');
  if (voters.length === 0) throw new BadRequestError('configuration.voters is empty');
  for (const l of learners) {
    if (voters.includes(l)) {
      throw new BadRequestError(`configuration: ${l} is both a voter and a learner`);
    }
  }
  return {
    voters,
    ...(oldVoters.length > 0 ? { oldVoters } : {}),
    ...(learners.length > 0 ? { learners } : {}),
  };
}

function snapshotMetaToProto(m: SnapshotMeta): pb.SnapshotMeta {
  return {
    lastIncludedIndex: toUint64(m.lastIncludedIndex, 'lastIncludedIndex'),
    lastIncludedTerm: toUint64(m.lastIncludedTerm, 'lastIncludedTerm'),
    configuration: configurationToProto(m.configuration),
  };
}

/** A snapshot's description: it covers at least one entry, of a term no later than the sender's. */
function snapshotMetaFromProto(m: pb.SnapshotMeta | undefined, term: number): SnapshotMeta {
  if (m === undefined) throw new BadRequestError('InstallSnapshot request has no meta');
  const lastIncludedIndex = wireNumber(m.lastIncludedIndex, 'lastIncludedIndex');
  const lastIncludedTerm = wireNumber(m.lastIncludedTerm, 'lastIncludedTerm');
  if (lastIncludedIndex === 0) throw new BadRequestError('a snapshot must cover index 1 or more');
  notAbove(lastIncludedTerm, 'lastIncludedTerm', term);
  return {
    lastIncludedIndex,
    lastIncludedTerm,
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
  const header = headerFromProto(r.header);
  const lastLogTerm = wireNumber(r.lastLogTerm, 'lastLogTerm');
  // A candidate's last entry is of its term at most (a pre-vote asks for its term + 1).
  notAbove(lastLogTerm, 'lastLogTerm', header.term);
  const d = r.disruptedLeader;
  let disruptedLeader: RequestVoteRequest['disruptedLeader'];
  if (d !== undefined) {
    disruptedLeader = {
      peerId: checkPeerId(d.peerId, 'disruptedLeader.peerId'),
      term: wireNumber(d.term, 'disruptedLeader.term'),
    };
    notAbove(disruptedLeader.term, 'disruptedLeader.term', header.term);
  }
  return {
    ...header,
    preVote: r.preVote,
    lastLogIndex: wireNumber(r.lastLogIndex, 'lastLogIndex'),
    lastLogTerm,
    ...(disruptedLeader === undefined ? {} : { disruptedLeader }),
  };
}

export function requestVoteResponseToProto(r: RequestVoteResponse): pb.RequestVoteResponse {
  return { term: toUint64(r.term, 'term'), granted: r.granted, leaderId: r.leaderId ?? '' };
}

export function requestVoteResponseFromProto(r: pb.RequestVoteResponse): RequestVoteResponse {
  if (r.leaderId !== '') checkPeerId(r.leaderId, 'leaderId');
  return {
    term: wireNumber(r.term, 'term'),
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

/**
 * An AppendEntries as an honest leader sends it: entries at prevLogIndex + 1, + 2, ...,
 * their terms never going down, none before prevLogTerm nor after the leader's term.
 */
export function appendEntriesRequestFromProto(r: pb.AppendEntriesRequest): AppendEntriesRequest {
  const header = headerFromProto(r.header);
  const prevLogIndex = wireNumber(r.prevLogIndex, 'prevLogIndex');
  const prevLogTerm = wireNumber(r.prevLogTerm, 'prevLogTerm');
  notAbove(prevLogTerm, 'prevLogTerm', header.term);
  if (r.entries.length > WIRE_LIMITS.maxEntries) {
    throw new BadRequestError(
      `${r.entries.length} entries in one AppendEntries (at most ${WIRE_LIMITS.maxEntries})`,
    );
  }
  const entries = r.entries.map(entryFromProto);
  let previousTerm = prevLogTerm;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as LogEntry;
    if (e.index !== prevLogIndex + 1 + i) {
      throw new BadRequestError(
        `entry ${i} has index ${e.index}; expected ${prevLogIndex + 1 + i} (entries follow prevLogIndex ${prevLogIndex})`,
      );
    }
    if (e.term < previousTerm) {
      throw new BadRequestError(`entry ${e.index} has term ${e.term}, below ${previousTerm}`);
    }
    notAbove(e.term, `entry ${e.index}'s term`, header.term);
    previousTerm = e.term;
  }
  return {
    ...header,
    prevLogIndex,
    prevLogTerm,
    entries,
    leaderCommit: wireNumber(r.leaderCommit, 'leaderCommit'),
  };
}

/** An AppendEntries as read by the fast decoder: numbers are safe integers already. */
export interface RawAppendEntries {
  readonly groupId: string;
  readonly from: string;
  readonly to: string;
  readonly term: number;
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: ReadonlyArray<{
    readonly index: number;
    readonly term: number;
    readonly type: EntryType;
    readonly data: Uint8Array;
  }>;
  readonly leaderCommit: number;
}

/**
 * The checks of {@link appendEntriesRequestFromProto}, in the same order and with the same
 * messages, for what the fast decoder read (a test holds the two decoders to each other).
 */
export function appendEntriesRequestFromRaw(r: RawAppendEntries): AppendEntriesRequest {
  // No object spread here: on Node 20 a spread costs more than the rest of this function.
  const groupId = checkGroupId(r.groupId);
  const from = checkPeerId(r.from, 'from');
  const to = checkPeerId(r.to, 'to');
  const term = checkTermOrIndex(r.term, 'term');
  const prevLogIndex = checkTermOrIndex(r.prevLogIndex, 'prevLogIndex');
  const prevLogTerm = checkTermOrIndex(r.prevLogTerm, 'prevLogTerm');
  notAbove(prevLogTerm, 'prevLogTerm', term);
  if (r.entries.length > WIRE_LIMITS.maxEntries) {
    throw new BadRequestError(
      `${r.entries.length} entries in one AppendEntries (at most ${WIRE_LIMITS.maxEntries})`,
    );
  }
  const entries: LogEntry[] = new Array(r.entries.length);
  for (let i = 0; i < r.entries.length; i++) {
    const e = r.entries[i] as RawAppendEntries['entries'][number];
    entries[i] = {
      index: checkTermOrIndex(e.index, 'entry index'),
      term: checkTermOrIndex(e.term, 'entry term'),
      type: e.type,
      data: e.data,
    };
  }
  let previousTerm = prevLogTerm;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as LogEntry;
    if (e.index !== prevLogIndex + 1 + i) {
      throw new BadRequestError(
        `entry ${i} has index ${e.index}; expected ${prevLogIndex + 1 + i} (entries follow prevLogIndex ${prevLogIndex})`,
      );
    }
    if (e.term < previousTerm) {
      throw new BadRequestError(`entry ${e.index} has term ${e.term}, below ${previousTerm}`);
    }
    notAbove(e.term, `entry ${e.index}'s term`, term);
    previousTerm = e.term;
  }
  return {
    groupId,
    from,
    to,
    term,
    prevLogIndex,
    prevLogTerm,
    entries,
    leaderCommit: checkTermOrIndex(r.leaderCommit, 'leaderCommit'),
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
    term: wireNumber(r.term, 'term'),
    success: r.success,
    lastLogIndex: wireNumber(r.lastLogIndex, 'lastLogIndex'),
    ...(r.conflictTerm === undefined
      ? {}
      : { conflictTerm: wireNumber(r.conflictTerm, 'conflictTerm') }),
    ...(r.conflictIndex === undefined
      ? {}
      : { conflictIndex: wireNumber(r.conflictIndex, 'conflictIndex') }),
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
  const header = headerFromProto(r.header);
  const offset = wireNumber(r.offset, 'offset');
  if (offset + r.data.byteLength > WIRE_LIMITS.maxTermOrIndex) {
    throw new BadRequestError(`a snapshot chunk at offset ${offset} ends beyond 2^53 bytes`);
  }
  return {
    ...header,
    meta: snapshotMetaFromProto(r.meta, header.term),
    offset,
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
  return { term: wireNumber(r.term, 'term'), success: r.success };
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
  return { term: wireNumber(r.term, 'term'), success: r.success };
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
    term: wireNumber(r.term, 'term'),
    success: r.success,
    readIndex: wireNumber(r.readIndex, 'readIndex'),
  };
}

/** Groups in one node-level heartbeat's lists, together (a bound on a message's work). */
const MAX_HOST_GROUPS = WIRE_LIMITS.maxEntries;

function checkHostGroups(count: number): void {
  if (count > MAX_HOST_GROUPS) {
    throw new BadRequestError(
      `a host heartbeat names ${count} groups (at most ${MAX_HOST_GROUPS})`,
    );
  }
}

function quiescedToProto(q: QuiescedGroup): pb.QuiescedGroup {
  return { groupId: q.groupId, term: toUint64(q.term, 'term') };
}

function quiescedFromProto(q: pb.QuiescedGroup): QuiescedGroup {
  return { groupId: checkGroupId(q.groupId), term: wireNumber(q.term, 'term') };
}

function offerToProto(o: QuiesceOffer): pb.QuiesceOffer {
  return {
    groupId: o.groupId,
    term: toUint64(o.term, 'term'),
    lastIndex: toUint64(o.lastIndex, 'lastIndex'),
    lastTerm: toUint64(o.lastTerm, 'lastTerm'),
    commitIndex: toUint64(o.commitIndex, 'commitIndex'),
  };
}

function offerFromProto(o: pb.QuiesceOffer): QuiesceOffer {
  const term = wireNumber(o.term, 'offer term');
  const lastIndex = wireNumber(o.lastIndex, 'offer lastIndex');
  const lastTerm = wireNumber(o.lastTerm, 'offer lastTerm');
  const commitIndex = wireNumber(o.commitIndex, 'offer commitIndex');
  notAbove(lastTerm, 'offer lastTerm', term);
  if (commitIndex > lastIndex) {
    throw new BadRequestError(`offer commitIndex ${commitIndex} is above lastIndex ${lastIndex}`);
  }
  return { groupId: checkGroupId(o.groupId), term, lastIndex, lastTerm, commitIndex };
}

export function hostHeartbeatRequestToProto(r: HostHeartbeatRequest): pb.HostHeartbeatRequest {
  return {
    header: headerToProto(r),
    offers: r.offers.map(offerToProto),
    woken: r.woken.map(quiescedToProto),
    quiescedCount: toUint64(r.quiescedCount, 'quiescedCount'),
    quiescedDigest: toUint64(r.quiescedDigest, 'quiescedDigest'),
    hasFull: r.full !== undefined,
    full: (r.full ?? []).map(quiescedToProto),
  };
}

export function hostHeartbeatRequestFromProto(r: pb.HostHeartbeatRequest): HostHeartbeatRequest {
  const header = headerFromProto(r.header);
  checkHostGroups(r.offers.length + r.woken.length + r.full.length);
  if (!r.hasFull && r.full.length > 0) throw new BadRequestError('full list without has_full');
  return {
    ...header,
    offers: r.offers.map(offerFromProto),
    woken: r.woken.map(quiescedFromProto),
    quiescedCount: wireNumber(r.quiescedCount, 'quiescedCount'),
    quiescedDigest: wireNumber(r.quiescedDigest, 'quiescedDigest'),
    ...(r.hasFull ? { full: r.full.map(quiescedFromProto) } : {}),
  };
}

export function hostHeartbeatResponseToProto(r: HostHeartbeatResponse): pb.HostHeartbeatResponse {
  return {
    term: toUint64(r.term, 'term'),
    accepted: [...r.accepted],
    mismatch: r.mismatch,
    wake: [...r.wake],
  };
}

export function hostHeartbeatResponseFromProto(r: pb.HostHeartbeatResponse): HostHeartbeatResponse {
  checkHostGroups(r.accepted.length + r.wake.length);
  return {
    term: wireNumber(r.term, 'term'),
    accepted: r.accepted.map((g) => checkGroupId(g)),
    mismatch: r.mismatch,
    wake: r.wake.map((g) => checkGroupId(g)),
  };
}
