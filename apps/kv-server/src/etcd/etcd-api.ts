import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  credentials,
  type handleUnaryCall,
  Metadata,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import type { RaftNode } from '@kontiki/core';
import {
  encodeCommand,
  encodePut,
  type KvCommand,
  type KvResult,
  type TxnOp,
} from '../commands.js';
import type { PeerAddress, ServerConfig } from '../config.js';
import {
  ClusterService,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  KVClient,
  KVService,
  MaintenanceService,
  type Member,
  type MemberListRequest,
  type MemberListResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type ResponseHeader,
  type StatusRequest,
  type StatusResponse,
  type TxnRequest,
  type TxnResponse,
  type WatchRequest,
  type WatchResponse,
  WatchService,
} from '../gen/etcdserverpb/rpc.js';
import type { KvGroup, KvGroups } from '../groups.js';
import { compareBytes, type KeyedEntry, shapeRange, utf8 } from '../kv-entry.js';
import { isReadOnlyTxn } from '../kv-state-machine.js';
import type { ServerMetrics } from '../server-metrics.js';
import { WriteDeadlines } from '../write-deadline.js';
import {
  checkPut,
  deleteOp,
  type EtcdLimits,
  keyValue,
  prevKvFlags,
  rangeOp,
  rangeResponse,
  responseOps,
  txnShape,
} from './etcd-convert.js';
import {
  compacted,
  crossGroupTxn,
  EtcdStatusError,
  etcdErrorOf,
  futureRevision,
  keyNotFound,
  leaderChanged,
  noLeader,
  OUTCOME_TRAILER,
  revisionAcrossGroups,
} from './etcd-errors.js';
import { WatchHub, WatchRouter } from './etcd-watch.js';
import { clusterId, memberId } from './ids.js';

/**
 * The etcd version Status reports: the API this server speaks, with build metadata saying
 * what it is (semver-equal to 3.4.0, so that clients that gate features on it agree).
 */
export const ETCD_API_VERSION = '3.4.0+kontiki';

/** Metadata of a write a follower forwards to its leader (the leader never forwards it again). */
const FORWARDED = 'kontiki-forwarded-by';
/**
 * Metadata of one group's part of a DeleteRange over several groups, forwarded to that
 * group's leader: it deletes in that group only.
 */
const FORWARDED_GROUP = 'kontiki-group';

/** What the etcd API serves from (as the HTTP API: the node exists once the server started it). */
export interface EtcdApiContext {
  readonly config: ServerConfig;
  /** The server's Raft groups (one unless sharded); a key's requests go to its group. */
  readonly groups: KvGroups;
  readonly metrics: ServerMetrics;
  peers(): ReadonlyMap<string, PeerAddress>;
}

type Writable = 'put' | 'deleteRange' | 'txn';

/**
 * etcd's v3 gRPC API (etcdserverpb) over the key-value state machine: KV.Range, Put,
 * DeleteRange and Txn, Cluster.MemberList, Maintenance.Status. Reads are linearizable by
 * default (ReadIndex, then the local state) and serializable on request (the local state
 * alone). Writes go through the log on the leader; a follower forwards them to the leader's
 * etcd API, as an etcd server forwards proposals, so clients need not find the leader.
 */
export class EtcdApi {
  private readonly forwardClients = new Map<string, KVClient>();
  private readonly limits: EtcdLimits;
  private readonly clusterId: bigint;
  private readonly memberId: bigint;
  private readonly watches: WatchRouter<KvGroup>;
  private closing: Promise<void> | undefined;
  private readonly deadlines: WriteDeadlines;

  private constructor(
    private readonly ctx: EtcdApiContext,
    private readonly server: Server,
    /** "host:port" it listens on. */
    readonly address: string,
  ) {
    this.limits = { maxKeyBytes: ctx.config.maxKeyBytes, maxValueBytes: ctx.config.maxValueBytes };
    this.deadlines = new WriteDeadlines(ctx.config.writeTimeoutMs);
    this.clusterId = clusterId(ctx.config.groupId);
    this.memberId = memberId(ctx.config.id);
    // Before the node starts: the changes it replays from its log at start are kept too.
    // With several groups, a group's changes are kept from its first watch on (hubs are
    // made lazily: thousands of histories would cost memory and every apply).
    const { groups } = ctx;
    this.watches = new WatchRouter<KvGroup>({
      route: (key, end) =>
        !groups.sharded ? groups.primary : end === undefined ? groups.forKey(key) : undefined,
      make: (group) => new WatchHub(group.stateMachine),
      primary: groups.primary,
      revisionOf: (group) => group.stateMachine.revision,
      eager: groups.sharded ? [] : [groups.primary],
    });
  }

  /** Serves the API on `listen` ("host:port"; port 0: any free one). */
  static async listen(ctx: EtcdApiContext, listen: string): Promise<EtcdApi> {
    const server = new Server({
      // A value of up to maxValueBytes and a key, with room for a transaction of a few.
      'grpc.max_receive_message_length': Math.max(
        4 * 1024 * 1024,
        4 * ctx.config.maxValueBytes + 65_536,
      ),
      // Channelz statistics are kept per call and read by nothing here.
      'grpc.enable_channelz': 0,
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(listen, ServerCredentials.createInsecure(), (error, p) =>
        error ? reject(error) : resolve(p),
      );
    });
    const host = listen.slice(0, listen.lastIndexOf(':'));
    const api = new EtcdApi(ctx, server, `${host}:${port}`);
    const kv = 'etcdserverpb.KV';
    server.addService(KVService, {
      range: api.unary(kv, 'Range', (req: RangeRequest) => api.range(req)),
      put: api.unary(kv, 'Put', (req: PutRequest, call) => api.put(req, call)),
      deleteRange: api.unary(kv, 'DeleteRange', (req: DeleteRangeRequest, call) =>
        api.deleteRange(req, call),
      ),
      txn: api.unary(kv, 'Txn', (req: TxnRequest, call) => api.txn(req, call)),
    });
    server.addService(WatchService, {
      watch: (call: ServerDuplexStream<WatchRequest, WatchResponse>) =>
        api.watches.serve(call, (rev, group) => api.header(rev, group.node?.term ?? 0)),
    });
    server.addService(ClusterService, {
      memberList: api.unary('etcdserverpb.Cluster', 'MemberList', (req: MemberListRequest) =>
        api.memberList(req),
      ),
    });
    server.addService(MaintenanceService, {
      status: api.unary('etcdserverpb.Maintenance', 'Status', (req: StatusRequest) =>
        api.status(req),
      ),
    });
    return api;
  }

  /** Stops serving (calls in progress are cut) and closes the clients to the leader. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const c of this.forwardClients.values()) c.close();
      this.forwardClients.clear();
      this.watches.close();
      this.deadlines.close();
      this.server.forceShutdown();
    })();
    return this.closing;
  }

  // ---------------------------------------------------------------- KV

  private async range(req: RangeRequest): Promise<RangeResponse> {
    const op = rangeOp(req, this.limits);
    const { groups } = this.ctx;
    if (groups.sharded && op.end !== undefined && op.end.byteLength > 0) {
      return this.rangeAcrossGroups(req, op);
    }
    const group = groups.forKey(op.key);
    const node = this.requireNode(group);
    if (!req.serializable) await this.barrier(node);
    const sm = group.stateMachine;
    const rev = sm.revision;
    // No history is kept: the current revision is the only one there is.
    if (req.revision > 0n && req.revision > BigInt(rev)) throw futureRevision();
    if (req.revision > 0n && req.revision < BigInt(rev)) throw compacted();
    const result = shapeRange(sm.range(op.key, op.end), op.options);
    return rangeResponse(this.header(rev, node.term), result, op.options.keysOnly);
  }

  /**
   * A range over every group (sharded): a read barrier in each group (in parallel; none if
   * serializable), then each group's keys in the range, merged in key order, then sorted,
   * filtered and limited as one range. Costs O(groups) barriers and O(keys in range log
   * keys). The header's revision is the highest of the groups' (there is no global one).
   */
  private async rangeAcrossGroups(
    req: RangeRequest,
    op: ReturnType<typeof rangeOp>,
  ): Promise<RangeResponse> {
    if (req.revision > 0n) throw revisionAcrossGroups();
    const all = this.ctx.groups.all;
    const nodes = all.map((g) => this.requireNode(g));
    if (!req.serializable) await Promise.all(nodes.map((n) => this.barrier(n)));
    let rev = 0;
    let term = 0;
    const found: KeyedEntry[] = [];
    for (const g of all) {
      rev = Math.max(rev, g.stateMachine.revision);
      term = Math.max(term, g.node?.term ?? 0);
      for (const e of g.stateMachine.range(op.key, op.end)) found.push(e);
    }
    const withBytes = found.map((e) => ({ e, k: utf8(e.key) }));
    withBytes.sort((a, b) => compareBytes(a.k, b.k));
    const result = shapeRange(
      withBytes.map((x) => x.e),
      op.options,
    );
    return rangeResponse(this.header(rev, term), result, op.options.keysOnly);
  }

  private async put(
    req: PutRequest,
    call: ServerUnaryCall<PutRequest, PutResponse>,
  ): Promise<PutResponse> {
    const key = checkPut(req, this.limits);
    const node = this.requireNode(this.ctx.groups.forKey(key));
    if (!this.leadsHere(node)) return this.forward('put', req, call, node);
    if (req.ignoreValue) {
      const op: TxnOp = { op: 'put', key, value: '', ignoreValue: true };
      const r = await this.propose(node, { op: 'txn', compare: [], success: [op], failure: [] });
      if (r.result?.op === 'txnRefused') throw keyNotFound();
      const txn = this.resultOf(r.result, 'txn');
      const first = txn.responses[0];
      const prev = first?.op === 'put' ? first.prev : undefined;
      return {
        header: this.header(txn.revision, r.term),
        prevKv: req.prevKv && prev !== undefined ? keyValue(prev) : undefined,
      };
    }
    // The value's bytes go to the log as they came: no decoding, escaping or re-encoding.
    const r = await this.proposeData(node, 'put', encodePut(req.key, req.value));
    const put = this.resultOf(r.result, 'put');
    return {
      header: this.header(put.revision, r.term),
      prevKv: req.prevKv && put.prevEntry !== undefined ? keyValue(put.prevEntry) : undefined,
    };
  }

  private async deleteRange(
    req: DeleteRangeRequest,
    call: ServerUnaryCall<DeleteRangeRequest, DeleteRangeResponse>,
  ): Promise<DeleteRangeResponse> {
    const op = deleteOp(req, this.limits);
    const { groups } = this.ctx;
    const part = call.metadata.get(FORWARDED_GROUP)[0];
    if (typeof part === 'string') {
      // One group's part of a DeleteRange over several, forwarded to this (its) leader.
      const group = groups.byId(part);
      if (group === undefined) {
        throw new EtcdStatusError(status.INVALID_ARGUMENT, `kontiki: no group ${part} here`);
      }
      const node = this.requireNode(group);
      if (!this.leadsHere(node)) throw leaderChanged('not-applied');
      return this.deleteInGroup(node, op, req.prevKv);
    }
    if (groups.sharded && op.end !== undefined && op.end.byteLength > 0) {
      return this.deleteAcrossGroups(req, call, op);
    }
    const node = this.requireNode(groups.forKey(op.key));
    if (!this.leadsHere(node)) return this.forward('deleteRange', req, call, node);
    const key = op.end === undefined ? textKey(op.key) : undefined;
    if (key !== undefined) {
      // One key: the plain delete command, as the HTTP API's.
      const r = await this.propose(node, { op: 'delete', key });
      const del = this.resultOf(r.result, 'delete');
      const prev = del.prevEntry;
      return {
        header: this.header(del.revision, r.term),
        deleted: prev === undefined ? 0n : 1n,
        prevKvs: req.prevKv && prev !== undefined ? [keyValue(prev)] : [],
      };
    }
    return this.deleteInGroup(node, op, req.prevKv);
  }

  /** A DeleteRange of a range in one group (this node leads it): a transaction of one op. */
  private async deleteInGroup(
    node: RaftNode<KvResult>,
    op: ReturnType<typeof deleteOp>,
    prevKv: boolean,
  ): Promise<DeleteRangeResponse> {
    const r = await this.propose(node, { op: 'txn', compare: [], success: [op], failure: [] });
    const txn = this.resultOf(r.result, 'txn');
    const first = txn.responses[0];
    const prevs = first?.op === 'deleteRange' ? first.prevs : [];
    return {
      header: this.header(txn.revision, r.term),
      deleted: BigInt(prevs.length),
      prevKvs: prevKv ? prevs.map((e) => keyValue(e)) : [],
    };
  }

  /**
   * A DeleteRange of a range over every group (sharded): after a read barrier, each group
   * that holds keys in the range deletes them in its own transaction, here when this node
   * leads it, else on its leader (forwarded with the group named). Not atomic across
   * groups; each group's part is. The header's revision is the highest of the parts'.
   */
  private async deleteAcrossGroups(
    req: DeleteRangeRequest,
    call: ServerUnaryCall<DeleteRangeRequest, DeleteRangeResponse>,
    op: ReturnType<typeof deleteOp>,
  ): Promise<DeleteRangeResponse> {
    const all = this.ctx.groups.all;
    const nodes = all.map((g) => this.requireNode(g));
    await Promise.all(nodes.map((n) => this.barrier(n)));
    const parts = await Promise.all(
      all.map((g, i) => {
        const node = nodes[i] as RaftNode<KvResult>;
        if (g.stateMachine.range(op.key, op.end).length === 0) return undefined;
        if (this.leadsHere(node)) return this.deleteInGroup(node, op, req.prevKv);
        return this.forward('deleteRange', req, call, node, g);
      }),
    );
    let rev = 0;
    let term = 0;
    for (const g of all) {
      rev = Math.max(rev, g.stateMachine.revision);
      term = Math.max(term, g.node?.term ?? 0);
    }
    let deleted = 0n;
    const prevKvs: DeleteRangeResponse['prevKvs'] = [];
    for (const p of parts) {
      if (p === undefined) continue;
      deleted += p.deleted;
      prevKvs.push(...p.prevKvs);
      rev = Math.max(rev, Number(p.header?.revision ?? 0n));
    }
    prevKvs.sort((a, b) => compareBytes(a.key, b.key));
    return { header: this.header(rev, term), deleted, prevKvs };
  }

  private async txn(
    req: TxnRequest,
    call: ServerUnaryCall<TxnRequest, TxnResponse>,
  ): Promise<TxnResponse> {
    const shape = txnShape(req, this.limits);
    const node = this.requireNode(this.groupOfTxn(shape));
    const command = {
      op: 'txn',
      compare: shape.compare,
      success: shape.success,
      failure: shape.failure,
    } as const;
    const answer = (
      succeeded: boolean,
      revision: number,
      term: number,
      results: Parameters<typeof responseOps>[2],
    ): TxnResponse => {
      const header = this.header(revision, term);
      const ops: readonly TxnOp[] = succeeded ? shape.success : shape.failure;
      const flags = prevKvFlags(succeeded ? req.success : req.failure);
      return { header, succeeded, responses: responseOps(header, ops, results, flags) };
    };
    if (isReadOnlyTxn(shape)) {
      // As etcd does: a transaction that only reads is served here after a read barrier
      // (none when every range asked to be serializable), not through the log.
      if (!shape.serializable) await this.barrier(node);
      const r = this.groupOfTxn(shape).stateMachine.readTxn(command);
      return answer(r.succeeded, r.revision, node.term, r.responses);
    }
    if (!this.leadsHere(node)) return this.forward('txn', req, call, node);
    const r = await this.propose(node, command);
    if (r.result?.op === 'txnRefused') throw keyNotFound();
    const txn = this.resultOf(r.result, 'txn');
    return answer(txn.succeeded, txn.revision, r.term, txn.responses);
  }

  /**
   * The one group a transaction's compares and operations touch; refused when sharded and
   * they touch several (or a range, which spans every group). Without compares or
   * operations: the primary group.
   */
  private groupOfTxn(shape: ReturnType<typeof txnShape>): KvGroup {
    const { groups } = this.ctx;
    if (!groups.sharded) return groups.primary;
    let found: KvGroup | undefined;
    const visit = (key: Uint8Array | string, end: Uint8Array | undefined): void => {
      if (end !== undefined && end.byteLength > 0) throw crossGroupTxn(groups.count);
      const g = groups.forKey(key);
      if (found !== undefined && found !== g) throw crossGroupTxn(groups.count);
      found = g;
    };
    for (const c of shape.compare) visit(c.key, c.end);
    for (const op of [...shape.success, ...shape.failure]) {
      visit(op.key, op.op === 'put' ? undefined : op.end);
    }
    return found ?? groups.primary;
  }

  // ---------------------------------------------------------------- Cluster, Maintenance

  private async memberList(_req: MemberListRequest): Promise<MemberListResponse> {
    const node = this.requireNode();
    const conf = node.status().configuration;
    const learners = conf.learners ?? [];
    const ids = [...new Set([...conf.voters, ...(conf.oldVoters ?? []), ...learners])];
    const peers = this.ctx.peers();
    const scheme = this.ctx.config.transport === 'ws' ? 'ws' : 'http';
    const members = ids.map((id): Member => {
      const a = peers.get(id);
      return {
        ID: memberId(id),
        name: id,
        peerURLs: a === undefined ? [] : [`${scheme}://${a.raft}`],
        clientURLs: a?.etcd === undefined ? [] : [`http://${a.etcd}`],
        isLearner: learners.includes(id) && !conf.voters.includes(id),
      };
    });
    const primary = this.ctx.groups.primary;
    return { header: this.header(primary.stateMachine.revision, node.term), members };
  }

  private async status(_req: StatusRequest): Promise<StatusResponse> {
    const node = this.requireNode();
    const s = node.status();
    const size = BigInt(this.dbSize());
    const learners = s.configuration.learners ?? [];
    return {
      header: this.header(this.ctx.groups.primary.stateMachine.revision, s.term),
      version: ETCD_API_VERSION,
      dbSize: size,
      leader: s.leaderId === undefined ? 0n : memberId(s.leaderId),
      raftIndex: BigInt(s.commitIndex),
      raftTerm: BigInt(s.term),
      raftAppliedIndex: BigInt(s.appliedIndex),
      errors: [],
      dbSizeInUse: size,
      isLearner: learners.includes(s.peerId),
    };
  }

  // ---------------------------------------------------------------- helpers

  /** A grpc-js unary handler around an async function; every failure becomes a status. */
  private unary<Req, Res>(
    service: string,
    method: string,
    fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
  ): handleUnaryCall<Req, Res> {
    const metrics = this.ctx.metrics.grpcMethod(service, method);
    return (call, callback) => {
      const started = performance.now();
      fn(call.request, call).then(
        (res) => {
          metrics.done(status.OK, (performance.now() - started) / 1000);
          callback(null, res);
        },
        (error: unknown) => {
          const e = etcdErrorOf(error, 'write').toServerError();
          metrics.done(e.code, (performance.now() - started) / 1000);
          callback(e);
        },
      );
    };
  }

  private header(revision: number, term: number): ResponseHeader {
    return {
      clusterId: this.clusterId,
      memberId: this.memberId,
      revision: BigInt(revision),
      raftTerm: BigInt(term),
    };
  }

  /** The node of `group` (the primary by default: MemberList, Status). */
  private requireNode(group: KvGroup = this.ctx.groups.primary): RaftNode<KvResult> {
    const node = group.node;
    if (node === undefined) {
      throw new EtcdStatusError(
        status.UNAVAILABLE,
        'etcdserver: the node has not started yet',
        'not-applied',
      );
    }
    return node;
  }

  /**
   * Whether a write is proposed here: on the leader, and on a node handing leadership over
   * (it names itself leader; core refuses the proposal with TRANSFER_IN_PROGRESS).
   */
  private leadsHere(node: RaftNode<KvResult>): boolean {
    return node.isLeader || node.leader === node.id;
  }

  /** ReadIndex: afterwards the local state holds every write acknowledged before the read. */
  private async barrier(node: RaftNode<KvResult>): Promise<void> {
    try {
      await node.readIndex();
      this.ctx.metrics.read(true);
    } catch (error) {
      this.ctx.metrics.read(false);
      throw etcdErrorOf(error, 'read');
    }
  }

  private propose(
    node: RaftNode<KvResult>,
    command: KvCommand,
  ): Promise<{ index: number; term: number; result: KvResult | undefined }> {
    return this.proposeData(node, command.op, encodeCommand(command));
  }

  /** Proposes an encoded command (`op` names it in the metrics). */
  private async proposeData(
    node: RaftNode<KvResult>,
    op: KvCommand['op'],
    data: Uint8Array,
  ): Promise<{ index: number; term: number; result: KvResult | undefined }> {
    const started = performance.now();
    try {
      const r = await this.deadlines.race(node.apply(data));
      this.ctx.metrics.write(op, 'ok', (performance.now() - started) / 1000);
      return r;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      this.ctx.metrics.write(op, typeof code === 'string' ? code : 'INTERNAL');
      throw etcdErrorOf(error, 'write');
    }
  }

  private resultOf<O extends KvResult['op']>(
    result: KvResult | undefined,
    op: O,
  ): Extract<KvResult, { op: O }> {
    if (result === undefined || result.op !== op) {
      throw new EtcdStatusError(
        status.INTERNAL,
        `etcdserver: the state machine answered ${JSON.stringify(result)}`,
        'unknown',
      );
    }
    return result as Extract<KvResult, { op: O }>;
  }

  /**
   * Sends a write to the leader's etcd API and relays its answer (with this member's id in
   * the header, as an etcd follower answers a proposal it forwarded). A write that reaches a
   * node that is not the leader (leadership moved meanwhile) is not forwarded again.
   */
  private forward<Req, Res extends { header: ResponseHeader | undefined }>(
    method: Writable,
    req: Req,
    call: ServerUnaryCall<Req, Res>,
    /** The node of the write's group: its leader is asked. */
    node: RaftNode<KvResult>,
    /** Only this group's part of the write (a DeleteRange over several groups). */
    part?: KvGroup,
  ): Promise<Res> {
    if (call.metadata.get(FORWARDED).length > 0) throw leaderChanged('not-applied');
    const leader = node.leader;
    if (leader === undefined) throw noLeader();
    const address = this.ctx.peers().get(leader)?.etcd;
    if (address === undefined) {
      throw new EtcdStatusError(
        status.UNAVAILABLE,
        `etcdserver: not leader, and the leader (${leader}) serves no etcd API known here`,
        'not-applied',
      );
    }
    const client = this.clientFor(address);
    const metadata = new Metadata();
    metadata.set(FORWARDED, this.ctx.config.id);
    if (part !== undefined) metadata.set(FORWARDED_GROUP, part.id);
    const asked = call.getDeadline();
    const own = Date.now() + this.ctx.config.writeTimeoutMs;
    const deadline =
      typeof asked === 'number' ? Math.min(asked, own) : Math.min(asked.getTime(), own);
    return new Promise((resolve, reject) => {
      const done = (error: ServiceError | null, res: Res | undefined): void => {
        if (error !== null || res === undefined) {
          reject(forwardFailure(error));
          return;
        }
        const h = res.header;
        resolve({ ...res, header: h === undefined ? h : { ...h, memberId: this.memberId } });
      };
      // The generated client's methods share one signature per request type.
      const send = client[method].bind(client) as unknown as (
        r: Req,
        m: Metadata,
        o: { deadline: number },
        cb: (e: ServiceError | null, r: Res | undefined) => void,
      ) => void;
      send(req, metadata, { deadline }, done);
    });
  }

  private clientFor(address: string): KVClient {
    let c = this.forwardClients.get(address);
    if (c === undefined) {
      c = new KVClient(address, credentials.createInsecure(), {
        // A restarted leader is reached again quickly (grpc's default back-off is 1 s to 120 s).
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
      });
      this.forwardClients.set(address, c);
    }
    return c;
  }

  /** Bytes of the node's storage (its data directory's files), or of the state in memory. */
  private dbSize(): number {
    const dir = this.ctx.config.dataDir;
    if (this.ctx.config.storage === 'sqlite' && dir !== undefined) {
      let total = 0;
      try {
        for (const name of readdirSync(dir)) {
          const s = statSync(join(dir, name), { throwIfNoEntry: false });
          if (s?.isFile()) total += s.size;
        }
      } catch {
        return 0;
      }
      return total;
    }
    let keys = 0;
    for (const g of this.ctx.groups.all) keys += g.stateMachine.size;
    return keys;
  }
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function textKey(bytes: Uint8Array): string | undefined {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The status of a forwarded write that failed: the leader's own, or a transport failure. */
function forwardFailure(error: ServiceError | null): EtcdStatusError {
  if (error === null) {
    return new EtcdStatusError(status.INTERNAL, 'etcdserver: empty answer', 'unknown');
  }
  const outcome = error.metadata?.get(OUTCOME_TRAILER)[0];
  if (outcome === 'not-applied' || outcome === 'unknown') {
    return new EtcdStatusError(error.code, error.details, outcome);
  }
  if (error.code === status.UNAVAILABLE && error.details.startsWith('No connection established')) {
    // grpc-js never sent it: no connection to the leader could be made.
    return leaderChanged('not-applied');
  }
  if (error.code === status.INVALID_ARGUMENT || error.code === status.NOT_FOUND) {
    return new EtcdStatusError(error.code, error.details);
  }
  return new EtcdStatusError(
    status.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to connection lost',
    'unknown',
  );
}
