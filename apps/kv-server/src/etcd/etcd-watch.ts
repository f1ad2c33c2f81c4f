import type { ServerDuplexStream } from '@grpc/grpc-js';
import {
  type ResponseHeader,
  type WatchCreateRequest,
  WatchCreateRequest_FilterType,
  type WatchRequest,
  type WatchResponse,
} from '../gen/etcdserverpb/rpc.js';
import { Event_EventType, type Event as PbEvent } from '../gen/mvccpb/kv.js';
import { compareBytes, utf8 } from '../kv-entry.js';
import {
  INITIAL_REVISION,
  type KvChangeListener,
  type KvEvent,
  type KvStateMachine,
} from '../kv-state-machine.js';
import { keyValue } from './etcd-convert.js';

/** Changes kept for watches that start at a past revision (etcd keeps them until compaction). */
export const DEFAULT_WATCH_HISTORY = 10_000;
/** And at most about this many bytes of keys and values in them (large values add up fast). */
export const DEFAULT_WATCH_HISTORY_BYTES = 32 * 1024 * 1024;

interface Revision {
  readonly revision: number;
  readonly events: readonly KvEvent[];
  /** Bytes of the keys and values it holds (strings' lengths: a bound, not an exact size). */
  readonly bytes: number;
}

/**
 * The changes this node applied, for etcd's Watch: every stream's watchers hear each change
 * as the node applies it, and a watch that starts at a past revision replays it from a
 * bounded history of recent changes. No history older than that (nor across a snapshot this
 * node installed) is kept: such a watch is cancelled with `compact_revision`, as etcd cancels
 * one that starts before its compaction.
 */
export class WatchHub implements KvChangeListener {
  /** Oldest first, from `head` on (dropped entries are cut off in bulk, not one shift each). */
  private history: Revision[] = [];
  private head = 0;
  private historyEvents = 0;
  private historyBytes = 0;
  /** Every change of a revision above this one is in `history`. */
  private complete: number;
  /** The streams with a watcher on this hub's keys. */
  readonly streams = new Set<HubListener>();

  constructor(
    private readonly stateMachine: KvStateMachine,
    private readonly maxEvents = DEFAULT_WATCH_HISTORY,
    private readonly maxBytes = DEFAULT_WATCH_HISTORY_BYTES,
  ) {
    // A store at its first revision has had no change, so none can be missing.
    this.complete = stateMachine.revision === INITIAL_REVISION ? 0 : stateMachine.revision;
    stateMachine.listen(this);
  }

  get revision(): number {
    return this.stateMachine.revision;
  }

  /** The oldest revision a watch can start from. */
  get oldestRevision(): number {
    return this.complete + 1;
  }

  onChange(revision: number, events: readonly KvEvent[]): void {
    let bytes = 0;
    for (const e of events) {
      bytes += e.kv.key.length + e.kv.value.length + (e.prev?.value.length ?? 0);
    }
    this.history.push({ revision, events, bytes });
    this.historyEvents += events.length;
    this.historyBytes += bytes;
    while (
      (this.historyEvents > this.maxEvents || this.historyBytes > this.maxBytes) &&
      this.history.length - this.head > 1
    ) {
      const dropped = this.history[this.head++] as Revision;
      this.historyEvents -= dropped.events.length;
      this.historyBytes -= dropped.bytes;
      this.complete = dropped.revision;
    }
    if (this.head > 1024 && this.head * 2 > this.history.length) {
      this.history = this.history.slice(this.head);
      this.head = 0;
    }
    for (const s of this.streams) s.deliver(this, revision, events);
  }

  onReset(revision: number): void {
    this.history = [];
    this.head = 0;
    this.historyEvents = 0;
    this.historyBytes = 0;
    this.complete = revision;
    for (const s of this.streams) s.lost(this, this.oldestRevision);
  }

  /** The changes of revisions >= `from`, oldest first (`from` must be >= oldestRevision). */
  since(from: number): readonly Revision[] {
    // Revisions increase along the history: the first at or after `from`, by binary search.
    let lo = this.head;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.history[mid] as Revision).revision < from) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo);
  }

  /** Serves one Watch stream of this hub alone until the client ends it. */
  serve(
    call: ServerDuplexStream<WatchRequest, WatchResponse>,
    header: (revision: number) => ResponseHeader,
  ): void {
    this.solo ??= new WatchRouter<WatchHub>({
      route: () => this,
      make: () => this,
      primary: this,
      revisionOf: (hub) => hub.revision,
      eager: [this],
    });
    this.solo.serve(call, (revision) => header(revision));
  }

  private solo: WatchRouter<WatchHub> | undefined;
  private closed = false;

  /** Ends the streams it serves alone, stops hearing the state machine. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.solo?.close();
    this.streams.clear();
    this.stateMachine.listen(undefined);
  }
}

export interface WatchRouterOptions<G> {
  /** The group whose keys a watch of [key, end) covers; undefined: it spans several. */
  route(key: Uint8Array, end: Uint8Array | undefined): G | undefined;
  /** Makes a group's hub (at its first watch, unless `eager`). */
  make(group: G): WatchHub;
  /** The group whose revision heads answers about no watch in particular (progress). */
  readonly primary: G;
  revisionOf(group: G): number;
  /** The groups whose hubs are made at once (their histories start with the node). */
  readonly eager?: readonly G[];
}

/**
 * The Watch service over a server's groups: each group's changes come from its own hub, and
 * a watch is served by the hub of the group its key is in. With one group there is one
 * hub, made at once. With several (sharded), a group's hub is made at its first watch, and
 * a watch of a range (which spans every group) is refused: created and cancelled at once.
 */
export class WatchRouter<G> {
  private readonly hubs = new Map<G, WatchHub>();
  private readonly streams = new Set<WatchStream<G>>();

  constructor(readonly options: WatchRouterOptions<G>) {
    for (const g of options.eager ?? []) this.hubs.set(g, options.make(g));
  }

  /** The hub of the group that holds the watch's keys, or undefined when they span several. */
  hubFor(key: Uint8Array, end: Uint8Array | undefined): { group: G; hub: WatchHub } | undefined {
    const group = this.options.route(key, end);
    if (group === undefined) return undefined;
    let hub = this.hubs.get(group);
    if (hub === undefined) {
      hub = this.options.make(group);
      this.hubs.set(group, hub);
    }
    return { group, hub };
  }

  /** Serves one Watch stream until the client ends it. */
  serve(
    call: ServerDuplexStream<WatchRequest, WatchResponse>,
    header: (revision: number, group: G) => ResponseHeader,
  ): void {
    const stream = new WatchStream<G>(this, call, header);
    this.streams.add(stream);
    const close = (): void => {
      if (!this.streams.delete(stream)) return;
      for (const hub of this.hubs.values()) hub.streams.delete(stream);
      call.end();
    };
    call.on('data', (req: WatchRequest) => stream.handle(req));
    call.on('end', close);
    call.on('cancelled', close);
    call.on('error', close);
  }

  /** Ends every stream (the server is stopping). */
  close(): void {
    for (const s of this.streams) s.end();
    this.streams.clear();
    for (const hub of this.hubs.values()) hub.close();
  }
}

/** What a hub tells the streams watching its keys. */
interface HubListener {
  deliver(hub: WatchHub, revision: number, events: readonly KvEvent[]): void;
  lost(hub: WatchHub, oldest: number): void;
}

interface Watcher {
  readonly id: bigint;
  readonly key: Uint8Array;
  /** Absent: the key alone; [0]: every key from `key` on. */
  readonly end: Uint8Array | undefined;
  /** Changes of earlier revisions are not sent (they were replayed, or came before). */
  readonly from: number;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly hub: WatchHub;
}

/** A watcher and the group its keys are in. */
type GroupWatcher<G> = Watcher & { readonly group: G };

class WatchStream<G> implements HubListener {
  private readonly watchers = new Map<bigint, GroupWatcher<G>>();
  private nextId = 0n;

  constructor(
    private readonly router: WatchRouter<G>,
    private readonly call: ServerDuplexStream<WatchRequest, WatchResponse>,
    private readonly header: (revision: number, group: G) => ResponseHeader,
  ) {}

  handle(req: WatchRequest): void {
    const r = req.requestUnion;
    if (r === undefined) return;
    if (r.$case === 'createRequest') this.create(r.value);
    else if (r.$case === 'cancelRequest') {
      const id = r.value.watchId;
      this.watchers.delete(id);
      this.send({ watchId: id, canceled: true });
    } else {
      // A progress request: the revision every watcher of this stream has seen up to.
      this.send({ watchId: -1n });
    }
  }

  deliver(hub: WatchHub, revision: number, events: readonly KvEvent[]): void {
    if (this.watchers.size === 0) return;
    const keys = events.map((e) => utf8(e.kv.key));
    for (const w of this.watchers.values()) {
      if (w.hub === hub) this.deliverTo(w, revision, events, keys);
    }
  }

  private deliverTo(
    w: GroupWatcher<G>,
    revision: number,
    events: readonly KvEvent[],
    keys: readonly Uint8Array[],
  ): void {
    const matching = this.matching(w, revision, events, keys);
    if (matching.length > 0) this.send({ watchId: w.id, events: matching }, w.group, revision);
  }

  private matching(
    w: Watcher,
    revision: number,
    events: readonly KvEvent[],
    keys: readonly Uint8Array[],
  ): PbEvent[] {
    if (revision < w.from) return [];
    const out: PbEvent[] = [];
    events.forEach((e, i) => {
      if (e.type === 'put' ? w.noPut : w.noDelete) return;
      if (!inRange(keys[i] as Uint8Array, w.key, w.end)) return;
      out.push(toEvent(e, w.prevKv));
    });
    return out;
  }

  /** This node installed a snapshot: the hub's watchers missed changes; they are cancelled. */
  lost(hub: WatchHub, oldest: number): void {
    for (const w of this.watchers.values()) {
      if (w.hub !== hub) continue;
      this.send(
        {
          watchId: w.id,
          canceled: true,
          compactRevision: BigInt(oldest),
          cancelReason: 'etcdserver: mvcc: required revision has been compacted',
        },
        w.group,
      );
      this.watchers.delete(w.id);
    }
  }

  end(): void {
    this.watchers.clear();
    this.call.end();
  }

  private create(c: WatchCreateRequest): void {
    let id = c.watchId;
    if (id !== 0n && this.watchers.has(id)) {
      this.send({
        watchId: id,
        created: true,
        canceled: true,
        cancelReason: 'etcdserver: duplicate watch ID',
      });
      return;
    }
    if (id === 0n) {
      // etcd numbers a stream's watches from 0, skipping those the client chose.
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    }
    const end = c.rangeEnd.byteLength === 0 ? undefined : c.rangeEnd;
    const routed = this.router.hubFor(c.key, end);
    if (routed === undefined) {
      this.send({
        watchId: id,
        created: true,
        canceled: true,
        cancelReason:
          'kontiki: watching a range or prefix is not supported with --groups>1 (its keys span every group); watch single keys',
      });
      return;
    }
    const { hub, group } = routed;
    const current = hub.revision;
    const start = Number(c.startRevision > 0n ? c.startRevision : 0n);
    this.send({ watchId: id, created: true }, group);
    if (start > 0 && start < hub.oldestRevision) {
      this.send(
        {
          watchId: id,
          canceled: true,
          compactRevision: BigInt(hub.oldestRevision),
          cancelReason: 'etcdserver: mvcc: required revision has been compacted',
        },
        group,
      );
      return;
    }
    const watcher: GroupWatcher<G> = {
      id,
      key: c.key,
      end,
      from: start > 0 ? start : current + 1,
      noPut: c.filters.includes(WatchCreateRequest_FilterType.NOPUT),
      noDelete: c.filters.includes(WatchCreateRequest_FilterType.NODELETE),
      prevKv: c.prevKv,
      hub,
      group,
    };
    this.watchers.set(id, watcher);
    hub.streams.add(this);
    // Past changes are replayed in this same turn: nothing is applied in between, so the
    // live changes that follow are exactly those after `current`.
    if (start > 0 && start <= current) {
      // One answer with every past change, headed by the current revision, as etcd does.
      const past = hub.since(start).flatMap((r) =>
        this.matching(
          watcher,
          r.revision,
          r.events,
          r.events.map((e) => utf8(e.kv.key)),
        ),
      );
      if (past.length > 0) this.send({ watchId: id, events: past }, group, current);
    }
  }

  /** Sends an answer headed by `group`'s revision (the primary group's by default). */
  private send(
    res: Partial<WatchResponse>,
    group: G = this.router.options.primary,
    revision = this.router.options.revisionOf(group),
  ): void {
    this.call.write({
      header: this.header(revision, group),
      watchId: 0n,
      created: false,
      canceled: false,
      compactRevision: 0n,
      cancelReason: '',
      fragment: false,
      events: [],
      ...res,
    });
  }
}

function inRange(k: Uint8Array, key: Uint8Array, end: Uint8Array | undefined): boolean {
  if (end === undefined) return compareBytes(k, key) === 0;
  if (compareBytes(k, key) < 0) return false;
  return (end.byteLength === 1 && end[0] === 0) || compareBytes(k, end) < 0;
}

function toEvent(e: KvEvent, withPrev: boolean): PbEvent {
  return {
    type: e.type === 'put' ? Event_EventType.PUT : Event_EventType.DELETE,
    kv: keyValue(e.kv),
    prevKv: withPrev && e.prev !== undefined ? keyValue(e.prev) : undefined,
  };
}
