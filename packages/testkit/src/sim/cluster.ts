import {
  type ApplyResult,
  type Logger,
  type LogStorage,
  type NodeOptions,
  RaftHost,
  type RaftMetrics,
  RaftNode,
  type StateMachine,
  silentLogger,
} from '@kontiki/core';
import { nodeInternals } from '@kontiki/core/internal';
import { MemoryNetwork, type MemoryTransport } from '@kontiki/transport-memory';
import { GroupInvariants } from './invariants.js';
import { Rng } from './rng.js';
import { SimStateMachine } from './sim-state-machine.js';
import { SimDisk, SimLogStorage, SimMetaStorage } from './sim-storage.js';
import { type NodeClock, VirtualTime } from './virtual-clock.js';

export interface SimClusterOptions {
  /** One seed, one run. */
  seed: number;
  /** Peer ids, or how many (named n1, n2, ...). Default 3. */
  peers?: number | readonly string[];
  /** The voters every node starts with; peers left out wait to be added. Default: all peers. */
  initialVoters?: readonly string[];
  /** Raft groups hosted by every peer (multi-raft on one endpoint). Default ['g'].*/
  groups?: readonly string[];
  electionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  maxClockDriftMs?: number;
  /** Most ms a write takes to reach the disk. Default 2. */
  diskLatencyMs?: number;
  /** Base network latency range in ms. Default [0.2, 1]. */
  networkDelayMs?: readonly [number, number];
  /** Extra node options (batch sizes, ...). */
  nodeOptions?: Partial<
    Omit<
      NodeOptions<string>,
      'groupId' | 'peerId' | 'transport' | 'logStorage' | 'metaStorage' | 'stateMachine'
    >
  >;
  /** Keep the last N events for the failure report. Default 200. */
  traceSize?: number;
  /** Put the nodes' own log lines (info and above: leaders, step-downs; or debug too) into the trace. */
  traceNodeLogs?: boolean | 'debug';
  /** Lets a test add callbacks around the simulator's state machine. */
  wrapStateMachine?: (peer: string, group: string, sm: SimStateMachine) => StateMachine<string>;
  /** The metrics sink of each node (asked at every boot, so a sink may outlive a crash). */
  metrics?: (peer: string, group: string) => RaftMetrics | undefined;
  /** Lets a test put faults into a node's log storage. */
  wrapLogStorage?: (peer: string, group: string, storage: LogStorage) => LogStorage;
  /**
   * Whether the network authenticates its endpoints as cluster members, as a cluster token
   * or mutual TLS does (default true, the configuration the project recommends). Without
   * it, a member that missed the configuration entries naming the current leader refuses
   * that leader until a member it knows vouches for it.
   */
  authenticated?: boolean;
  /**
   * Runs the groups of each peer on one RaftHost (shared scheduler, node-level heartbeats,
   * and quiescence unless `quiesce` is false).
   */
  host?: boolean | { readonly quiesce?: boolean };
}

export interface SimMember {
  readonly peer: string;
  readonly group: string;
  readonly incarnation: number;
  readonly node: RaftNode<string>;
  readonly sm: SimStateMachine;
}

interface Incarnation {
  readonly number: number;
  readonly clock: NodeClock;
  readonly transport: MemoryTransport;
  readonly host: RaftHost | undefined;
  readonly members: Map<
    string,
    { node: RaftNode<string>; log: SimLogStorage; meta: SimMetaStorage; sm: SimStateMachine }
  >;
}

interface PeerState {
  readonly id: string;
  readonly disks: Map<string, SimDisk>;
  incarnation: Incarnation | undefined;
  lives: number;
  driftRate: number;
}

/** A failure of the run, with what it needs to be replayed. */
export class SimulationFailure extends Error {
  constructor(
    readonly seed: number,
    readonly step: number,
    override readonly cause: unknown,
    readonly trace: readonly string[],
  ) {
    super(
      `simulation failed at step ${step} (seed ${seed}): ${cause instanceof Error ? cause.message : String(cause)}\n` +
        `replay: pnpm sim --seed ${seed}\n` +
        `last events:\n  ${trace.slice(-40).join('\n  ')}`,
    );
    this.name = 'SimulationFailure';
  }
}

const encoder = new TextEncoder();
const drain = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A whole cluster in one process on virtual time: N peers, each hosting one RaftNode per
 * group on one memory-network endpoint, with disks that lose unsynced writes on a crash.
 * Every step runs one event (a timer, a message, a disk write, a fault), lets the promises it
 * started settle, and checks the invariants. Scenario tests drive it by hand; the random
 * simulation drives it with a nemesis and a workload.
 */
export class SimCluster {
  readonly time = new VirtualTime();
  readonly rng: Rng;
  readonly network: MemoryNetwork;
  readonly peers: readonly string[];
  readonly groups: readonly string[];
  readonly invariants = new Map<string, GroupInvariants>();
  readonly electionTimeoutMs: number;
  private readonly states = new Map<string, PeerState>();
  private readonly options: SimClusterOptions;
  private readonly trace: string[] = [];
  private readonly traceSize: number;
  private readonly logger: Logger = silentLogger;
  private stepCount = 0;
  private readonly bootHooks: Array<(peer: string, group: string, node: RaftNode<string>) => void> =
    [];
  private failure: unknown;

  constructor(options: SimClusterOptions) {
    this.options = options;
    this.rng = new Rng(options.seed);
    const peers = options.peers ?? 3;
    this.peers =
      typeof peers === 'number' ? Array.from({ length: peers }, (_, i) => `n${i + 1}`) : [...peers];
    this.groups = options.groups ?? ['g'];
    this.electionTimeoutMs = options.electionTimeoutMs ?? 100;
    this.traceSize = options.traceSize ?? 200;
    const netRng = this.rng.fork('network');
    const time = this.time;
    this.network = new MemoryNetwork({
      clock: {
        now: () => time.now,
        setTimer: (fn, ms) => time.schedule(ms, fn, 'net'),
        clearTimer: (h) => time.cancel(h as never),
      },
      random: netRng.asSource(),
      immediate: (fn) => time.schedule(0, fn, 'net'),
      authenticated: options.authenticated ?? true,
    });
    const [dmin, dmax] = options.networkDelayMs ?? [0.2, 1];
    this.network.setDelay(dmin, dmax);
    for (const g of this.groups) this.invariants.set(g, new GroupInvariants(g));
    for (const id of this.peers) {
      const disks = new Map<string, SimDisk>();
      for (const g of this.groups) disks.set(g, new SimDisk());
      this.states.set(id, { id, disks, incarnation: undefined, lives: 0, driftRate: 1 });
    }
  }

  get steps(): number {
    return this.stepCount;
  }

  get now(): number {
    return this.time.now;
  }

  /** Boots every peer. */
  async start(): Promise<void> {
    for (const id of this.peers) await this.boot(id);
  }

  /** Starts a peer (again) from what its disks hold. */
  async boot(id: string): Promise<void> {
    const state = this.state(id);
    if (state.incarnation) throw new Error(`${id} is already running`);
    state.lives++;
    const clock = this.time.view({ rate: state.driftRate, offsetMs: this.rng.int(0, 1_000_000) });
    const transport = this.network.endpoint(id);
    const members: Incarnation['members'] = new Map();
    const hostOption = this.options.host;
    const host = hostOption
      ? new RaftHost({
          transport,
          peerId: id,
          clock,
          electionTimeoutMs: this.electionTimeoutMs,
          ...(this.options.heartbeatIntervalMs
            ? { heartbeatIntervalMs: this.options.heartbeatIntervalMs }
            : {}),
          timerResolutionMs: 1,
          quiesce: typeof hostOption === 'object' ? hostOption.quiesce !== false : true,
          logger: this.options.traceNodeLogs ? this.traceLogger(`host/${id}`) : this.logger,
        })
      : undefined;
    const incarnation: Incarnation = { number: state.lives, clock, transport, host, members };
    state.incarnation = incarnation;
    for (const g of this.groups) {
      const disk = state.disks.get(g) as SimDisk;
      const inv = this.invariants.get(g) as GroupInvariants;
      const diskRng = this.rng.fork(`disk:${id}:${g}:${state.lives}`);
      const latency = this.options.diskLatencyMs ?? 2;
      // A violation found on a disk write must fail the run, not just that node's write.
      const log = new SimLogStorage(disk.log, this.time, diskRng, latency, (entries, prevTerm) =>
        this.guard(() => inv.onDiskAppend(id, entries, prevTerm)),
      );
      const meta = new SimMetaStorage(disk.meta, this.time, diskRng.fork('meta'), latency);
      const life = state.lives;
      const sm = new SimStateMachine({
        onApplied: (entry) => this.guard(() => inv.onApply(id, life, entry)),
        onSnapshotLoaded: (index, records) =>
          this.guard(() => inv.onSnapshotLoad(id, life, index, records)),
      });
      const metrics = this.options.metrics?.(id, g);
      const node = new RaftNode<string>({
        electionTimeoutMs: this.electionTimeoutMs,
        ...(this.options.heartbeatIntervalMs
          ? { heartbeatIntervalMs: this.options.heartbeatIntervalMs }
          : {}),
        maxClockDriftMs: this.options.maxClockDriftMs ?? Math.floor(this.electionTimeoutMs / 10),
        snapshotIntervalMs: 0,
        ...this.options.nodeOptions,
        groupId: g,
        peerId: id,
        // A peer left out of the initial voters starts with no configuration at all and
        // waits to be added, as a node joining a running cluster does.
        ...(this.options.initialVoters === undefined || this.options.initialVoters.includes(id)
          ? { initialConfiguration: { voters: this.options.initialVoters ?? this.peers } }
          : {}),
        transport,
        logStorage: this.options.wrapLogStorage?.(id, g, log) ?? log,
        metaStorage: meta,
        snapshotStorage: disk.snapshots,
        stateMachine: this.options.wrapStateMachine?.(id, g, sm) ?? sm,
        clock: host?.clock ?? clock,
        ...(host ? { host } : {}),
        random: this.rng.fork(`random:${id}:${g}:${state.lives}`).asSource(),
        logger: this.options.traceNodeLogs ? this.traceLogger(`${g}/${id}`) : this.logger,
        ...(metrics === undefined ? {} : { metrics }),
      });
      members.set(g, { node, log, meta, sm });
      node.on('error', (e) =>
        this.record(`${g}/${id} stopped on ${e.error.code}: ${e.error.message}`),
      );
      for (const hook of this.bootHooks) hook(id, g, node);
      await node.start();
    }
    this.record(`boot ${id} (life ${state.lives})`);
  }

  /**
   * Kills a peer like SIGKILL: its timers stop, its connections drop, writes not yet on its
   * disks are lost, its in-memory state is gone.
   */
  crash(id: string): void {
    const state = this.state(id);
    const inc = state.incarnation;
    if (!inc) return;
    state.incarnation = undefined;
    inc.clock.kill();
    for (const m of inc.members.values()) {
      m.log.crash();
      m.meta.crash();
      m.sm.alive = false;
    }
    void inc.transport.close();
    this.record(`crash ${id}`);
  }

  /** Calls `hook` for every node created from now on (before it starts). */
  onBoot(hook: (peer: string, group: string, node: RaftNode<string>) => void): void {
    this.bootHooks.push(hook);
  }

  /**
   * Stops a peer the polite way (node.shutdown(), which lets queued writes finish) and boots
   * it again once that is done. Runs as the simulation goes on.
   */
  async gracefulRestart(id: string): Promise<void> {
    const state = this.state(id);
    const inc = state.incarnation;
    if (!inc) return;
    this.record(`graceful shutdown ${id}`);
    await Promise.all([...inc.members.values()].map((m) => m.node.shutdown()));
    if (state.incarnation !== inc) return;
    state.incarnation = undefined;
    inc.host?.close();
    inc.clock.kill();
    for (const m of inc.members.values()) m.sm.alive = false;
    await inc.transport.close();
    await this.boot(id);
  }

  async restart(id: string): Promise<void> {
    this.crash(id);
    await this.boot(id);
  }

  /** What `id` has on disk for `group` (survives crashes). */
  disk(id: string, group = this.groups[0] as string): SimDisk {
    const d = this.state(id).disks.get(group);
    if (!d) throw new Error(`no group ${group}`);
    return d;
  }

  /** The RaftHost of the running incarnation of `id` (when the cluster runs hosts). */
  host(id: string): RaftHost | undefined {
    return this.state(id).incarnation?.host;
  }

  /** The clock of the running incarnation of `id`. */
  clock(id: string): NodeClock | undefined {
    return this.state(id).incarnation?.clock;
  }

  isUp(id: string): boolean {
    return this.state(id).incarnation !== undefined;
  }

  /** Sets a peer's clock rate from now on (and for its next lives). */
  setDrift(id: string, rate: number): void {
    const state = this.state(id);
    state.driftRate = rate;
    state.incarnation?.clock.setRate(rate);
  }

  /** The log of `id`'s node in `group` (core's internals: the testkit is built with core). */
  log(id: string, group = this.groups[0] as string) {
    const node = this.node(id, group);
    return node ? nodeInternals(node).log : undefined;
  }

  /** The running node of `id` for `group`, if the peer is up. */
  node(id: string, group = this.groups[0] as string): RaftNode<string> | undefined {
    return this.state(id).incarnation?.members.get(group)?.node;
  }

  stateMachine(id: string, group = this.groups[0] as string): SimStateMachine | undefined {
    return this.state(id).incarnation?.members.get(group)?.sm;
  }

  /** Every running member of `group`. */
  members(group = this.groups[0] as string): SimMember[] {
    const out: SimMember[] = [];
    for (const s of this.states.values()) {
      const inc = s.incarnation;
      const m = inc?.members.get(group);
      if (inc && m)
        out.push({ peer: s.id, group, incarnation: inc.number, node: m.node, sm: m.sm });
    }
    return out;
  }

  /** The running leader of `group` with the highest term, if any. */
  leader(group = this.groups[0] as string): RaftNode<string> | undefined {
    let best: RaftNode<string> | undefined;
    for (const m of this.members(group)) {
      if (m.node.role === 'leader' && (!best || m.node.term > best.term)) best = m.node;
    }
    return best;
  }

  /** Runs one event; false when nothing is left to run. */
  async step(): Promise<boolean> {
    if (this.failure) throw this.fail(this.failure);
    const label = this.time.step();
    if (label === undefined) return false;
    this.stepCount++;
    await drain();
    if (this.failure) throw this.fail(this.failure);
    try {
      for (const g of this.groups) {
        const inv = this.invariants.get(g) as GroupInvariants;
        inv.check(
          this.members(g).map((m) => ({ id: m.peer, incarnation: m.incarnation, node: m.node })),
        );
      }
    } catch (error) {
      throw this.fail(error);
    }
    return true;
  }

  /** Runs events for `ms` of virtual time. */
  async runFor(ms: number, maxSteps = 1_000_000): Promise<void> {
    const until = this.time.now + ms;
    for (let i = 0; i < maxSteps; i++) {
      const next = this.time.peekTime();
      if (next === undefined || next > until) {
        this.time.advanceTo(until);
        return;
      }
      await this.step();
    }
    throw new Error(`runFor(${ms}) did not finish within ${maxSteps} steps`);
  }

  /** Runs until `predicate` holds; fails after `timeoutMs` of virtual time. */
  async runUntil(
    predicate: () => boolean,
    what: string,
    timeoutMs = 20 * this.electionTimeoutMs,
  ): Promise<void> {
    const until = this.time.now + timeoutMs;
    for (let i = 0; i < 5_000_000; i++) {
      if (predicate()) return;
      const next = this.time.peekTime();
      if (next === undefined || next > until) {
        // Nothing due in time: callbacks of promises already settled may still be queued (a
        // call refused at once, with every node down); let them run before giving up.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (predicate()) return;
        const after = this.time.peekTime();
        if (after === undefined || after > until) break;
        continue;
      }
      await this.step();
    }
    if (predicate()) return;
    throw new Error(
      `timed out after ${timeoutMs} virtual ms waiting for: ${what}\n${this.describe()}`,
    );
  }

  /** Runs the simulation until `promise` settles (it may need virtual time: disk, network). */
  async settle<T>(
    promise: Promise<T>,
    what = 'a promise to settle',
    timeoutMs?: number,
  ): Promise<T> {
    let done = false;
    const watched = promise.finally(() => {
      done = true;
    });
    watched.catch(() => {});
    await this.runUntil(() => done, what, timeoutMs);
    return watched;
  }

  /** Waits for a single leader of `group` that its peers follow, and returns it. */
  async waitForLeader(
    group = this.groups[0] as string,
    timeoutMs?: number,
  ): Promise<RaftNode<string>> {
    await this.runUntil(
      () => this.stableLeader(group) !== undefined,
      `a leader of ${group}`,
      timeoutMs,
    );
    return this.stableLeader(group) as RaftNode<string>;
  }

  /** A leader whose own entry of its term has committed, so that it can serve. */
  stableLeader(group = this.groups[0] as string): RaftNode<string> | undefined {
    const l = this.leader(group);
    if (!l) return undefined;
    // Its first entry of the term is committed: in the log, or already inside a snapshot
    // (a leader whose whole log was compacted, seed 10499).
    const log = nodeInternals(l).log;
    if (log.termAt(log.snapshotLastIndex) === l.term) return l;
    const start = log.firstIndexOfTerm(l.term);
    return start !== undefined && start <= log.lastIndex && l.commitIndex >= start ? l : undefined;
  }

  /**
   * Proposes `payload` to the current leader of `group` and runs the simulation until the
   * proposal settles. Returns the result, or the RaftError it failed with.
   */
  async propose(
    payload: string,
    group = this.groups[0] as string,
    timeoutMs?: number,
  ): Promise<ApplyResult<string>> {
    const leader = this.leader(group);
    if (!leader) throw new Error(`no leader of ${group} to propose to`);
    let outcome:
      | { ok: true; value: ApplyResult<string> }
      | { ok: false; error: unknown }
      | undefined;
    leader.apply(encoder.encode(payload)).then(
      (value) => {
        outcome = { ok: true, value };
      },
      (error: unknown) => {
        outcome = { ok: false, error };
      },
    );
    await this.runUntil(() => outcome !== undefined, `proposal ${payload} to settle`, timeoutMs);
    const o = outcome as { ok: true; value: ApplyResult<string> } | { ok: false; error: unknown };
    if (!o.ok) throw o.error;
    return o.value;
  }

  /** Every payload applied by the running member `id` of `group`, in order. */
  appliedKeys(id: string, group = this.groups[0] as string): string[] {
    return this.stateMachine(id, group)?.keys() ?? [];
  }

  /** A one-screen picture of the cluster for failure messages. */
  describe(): string {
    const lines: string[] = [`t=${this.time.now.toFixed(1)}ms steps=${this.stepCount}`];
    for (const g of this.groups) {
      for (const id of this.peers) {
        const n = this.node(id, g);
        if (!n) {
          lines.push(`  ${g}/${id}: down`);
          continue;
        }
        const s = n.status();
        lines.push(
          `  ${g}/${id}: ${s.role} term=${s.term} leader=${s.leaderId ?? '-'} commit=${s.commitIndex} applied=${s.appliedIndex} log=${s.firstLogIndex}..${s.lastLogIndex}@${s.lastLogTerm} durable=${s.durableIndex} snapshot=${s.snapshotIndex}`,
        );
        for (const p of s.peers) {
          lines.push(
            `      -> ${p.peerId}: ${p.state} next=${p.nextIndex} match=${p.matchIndex} inflight=${p.inflightRpcs} ack=${p.lastAckAt?.toFixed(1) ?? '-'}`,
          );
        }
      }
    }
    return lines.join('\n');
  }

  /** The last lines of the trace. */
  recentTrace(): string[] {
    return [...this.trace];
  }

  /** Appends a line to the trace kept for failure reports. */
  record(line: string): void {
    this.trace.push(`[${this.time.now.toFixed(2)}] ${line}`);
    if (this.trace.length > this.traceSize)
      this.trace.splice(0, this.trace.length - this.traceSize);
  }

  /** A logger whose lines (info and above) go into the trace. */
  private traceLogger(component: string): Logger {
    const line = (level: string) => (message: string, fields?: Record<string, unknown>) =>
      this.record(
        `${component} ${level}${message}${fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : ''}`,
      );
    return {
      debug: this.options.traceNodeLogs === 'debug' ? line('debug ') : () => {},
      info: line(''),
      warn: line('WARN '),
      error: line('ERROR '),
      child: (c) => this.traceLogger(`${component} ${c}`),
    };
  }

  /** Shuts every running node down cleanly. */
  async stop(): Promise<void> {
    let pending = 0;
    for (const s of this.states.values()) {
      const inc = s.incarnation;
      if (!inc) continue;
      for (const m of inc.members.values()) {
        pending++;
        void m.node.shutdown().finally(() => {
          pending--;
        });
      }
    }
    // Shutdown waits for queued disk writes, which need virtual time to pass.
    for (let i = 0; i < 1_000_000 && pending > 0; i++) {
      await drain();
      if (pending > 0 && this.time.step() === undefined) break;
    }
    for (const s of this.states.values()) {
      if (s.incarnation) void s.incarnation.transport.close();
      s.incarnation = undefined;
    }
  }

  private state(id: string): PeerState {
    const s = this.states.get(id);
    if (!s) throw new Error(`no peer ${id}`);
    return s;
  }

  /** Invariant violations raised inside callbacks are kept and thrown by the next step. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      if (!this.failure) this.failure = error;
    }
  }

  private fail(error: unknown): SimulationFailure {
    if (error instanceof SimulationFailure) return error;
    this.failure = error;
    return new SimulationFailure(this.options.seed, this.stepCount, error, [
      ...this.trace,
      this.describe(),
    ]);
  }
}
