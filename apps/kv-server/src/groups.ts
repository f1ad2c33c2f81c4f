import type {
  Configuration,
  LogStorage,
  MetaStorage,
  RaftNode as RaftNodeType,
  SnapshotStorage,
  Transport,
} from '@kontiki/core';
import { type RaftHost, RaftNode } from '@kontiki/core';
import type { GroupsSummaryBody } from './api-types.js';
import type { KvResult } from './commands.js';
import { KvStateMachine } from './kv-state-machine.js';
import type { ServerMetrics } from './server-metrics.js';

/** How many Raft groups one kv-server process may run (`--groups`). */
export const MAX_GROUPS = 100_000;

/**
 * The group ids of a server with `count` groups: the base id itself for one group (what a
 * single-group server always used), else `<base>-0` ... `<base>-(count-1)`.
 */
export function groupIds(base: string, count: number): string[] {
  if (count === 1) return [base];
  return Array.from({ length: count }, (_, i) => `${base}-${i}`);
}

const encoder = new TextEncoder();

/**
 * The group a key belongs to: 32-bit FNV-1a of the key's UTF-8 bytes, modulo `count`.
 * Stable across processes, versions and platforms (clients may compute it too); it only
 * changes if `count` does, which is why a data directory remembers its group count.
 */
export function groupIndexOf(key: string | Uint8Array, count: number): number {
  if (count === 1) return 0;
  const bytes = typeof key === 'string' ? encoder.encode(key) : key;
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i] as number;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}

/** One Raft group of a kv-server: its id, its state machine, and its node once started. */
export interface KvGroup {
  readonly index: number;
  readonly id: string;
  readonly stateMachine: KvStateMachine;
  /** Undefined until the server has its members and started the group's node. */
  node: RaftNodeType<KvResult> | undefined;
}

/** The groups of one kv-server process, and the key → group mapping. */
export class KvGroups {
  readonly all: readonly KvGroup[];
  private readonly byIdMap: ReadonlyMap<string, KvGroup>;

  constructor(
    /** `--group`: the id of the only group, or the prefix of every group's id. */
    readonly baseId: string,
    count: number,
  ) {
    this.all = groupIds(baseId, count).map((id, index) => ({
      index,
      id,
      stateMachine: new KvStateMachine(),
      node: undefined,
    }));
    this.byIdMap = new Map(this.all.map((g) => [g.id, g]));
  }

  get count(): number {
    return this.all.length;
  }

  /** More than one group: keys are sharded (status is summarised, some requests refused). */
  get sharded(): boolean {
    return this.all.length > 1;
  }

  /**
   * Group 0: the only one without sharding; with sharding, the one whose status `/status`
   * shows in full and whose log holds the members' address book.
   */
  get primary(): KvGroup {
    return this.all[0] as KvGroup;
  }

  forKey(key: string | Uint8Array): KvGroup {
    return this.all[groupIndexOf(key, this.all.length)] as KvGroup;
  }

  byId(id: string): KvGroup | undefined {
    return this.byIdMap.get(id);
  }
}

/** Per-group storage: the group's log, hard state and snapshots. */
export interface GroupStorage {
  readonly log: LogStorage;
  readonly meta: MetaStorage;
  readonly snapshots: SnapshotStorage;
}

export interface GroupNodeOptions {
  readonly group: KvGroup;
  readonly peerId: string;
  readonly initialConfiguration: Configuration | undefined;
  readonly transport: Transport;
  readonly storage: GroupStorage;
  readonly electionTimeoutMs: number;
  readonly snapshotIntervalMs: number;
  readonly snapshotLogMargin: number;
  /** Raft metrics: recorded for the primary group only (labels are not per group). */
  readonly metrics: ServerMetrics | undefined;
  /** The endpoint's host, shared by every group (with `--groups` > 1). */
  readonly host: RaftHost | undefined;
}

/**
 * Makes a group's RaftNode: the one place kv-server creates nodes, so that options shared
 * by every group of the process (e.g. a per-endpoint host) are passed in one line.
 */
export function createGroupNode(o: GroupNodeOptions): RaftNodeType<KvResult> {
  return new RaftNode<KvResult>({
    groupId: o.group.id,
    peerId: o.peerId,
    ...(o.initialConfiguration === undefined
      ? {}
      : { initialConfiguration: o.initialConfiguration }),
    transport: o.transport,
    ...(o.host === undefined ? {} : { host: o.host }),
    logStorage: o.storage.log,
    metaStorage: o.storage.meta,
    snapshotStorage: o.storage.snapshots,
    stateMachine: o.group.stateMachine,
    electionTimeoutMs: o.electionTimeoutMs,
    snapshotIntervalMs: o.snapshotIntervalMs,
    snapshotLogMargin: o.snapshotLogMargin,
    ...(o.metrics === undefined ? {} : { metrics: o.metrics.raft }),
  });
}

/** A group more entries than this behind (applied vs committed) counts as a laggard. */
export const LAG_THRESHOLD = 100;
/** The summary is recomputed at most this often (it visits every group). */
export const SUMMARY_TTL_MS = 500;
const WORST_KEPT = 5;

/**
 * The status summary of many groups, recomputed at most every SUMMARY_TTL_MS: one pass over
 * the groups' cheap getters, so that a status request costs O(groups) at most twice a
 * second however often it is asked, and its answer is a few counts, not a row per group.
 */
export class GroupsSummaryCache {
  private cached: { at: number; body: Omit<GroupsSummaryBody, 'ageMs'> } | undefined;

  constructor(private readonly groups: KvGroups) {}

  get(now = Date.now()): GroupsSummaryBody {
    if (this.cached === undefined || now - this.cached.at >= SUMMARY_TTL_MS) {
      this.cached = { at: now, body: summarise(this.groups) };
    }
    return { ...this.cached.body, ageMs: now - this.cached.at };
  }
}

function summarise(groups: KvGroups): Omit<GroupsSummaryBody, 'ageMs'> {
  let starting = 0;
  let ledHere = 0;
  let withLeader = 0;
  let keys = 0;
  let lagging = 0;
  const leaders = new Map<string, number>();
  const worst: Array<{ group: string; commitIndex: number; appliedIndex: number }> = [];
  for (const g of groups.all) {
    keys += g.stateMachine.size;
    const node = g.node;
    if (node === undefined) {
      starting++;
      continue;
    }
    const leader = node.leader;
    if (leader !== undefined) {
      withLeader++;
      leaders.set(leader, (leaders.get(leader) ?? 0) + 1);
      if (node.isLeader) ledHere++;
    }
    const commitIndex = node.commitIndex;
    const appliedIndex = node.appliedIndex;
    const lag = commitIndex - appliedIndex;
    if (lag > LAG_THRESHOLD) {
      lagging++;
      // Keep the WORST_KEPT largest lags (a tiny sorted list: no per-group allocation).
      const last = worst[worst.length - 1];
      if (worst.length < WORST_KEPT || (last && lag > last.commitIndex - last.appliedIndex)) {
        worst.push({ group: g.id, commitIndex, appliedIndex });
        worst.sort((a, b) => b.commitIndex - b.appliedIndex - (a.commitIndex - a.appliedIndex));
        if (worst.length > WORST_KEPT) worst.pop();
      }
    }
  }
  return {
    count: groups.count,
    starting,
    ledHere,
    withLeader,
    leadersPerNode: Object.fromEntries([...leaders].sort(([a], [b]) => (a < b ? -1 : 1))),
    laggards: { threshold: LAG_THRESHOLD, count: lagging, worst },
    keys,
  };
}
