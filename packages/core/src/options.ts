import { type Clock, type RandomSource, systemClock, systemRandom } from './clock.js';
import { validateConfiguration } from './configuration.js';
import { InvalidOptionError, RaftError } from './errors.js';
import { defaultLogger, type Logger } from './logger.js';
import type { RaftMetrics } from './metrics.js';
import { RaftHost } from './raft-host.js';
import type { StateMachine } from './state-machine.js';
import type { LogStorage, MetaStorage, SnapshotStorage } from './storage.js';
import type { Transport } from './transport.js';
import type { Configuration, GroupId, PeerId } from './types.js';

/** What a user passes to create a node (braft's NodeOptions). Only the first block is required. */
export interface NodeOptions<R = unknown> {
  groupId: GroupId;
  /** This node's id: its address on the transport. */
  peerId: PeerId;
  transport: Transport;
  logStorage: LogStorage;
  metaStorage: MetaStorage;
  stateMachine: StateMachine<R>;

  /** Membership to start with when the log holds no configuration yet (a new cluster). */
  initialConfiguration?: Configuration;
  snapshotStorage?: SnapshotStorage;

  /**
   * Election timeout T in ms. A follower that has not heard from a leader for T stands for
   * election after a random further wait (see `electionJitter`); it grants no vote to
   * anyone else while the leader it heard from within T may still be alive.
   * @defaultValue `1000`
   */
  electionTimeoutMs?: number;
  /**
   * The random part of a follower's election timer, as a fraction of T, in (0, 1]: it stands
   * a random time in [T, T + electionJitter·T) after the leader's last contact (1 gives Raft's
   * usual [T, 2T)). Smaller notices a dead leader sooner. Followers whose timers fire within a
   * round trip do not split the vote: the one that granted a pre-vote to a smaller id waits
   * rpcTimeoutMs for that peer's vote request before it stands.
   * @defaultValue `0.3`
   */
  electionJitter?: number;
  /**
   * How far apart two nodes' clocks may run, in ms; added to the vote timer. Must be below T.
   * @defaultValue `Math.min(100, Math.floor(electionTimeoutMs / 10))`
   */
  maxClockDriftMs?: number;
  /**
   * Heartbeat interval in ms. At most T / 2.
   * @defaultValue `Math.max(1, Math.floor(electionTimeoutMs / 10))`
   */
  heartbeatIntervalMs?: number;
  /**
   * How long an AppendEntries or RequestVote may go unanswered before it is sent again, in ms.
   * The call itself stays open for a late answer: AppendEntries for 10 election timeouts,
   * votes until their election round ends.
   * @defaultValue `Math.max(1, Math.floor(electionTimeoutMs / 2))`
   */
  rpcTimeoutMs?: number;
  /**
   * Milliseconds between snapshots; 0 turns the timer off.
   * @defaultValue `3_600_000` (one hour)
   */
  snapshotIntervalMs?: number;
  /**
   * Entries kept in the log behind a snapshot, so that followers a little behind need no snapshot.
   * @defaultValue `1000`
   */
  snapshotLogMargin?: number;
  /**
   * Most entries in one AppendEntries.
   * @defaultValue `1024`
   */
  maxEntriesPerRpc?: number;
  /**
   * Most data bytes in one AppendEntries (a larger single entry still goes alone).
   * @defaultValue `1024 * 1024` (1 MiB)
   */
  maxBytesPerRpc?: number;
  /**
   * Most AppendEntries in flight to one follower.
   * @defaultValue `64`
   */
  maxInflightRpcs?: number;
  /**
   * Most partial AppendEntries (fewer than maxEntriesPerRpc entries and maxBytesPerRpc bytes)
   * in flight to one follower. Beyond it the next partial batch waits for an answer (or,
   * when they go a heartbeat interval unanswered, for the next heartbeat tick), then leaves
   * with everything appended meanwhile: Nagle's rule without a timer of its own. A lone
   * proposal on an idle pipeline still leaves at once; full batches pipeline up to
   * maxInflightRpcs. At most maxInflightRpcs.
   * @defaultValue `1`
   */
  maxPartialInflightRpcs?: number;
  /**
   * Most data bytes in flight to one follower.
   * @defaultValue `32 * 1024 * 1024` (32 MiB)
   */
  maxInflightBytes?: number;
  /**
   * Most entries handed to the state machine in one onApply call.
   * @defaultValue `512`
   */
  applyBatchSize?: number;
  /**
   * Proposals waiting to be applied beyond which `apply` fails with BUSY.
   * @defaultValue `100_000`
   */
  maxPendingProposals?: number;

  /**
   * Whether a started node keeps the Node.js process alive, as a listening server does.
   * With false the process may exit while the node runs unless something else keeps it
   * alive; the node's own timers never do. Only clocks with `hold` (the system clock) can
   * keep a process alive.
   * @defaultValue `true`
   */
  keepAlive?: boolean;

  /**
   * Time: timers and `now()` (the simulator injects virtual time).
   * @defaultValue `systemClock`
   */
  clock?: Clock;
  /**
   * Randomness for election timeouts, a number in [0, 1).
   * @defaultValue `systemRandom`
   */
  random?: RandomSource;
  /** Where the node logs; when not given, `defaultLogger('kontiki:<groupId>:<peerId>')`: silent unless `KONTIKI_LOG` is set. */
  logger?: Logger;
  /**
   * Where the node reports its metrics (leader, proposals, disk syncs, round trips to
   * followers, snapshots), e.g. `new PrometheusMetrics()` of `@kontiki/metrics-prometheus`.
   * When not given, the node reports nothing and reads no clock for it.
   */
  metrics?: RaftMetrics;
  /**
   * The endpoint's host, shared by every group on the same transport (multi-raft): one
   * timer scheduler, one heartbeat per peer endpoint, and quiescence of idle groups. The
   * node must use the host's `transport` and `peerId`; its clock defaults to the host's.
   * Without a host a node runs its own timers and heartbeats, as a single group does.
   */
  host?: RaftHost;
}

/** NodeOptions with every default filled in and every value checked. */
export interface ResolvedOptions<R> {
  readonly groupId: GroupId;
  readonly peerId: PeerId;
  readonly transport: Transport;
  readonly logStorage: LogStorage;
  readonly metaStorage: MetaStorage;
  readonly snapshotStorage: SnapshotStorage | undefined;
  readonly stateMachine: StateMachine<R>;
  readonly initialConfiguration: Configuration | undefined;
  readonly electionTimeoutMs: number;
  readonly electionJitter: number;
  readonly maxClockDriftMs: number;
  readonly heartbeatIntervalMs: number;
  readonly rpcTimeoutMs: number;
  readonly snapshotIntervalMs: number;
  readonly snapshotLogMargin: number;
  readonly maxEntriesPerRpc: number;
  readonly maxBytesPerRpc: number;
  readonly maxInflightRpcs: number;
  readonly maxPartialInflightRpcs: number;
  readonly maxInflightBytes: number;
  readonly applyBatchSize: number;
  readonly maxPendingProposals: number;
  readonly keepAlive: boolean;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  readonly metrics: RaftMetrics | undefined;
  readonly host: RaftHost | undefined;
}

function positiveInt(
  name: string,
  value: unknown,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidOptionError(name, `must be an integer from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

function nonNegativeInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidOptionError(name, `must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new InvalidOptionError(name, `must be true or false, got ${String(value)}`);
  }
  return value;
}

function hasMethods(name: string, value: unknown, methods: readonly string[]): void {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionError(name, 'is required');
  }
  for (const m of methods) {
    if (typeof (value as Record<string, unknown>)[m] !== 'function') {
      throw new InvalidOptionError(name, `has no ${m}() method`);
    }
  }
}

export function resolveOptions<R>(options: NodeOptions<R>): ResolvedOptions<R> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  if (typeof options.groupId !== 'string' || options.groupId.length === 0) {
    throw new InvalidOptionError('groupId', 'must be a non-empty string');
  }
  if (typeof options.peerId !== 'string' || options.peerId.length === 0) {
    throw new InvalidOptionError('peerId', 'must be a non-empty string');
  }
  hasMethods('transport', options.transport, ['call', 'serve', 'close']);
  hasMethods('logStorage', options.logStorage, [
    'firstIndex',
    'lastIndex',
    'entries',
    'term',
    'append',
    'truncateSuffix',
    'truncatePrefix',
    'reset',
  ]);
  hasMethods('metaStorage', options.metaStorage, ['load', 'save']);
  hasMethods('stateMachine', options.stateMachine, ['onApply']);
  if (options.snapshotStorage !== undefined) {
    hasMethods('snapshotStorage', options.snapshotStorage, ['create', 'openLatest']);
  }
  if (options.metrics !== undefined) {
    hasMethods('metrics', options.metrics, ['counter', 'gauge', 'histogram']);
  }
  if (options.initialConfiguration !== undefined) {
    try {
      validateConfiguration(options.initialConfiguration, 'initialConfiguration');
    } catch (e) {
      throw new InvalidOptionError('initialConfiguration', RaftError.is(e) ? e.message : String(e));
    }
  }

  const electionTimeoutMs = positiveInt(
    'electionTimeoutMs',
    options.electionTimeoutMs,
    1000,
    3_600_000,
  );
  const maxClockDriftMs = nonNegativeInt(
    'maxClockDriftMs',
    options.maxClockDriftMs,
    Math.min(100, Math.floor(electionTimeoutMs / 10)),
  );
  if (maxClockDriftMs >= electionTimeoutMs) {
    throw new InvalidOptionError(
      'maxClockDriftMs',
      `must be below electionTimeoutMs (${electionTimeoutMs})`,
    );
  }
  const heartbeatIntervalMs = positiveInt(
    'heartbeatIntervalMs',
    options.heartbeatIntervalMs,
    Math.max(1, Math.floor(electionTimeoutMs / 10)),
  );
  if (heartbeatIntervalMs * 2 > electionTimeoutMs) {
    throw new InvalidOptionError(
      'heartbeatIntervalMs',
      `must be at most half of electionTimeoutMs (${electionTimeoutMs})`,
    );
  }
  const rpcTimeoutMs = positiveInt(
    'rpcTimeoutMs',
    options.rpcTimeoutMs,
    Math.max(1, Math.floor(electionTimeoutMs / 2)),
  );

  const maxInflightRpcs = positiveInt('maxInflightRpcs', options.maxInflightRpcs, 64);
  const maxPartialInflightRpcs = positiveInt(
    'maxPartialInflightRpcs',
    options.maxPartialInflightRpcs,
    1,
    maxInflightRpcs,
  );

  const electionJitter = options.electionJitter ?? 0.3;
  if (
    typeof electionJitter !== 'number' ||
    !Number.isFinite(electionJitter) ||
    electionJitter <= 0 ||
    electionJitter > 1
  ) {
    throw new InvalidOptionError(
      'electionJitter',
      `must be a number above 0 and at most 1, got ${String(electionJitter)}`,
    );
  }

  const host = options.host;
  if (host !== undefined) {
    if (!(host instanceof RaftHost)) throw new InvalidOptionError('host', 'must be a RaftHost');
    if (host.transport !== options.transport) {
      throw new InvalidOptionError('transport', "must be the host's transport");
    }
    if (host.peerId !== options.peerId) {
      throw new InvalidOptionError('peerId', `must be the host's peerId (${host.peerId})`);
    }
  }
  const clock = options.clock ?? host?.clock ?? systemClock;
  hasMethods('clock', clock, ['now', 'setTimer', 'clearTimer']);
  const random = options.random ?? systemRandom;
  if (typeof random !== 'function') throw new InvalidOptionError('random', 'must be a function');

  return {
    groupId: options.groupId,
    peerId: options.peerId,
    transport: options.transport,
    logStorage: options.logStorage,
    metaStorage: options.metaStorage,
    snapshotStorage: options.snapshotStorage,
    stateMachine: options.stateMachine,
    initialConfiguration: options.initialConfiguration,
    electionTimeoutMs,
    electionJitter,
    maxClockDriftMs,
    heartbeatIntervalMs,
    rpcTimeoutMs,
    snapshotIntervalMs: nonNegativeInt('snapshotIntervalMs', options.snapshotIntervalMs, 3_600_000),
    snapshotLogMargin: nonNegativeInt('snapshotLogMargin', options.snapshotLogMargin, 1000),
    maxEntriesPerRpc: positiveInt('maxEntriesPerRpc', options.maxEntriesPerRpc, 1024),
    maxBytesPerRpc: positiveInt('maxBytesPerRpc', options.maxBytesPerRpc, 1024 * 1024),
    maxInflightRpcs,
    maxPartialInflightRpcs,
    maxInflightBytes: positiveInt('maxInflightBytes', options.maxInflightBytes, 32 * 1024 * 1024),
    applyBatchSize: positiveInt('applyBatchSize', options.applyBatchSize, 512),
    maxPendingProposals: positiveInt('maxPendingProposals', options.maxPendingProposals, 100_000),
    keepAlive: booleanOption('keepAlive', options.keepAlive, true),
    clock,
    random,
    logger: options.logger ?? defaultLogger(`kontiki:${options.groupId}:${options.peerId}`),
    metrics: options.metrics,
    host,
  };
}
