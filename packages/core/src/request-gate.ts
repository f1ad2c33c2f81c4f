import {
  type ConfigurationManager,
  decodeConfiguration,
  validateConfiguration,
} from './configuration.js';
import { BadRequestError, NotMemberError, RaftError, UnauthenticatedError } from './errors.js';
import type {
  AppendEntriesRequest,
  InstallSnapshotRequest,
  RequestVoteRequest,
  RpcEnvelope,
  RpcMethod,
  RpcRequest,
  RpcResponse,
} from './messages.js';
import type { RequestContext, RpcHandler } from './transport.js';
import { EntryType, type PeerId } from './types.js';

/**
 * The highest term a node accepts from a peer. Terms grow by one per election; 2^52 of them
 * is an election a millisecond for 140,000 years. A term near 2^53 would make the next
 * election's term inexact, so one such message could stop every election for good.
 */
export const MAX_TERM = 2 ** 52;
const MAX_ID_LENGTH = 1024;

function fail(method: RpcMethod, what: string): never {
  throw new BadRequestError(`${method}: ${what}`);
}

function count(
  method: RpcMethod,
  name: string,
  value: unknown,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    fail(method, `${name} must be an integer from 0 to ${max}, got ${String(value)}`);
  }
  return value;
}

function peerId(method: RpcMethod, name: string, value: unknown): PeerId {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    fail(method, `${name} must be a non-empty id of at most ${MAX_ID_LENGTH} characters`);
  }
  return value;
}

/**
 * The door of a node (issue: hostile peers): every request is checked field by field before
 * it can touch anything, and then the sender must be a member of a configuration this node
 * knows (votes: a voter). A refused request changes no term, vote, log or lease.
 *
 * A node that knows no configuration yet (it is joining, started without one) admits anyone:
 * it has nobody to compare with. The transport's authentication is what keeps strangers out
 * of such a node (see docs/ARCHITECTURE.md, "Threat model").
 */
export class RequestGate {
  /**
   * Leaders a known voter named in its vote answer, with the term it named (see vouch).
   * Created on first use: most nodes never need it, and a multi-raft process has thousands.
   */
  private vouched: Map<PeerId, number> | undefined;

  constructor(
    private readonly self: PeerId,
    private readonly configurations: ConfigurationManager,
  ) {}

  /**
   * Throws BAD_REQUEST for a malformed request, UNAUTHENTICATED when the sender's credentials
   * name another peer than the request does, and NOT_MEMBER for a stranger.
   */
  admit<M extends RpcMethod>(method: M, req: RpcRequest<M>, context?: RequestContext): void {
    this.checkEnvelope(method, req);
    if (context?.peerId !== undefined && context.peerId !== req.from) {
      throw new UnauthenticatedError(
        `the sender's credentials name ${context.peerId}, but the request claims to come from ${req.from}`,
      );
    }
    switch (method) {
      case 'requestVote':
        this.checkVote(req as RequestVoteRequest);
        break;
      case 'appendEntries':
        this.checkAppend(req as AppendEntriesRequest);
        break;
      case 'installSnapshot':
        this.checkSnapshot(req as InstallSnapshotRequest);
        break;
    }
    const confs = this.configurations;
    if (!confs.hasAny) return;
    if (method === 'requestVote') {
      // A vote only from a voter; a pre-vote (which changes nothing) from any member: a
      // learner asks who leads that way.
      const preVote = (req as RequestVoteRequest).preVote;
      if (preVote ? !confs.isMember(req.from) : !confs.isVoterAnywhere(req.from)) {
        throw new NotMemberError(req.from, `${req.from} is not a voter of this group: no vote`);
      }
      return;
    }
    if (confs.isMember(req.from) || this.vouched?.get(req.from) === req.term) return;
    // Not in any configuration known here: a stranger, or a member added while this node was
    // away. Only the transport can tell them apart: with authentication, it vouches.
    if (context?.authenticated === true) return;
    throw new NotMemberError(req.from);
  }

  /**
   * The node's handlers behind the door: `ready` (the node is running) and the gate's checks
   * run before each, and a refusal reaches the caller as a rejected call.
   */
  guard(ready: () => void, handlers: RpcHandler): RpcHandler {
    return new GuardedHandler(this, ready, handlers);
  }

  /**
   * A member this node knows says `leader` leads in `term`. A member that lags behind the
   * configuration entry that added that leader would otherwise refuse it for good; with a
   * member's word it takes the leader's requests of that term, and so catches up.
   */
  vouch(leader: PeerId, term: number): void {
    this.vouched ??= new Map();
    if (this.vouched.get(leader) === term) return;
    // Only the latest word counts; the map stays as small as the number of leaders named.
    if (this.vouched.size > 64) this.vouched.clear();
    this.vouched.set(leader, term);
  }

  private checkEnvelope(method: RpcMethod, req: RpcEnvelope): void {
    if (typeof req !== 'object' || req === null) fail(method, 'the request must be an object');
    if (typeof req.groupId !== 'string') fail(method, 'groupId must be a string');
    peerId(method, 'from', req.from);
    peerId(method, 'to', req.to);
    if (req.to !== this.self) fail(method, `sent to ${req.to}, but this node is ${this.self}`);
    if (req.from === this.self) fail(method, 'a node does not send requests to itself');
    count(method, 'term', req.term, MAX_TERM);
  }

  private checkVote(req: RequestVoteRequest): void {
    const m = 'requestVote';
    if (typeof req.preVote !== 'boolean') fail(m, 'preVote must be a boolean');
    count(m, 'lastLogIndex', req.lastLogIndex);
    count(m, 'lastLogTerm', req.lastLogTerm, req.term);
    const d = req.disruptedLeader;
    if (d !== undefined) {
      if (typeof d !== 'object' || d === null) fail(m, 'disruptedLeader must be an object');
      peerId(m, 'disruptedLeader.peerId', d.peerId);
      count(m, 'disruptedLeader.term', d.term, MAX_TERM);
    }
  }

  private checkAppend(req: AppendEntriesRequest): void {
    const m = 'appendEntries';
    count(m, 'prevLogIndex', req.prevLogIndex);
    count(m, 'prevLogTerm', req.prevLogTerm, req.term);
    count(m, 'leaderCommit', req.leaderCommit);
    if (!Array.isArray(req.entries)) fail(m, 'entries must be an array');
    let lastTerm = req.prevLogTerm;
    for (let i = 0; i < req.entries.length; i++) {
      const e = req.entries[i];
      const at = `entries[${i}]`;
      if (typeof e !== 'object' || e === null) fail(m, `${at} must be an object`);
      if (e.index !== req.prevLogIndex + 1 + i) {
        fail(m, `${at} has index ${String(e.index)}, not ${req.prevLogIndex + 1 + i}`);
      }
      // Terms never go down along a log, and no leader sends an entry of a later term.
      count(m, `${at}.term`, e.term, req.term);
      if (e.term < lastTerm || e.term === 0)
        fail(m, `${at} has term ${e.term} after term ${lastTerm}`);
      lastTerm = e.term;
      if (!(e.data instanceof Uint8Array)) fail(m, `${at}.data must be bytes`);
      if (e.type === EntryType.Configuration) {
        try {
          decodeConfiguration(e.data);
        } catch (error) {
          fail(
            m,
            `${at} is not a valid configuration: ${RaftError.is(error) ? error.message : String(error)}`,
          );
        }
      } else if (e.type !== EntryType.Data) {
        fail(m, `${at} has an unknown type ${String(e.type)}`);
      }
    }
  }

  private checkSnapshot(req: InstallSnapshotRequest): void {
    const m = 'installSnapshot';
    const meta = req.meta;
    if (typeof meta !== 'object' || meta === null) fail(m, 'meta must be an object');
    count(m, 'meta.lastIncludedIndex', meta.lastIncludedIndex);
    count(m, 'meta.lastIncludedTerm', meta.lastIncludedTerm, req.term);
    if (meta.lastIncludedIndex === 0 || meta.lastIncludedTerm === 0) {
      fail(m, 'a snapshot covers at least one entry');
    }
    try {
      validateConfiguration(meta.configuration, 'meta.configuration');
    } catch (error) {
      fail(m, RaftError.is(error) ? error.message : String(error));
    }
    count(m, 'offset', req.offset);
    if (!(req.data instanceof Uint8Array)) fail(m, 'data must be bytes');
    if (typeof req.done !== 'boolean') fail(m, 'done must be a boolean');
  }
}

/**
 * The node's handlers behind its gate, as methods of one object rather than a closure per
 * RPC: a multi-raft process holds one per group (transports call them as methods).
 */
class GuardedHandler implements RpcHandler {
  constructor(
    private readonly gate: RequestGate,
    private readonly ready: () => void,
    private readonly handlers: RpcHandler,
  ) {}

  requestVote(req: RpcRequest<'requestVote'>, context?: RequestContext) {
    return this.run('requestVote', req, context);
  }

  appendEntries(req: RpcRequest<'appendEntries'>, context?: RequestContext) {
    return this.run('appendEntries', req, context);
  }

  installSnapshot(req: RpcRequest<'installSnapshot'>, context?: RequestContext) {
    return this.run('installSnapshot', req, context);
  }

  timeoutNow(req: RpcRequest<'timeoutNow'>, context?: RequestContext) {
    return this.run('timeoutNow', req, context);
  }

  readIndex(req: RpcRequest<'readIndex'>, context?: RequestContext) {
    return this.run('readIndex', req, context);
  }

  private run<M extends RpcMethod>(
    method: M,
    req: RpcRequest<M>,
    context: RequestContext | undefined,
  ): Promise<RpcResponse<M>> {
    try {
      this.ready();
      this.gate.admit(method, req, context);
    } catch (error) {
      return Promise.reject(error);
    }
    const handle = this.handlers[method] as (req: RpcRequest<M>) => Promise<RpcResponse<M>>;
    return handle.call(this.handlers, req);
  }
}
