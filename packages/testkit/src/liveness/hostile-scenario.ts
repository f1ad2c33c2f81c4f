import {
  type CommittedEntry,
  type Logger,
  type NodeOptions,
  RaftNode,
  type SnapshotReader,
  type SnapshotWriter,
  type StateMachine,
} from '@kontiki/core';
import {
  MemoryLogStorage,
  MemoryMetaStorage,
  MemorySnapshotStorage,
} from '@kontiki/storage-memory';
import { MemoryNetwork } from '@kontiki/transport-memory';
import {
  applyHostileNetwork,
  type HostileNetworkProfile,
  ISSUE_9_NETWORK,
} from '../sim/hostile-network.js';
import { Rng } from '../sim/rng.js';

export interface HostileScenarioOptions {
  /** Seeds the network's and the chaos' choices (real timers make runs differ anyway). */
  seed: number;
  /** Nodes (default 5). */
  nodes?: number;
  /** Election timeout T in ms (default 300). */
  electionTimeoutMs?: number;
  /** Default 100. */
  heartbeatIntervalMs?: number;
  /** Default: issue 9's network. */
  network?: HostileNetworkProfile;
  /** How long nodes are disconnected, reconnected and crashed before the measure (default 15 s). */
  chaosMs?: number;
  /** Give up on the command after this many ms (default 10 s). */
  capMs?: number;
  /** Snapshots every second with a short log margin, so that lagging followers need InstallSnapshot. */
  snapshots?: boolean;
  /** Extra node options, for experiments. */
  nodeOptions?: Partial<
    Omit<
      NodeOptions<string>,
      'groupId' | 'peerId' | 'transport' | 'logStorage' | 'metaStorage' | 'stateMachine'
    >
  >;
}

export interface HostileScenarioResult {
  readonly seed: number;
  readonly nodes: number;
  readonly snapshots: boolean;
  /** From reconnection to the command's commit (seen applied anywhere); null past the cap. */
  readonly commitMs: number | null;
  /** Proposals made for the command (one per leader tried). */
  readonly attempts: number;
  /** Whether a leader was there the moment everything was reconnected. */
  readonly leaderAtReconnect: boolean;
  /** Leaders elected (new terms led) between reconnection and the end of the measure. */
  readonly leadersAfterReconnect: number;
  /** Step-downs during the whole run, by reason. */
  readonly stepDowns: Record<string, number>;
  readonly termAtReconnect: number;
  readonly termAtEnd: number;
  readonly faults: Record<string, number>;
}

interface Member {
  readonly id: string;
  readonly log: MemoryLogStorage;
  readonly meta: MemoryMetaStorage;
  readonly snapshots: MemorySnapshotStorage;
  readonly sm: CountingStateMachine;
  node: RaftNode<string> | undefined;
  /** Set while the node is being stopped or started. */
  busy: Promise<void> | undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Remembers the payloads it applied (only the measured ones are kept). */
class CountingStateMachine implements StateMachine<string> {
  applied = 0;
  readonly marks = new Set<string>();
  constructor(private readonly onMark: (key: string) => void) {}

  onApply(entries: readonly CommittedEntry[]): readonly string[] {
    const out: string[] = [];
    for (const e of entries) {
      this.applied++;
      const key = decoder.decode(e.data);
      if (key.startsWith('measure.')) {
        this.marks.add(key);
        this.onMark(key);
      }
      out.push(key);
    }
    return out;
  }

  async onSnapshotSave(writer: SnapshotWriter): Promise<void> {
    await writer.write(
      encoder.encode(JSON.stringify({ applied: this.applied, marks: [...this.marks] })),
    );
  }

  async onSnapshotLoad(reader: SnapshotReader): Promise<void> {
    const bytes = await reader.read(0, reader.size);
    const state = JSON.parse(decoder.decode(bytes)) as { applied: number; marks: string[] };
    this.applied = state.applied;
    for (const m of state.marks) {
      this.marks.add(m);
      this.onMark(m);
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Issue 9's scenario on real timers and the memory transport: N nodes on a hostile network
 * (by default 10% silent loss each way, 0-27 ms of delay, two thirds of replies 200-2200 ms
 * late), a chaos phase in which nodes are disconnected and reconnected and leaders (and
 * others) crash and restart while clients write; then every node is reconnected and up, the
 * network stays as bad, and one new command is proposed (to whichever node leads, again
 * after every failure) until it commits. Measures the time from reconnection to its commit.
 */
export async function runHostileScenario(
  options: HostileScenarioOptions,
): Promise<HostileScenarioResult> {
  const n = options.nodes ?? 5;
  const t = options.electionTimeoutMs ?? 300;
  const heartbeat = options.heartbeatIntervalMs ?? 100;
  const capMs = options.capMs ?? 10_000;
  const chaosMs = options.chaosMs ?? 15_000;
  const snapshots = options.snapshots === true;
  const rng = new Rng(options.seed);
  const network = new MemoryNetwork({ random: rng.fork('net-random').asSource() });
  applyHostileNetwork(network, options.network ?? ISSUE_9_NETWORK, rng.fork('net').asSource());
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const stepDowns: Record<string, number> = {};
  const faults: Record<string, number> = {};
  const count = (what: string) => {
    faults[what] = (faults[what] ?? 0) + 1;
  };
  const leaderTerms: number[] = [];
  let firstMarkAt: number | undefined;
  const onMark = () => {
    firstMarkAt ??= performance.now();
  };
  const logger = (): Logger => {
    const l: Logger = {
      debug: () => {},
      info: (message, fields) => {
        if (message === 'stepping down') {
          const reason = String(fields?.reason ?? '?').replace(/^n\d+ is/, 'a peer is');
          stepDowns[reason] = (stepDowns[reason] ?? 0) + 1;
        }
        if (message === 'became leader') leaderTerms.push(Number(fields?.term ?? 0));
      },
      warn: () => {},
      error: () => {},
      child: () => l,
    };
    return l;
  };
  const members = new Map<string, Member>(
    ids.map((id) => [
      id,
      {
        id,
        log: new MemoryLogStorage(),
        meta: new MemoryMetaStorage(),
        snapshots: new MemorySnapshotStorage(),
        sm: new CountingStateMachine(onMark),
        node: undefined,
        busy: undefined,
      },
    ]),
  );
  const startMember = async (m: Member) => {
    const node = new RaftNode<string>({
      groupId: 'g',
      peerId: m.id,
      initialConfiguration: { voters: ids },
      electionTimeoutMs: t,
      heartbeatIntervalMs: heartbeat,
      transport: network.endpoint(m.id),
      logStorage: m.log,
      metaStorage: m.meta,
      stateMachine: m.sm,
      random: rng.fork(`node:${m.id}:${performance.now()}`).asSource(),
      logger: logger(),
      ...(snapshots
        ? { snapshotStorage: m.snapshots, snapshotIntervalS: 1, snapshotLogMargin: 10 }
        : { snapshotIntervalS: 0 }),
      ...options.nodeOptions,
    });
    m.node = node;
    await node.start();
  };
  const stopMember = async (m: Member) => {
    const node = m.node;
    if (!node) return;
    m.node = undefined;
    await node.shutdown();
    await network.endpoint(m.id).close();
  };
  /** Stops or starts a member unless it is already being stopped or started. */
  const change = (m: Member, fn: (m: Member) => Promise<void>) => {
    if (m.busy) return;
    const p = fn(m).finally(() => {
      m.busy = undefined;
    });
    m.busy = p;
  };
  const leader = (): RaftNode<string> | undefined => {
    let best: RaftNode<string> | undefined;
    for (const m of members.values()) {
      const node = m.node;
      if (node?.role === 'leader' && (!best || node.term > best.term)) best = node;
    }
    return best;
  };
  const isolated = new Set<string>();
  const isolate = (id: string) => {
    isolated.add(id);
    network.isolate(id, ids);
  };
  const reconnect = (id: string) => {
    isolated.delete(id);
    for (const o of ids) {
      if (o === id || isolated.has(o)) continue;
      network.restore(id, o);
      network.restore(o, id);
    }
  };

  for (const m of members.values()) await startMember(m);

  // Chaos: faults at random moments, each undone after a while; clients write meanwhile.
  const chaos = rng.fork('chaos');
  const uniform = (a: number, b: number) => a + chaos.next() * (b - a);
  let chaosOn = true;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const h = setTimeout(() => {
      timers.delete(h);
      if (chaosOn) fn();
    }, ms);
    timers.add(h);
  };
  const inject = () => {
    const x = chaos.next();
    const l = leader();
    if (x < 0.3) {
      const id = chaos.pick(ids);
      count('disconnect');
      isolate(id);
      later(uniform(1000, 4000), () => reconnect(id));
    } else if (x < 0.5 && l) {
      count('disconnect-leader');
      isolate(l.id);
      later(uniform(1000, 4000), () => reconnect(l.id));
    } else if (x < 0.8 && l) {
      const m = members.get(l.id) as Member;
      count('crash-leader');
      change(m, stopMember);
      later(uniform(500, 3000), () => change(m, startMember));
    } else {
      const m = members.get(chaos.pick(ids)) as Member;
      if (!m.node) return;
      count('crash');
      change(m, stopMember);
      later(uniform(500, 3000), () => change(m, startMember));
    }
  };
  const chaosLoop = () =>
    later(uniform(300, 1500), () => {
      inject();
      chaosLoop();
    });
  chaosLoop();
  let writes = 0;
  const writer = async () => {
    while (chaosOn) {
      leader()
        ?.apply(encoder.encode(`w${writes++}`))
        .catch(() => {});
      await sleep(50);
    }
  };
  const writing = writer();
  await sleep(chaosMs);
  chaosOn = false;
  for (const h of timers) clearTimeout(h);
  timers.clear();
  await writing;

  // Everything reconnected and up; the network stays bad.
  for (const m of members.values()) if (m.busy) await m.busy;
  for (const id of [...isolated]) reconnect(id);
  for (const m of members.values()) if (!m.node) await startMember(m);
  const t0 = performance.now();
  const termAtReconnect = Math.max(...[...members.values()].map((m) => m.node?.term ?? 0));
  const leaderAtReconnect = leader() !== undefined;
  const leadersBefore = leaderTerms.length;
  let attempts = 0;
  // One proposal per leader and term; a new one when that leader fails it or is replaced.
  let pending: { node: RaftNode<string>; term: number } | undefined;
  while (firstMarkAt === undefined && performance.now() - t0 < capMs) {
    const l = leader();
    if (l && (l !== pending?.node || l.term !== pending.term)) {
      const p = { node: l, term: l.term };
      pending = p;
      attempts++;
      l.apply(encoder.encode(`measure.${attempts}`)).catch(() => {
        if (pending === p) pending = undefined;
      });
    }
    await sleep(10);
  }
  const commitMs =
    firstMarkAt !== undefined && firstMarkAt - t0 <= capMs
      ? Number((firstMarkAt - t0).toFixed(1))
      : null;
  const termAtEnd = Math.max(...[...members.values()].map((m) => m.node?.term ?? 0));
  const leadersAfterReconnect = leaderTerms.length - leadersBefore;
  for (const m of members.values()) await stopMember(m);
  return {
    seed: options.seed,
    nodes: n,
    snapshots,
    commitMs,
    attempts,
    leaderAtReconnect,
    leadersAfterReconnect,
    stepDowns,
    termAtReconnect,
    termAtEnd,
    faults,
  };
}
