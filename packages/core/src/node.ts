import type { NodeEvents } from './events.js';
import type { WaitOptions } from './leader-waiters.js';
import type { NodeOptions } from './options.js';
import type { ApplyOptions, ApplyResult } from './proposals.js';
import { NodeImpl } from './raft-node.js';
import type { ReadOptions } from './read-only-service.js';
import type { Configuration, NodeStatus, PeerId, Role, SnapshotMeta } from './types.js';

const impls = new WeakMap<object, NodeImpl<unknown>>();

/**
 * A Raft node: one member of one Raft group, composed of the plugins in its options
 * (braft's Node; the work is done by an internal NodeImpl, as in braft).
 *
 * A started node serves its group on the transport, takes part in elections and, as leader,
 * replicates proposals. It keeps the process alive until {@link RaftNode.shutdown} (see the
 * `keepAlive` option).
 *
 * @example
 * ```ts
 * const node = new RaftNode({ groupId, peerId, transport, logStorage, metaStorage, stateMachine,
 *   initialConfiguration: { voters: ['n1', 'n2', 'n3'] } });
 * await node.start();
 * const leader = await node.waitForLeader({ timeoutMs: 10_000 });
 * if (leader === node.id) await node.apply(new TextEncoder().encode('hello'));
 * ```
 */
export class RaftNode<R = unknown> {
  readonly #impl: NodeImpl<R>;

  /** Checks the options (InvalidOptionError) and creates a stopped node. */
  constructor(options: NodeOptions<R>) {
    this.#impl = new NodeImpl<R>(options);
    impls.set(this, this.#impl as NodeImpl<unknown>);
  }

  /**
   * Loads term, vote, snapshot and log from storage, starts serving the group on the
   * transport and arms the election timer. Rejects if called twice.
   */
  start(): Promise<void> {
    return this.#impl.start();
  }

  /** This node's id in the group (its address on the transport). */
  get id(): PeerId {
    return this.#impl.id;
  }
  /** follower, candidate, leader, transferring (leader handing over), error or shutdown. */
  get role(): Role {
    return this.#impl.role;
  }
  get term(): number {
    return this.#impl.term;
  }
  /** The leader this node knows of in its term, if any (itself when leading). */
  get leader(): PeerId | undefined {
    return this.#impl.leader;
  }
  get isLeader(): boolean {
    return this.#impl.role === 'leader';
  }
  /** The highest index known to be committed. */
  get commitIndex(): number {
    return this.#impl.commitIndex;
  }
  /** The highest index applied to the state machine here. */
  get appliedIndex(): number {
    return this.#impl.appliedIndex;
  }

  /**
   * Resolves with the leader's id once this node knows a leader of its term: another node,
   * or itself once it can serve reads and writes (its first entry of the term is applied).
   * Rejects with TIMEOUT after `timeoutMs`, ABORTED on `signal`, SHUTDOWN if the node stops.
   */
  waitForLeader(options?: WaitOptions): Promise<PeerId> {
    return this.#impl.waitForLeader(options);
  }

  /**
   * Proposes `data` (leader only). Resolves once the entry is committed and applied here,
   * with its index, term and the state machine's result. Rejects with NOT_LEADER (with the
   * leader's id when known), BUSY, TERM_MISMATCH, SHUTDOWN, ABORTED, TRANSFER_IN_PROGRESS or
   * LEADER_STEPPED_DOWN (the entry may or may not be committed later: a client that must
   * know reads it back).
   *
   * The node takes ownership of `data`: it goes into the log as it is, without a copy (a copy
   * per proposal halved throughput in `pnpm bench`). Do not modify the buffer afterwards.
   */
  apply(data: Uint8Array, options?: ApplyOptions): Promise<ApplyResult<R>> {
    return this.#impl.apply(data, options);
  }

  /**
   * A linearizable read barrier (ReadIndex, Raft thesis 6.4): resolves with an index once
   * this node has applied at least every entry committed before the call, confirmed by a
   * round of heartbeats on the leader (or its lease, with `mode: 'lease'`). Works on
   * followers by asking the leader. Read your state machine after it resolves.
   */
  readIndex(options?: ReadOptions): Promise<number> {
    return this.#impl.readIndex(options);
  }

  /**
   * Hands leadership to `target` (or the most up-to-date voter): stops taking proposals,
   * waits for the target to catch up, then sends it TimeoutNow. Resolves once another node
   * leads; rejects with TIMEOUT (and leads again) if that takes an election timeout.
   */
  transferLeadership(target?: PeerId): Promise<void> {
    return this.#impl.transferLeadership(target);
  }

  /**
   * Changes the group's membership to `target` (leader only) by joint consensus: new voters
   * first catch up as learners, then C(old,new) is committed, then C(new). Resolves once
   * C(new) is committed. One change at a time (BUSY otherwise). A leader that is not in
   * `target` leads until C(new) commits, then steps down. If leadership is lost meanwhile the
   * promise fails with LEADER_STEPPED_DOWN and the next leader completes a joint
   * configuration it finds in its log. Catching up times out after `timeoutMs`
   * (default 20 election timeouts), leaving the membership unchanged.
   */
  changeConfiguration(target: Configuration, options?: { timeoutMs?: number }): Promise<void> {
    return this.#impl.changeConfiguration(target, options);
  }

  /**
   * Saves a snapshot of the state machine now and compacts the log behind it. Resolves with
   * the snapshot's meta, or undefined when nothing was applied since the last snapshot.
   * Needs `snapshotStorage` and a state machine with onSnapshotSave and onSnapshotLoad.
   */
  snapshot(): Promise<SnapshotMeta | undefined> {
    return this.#impl.snapshot();
  }

  /** A consistent view of the node's state, for status pages, metrics and tests. */
  status(): NodeStatus {
    return this.#impl.status();
  }

  /** Listens to an event; returns a function that removes the listener. */
  on<K extends keyof NodeEvents>(name: K, listener: (event: NodeEvents[K]) => void): () => void {
    return this.#impl.on(name, listener);
  }

  off<K extends keyof NodeEvents>(name: K, listener: (event: NodeEvents[K]) => void): void {
    this.#impl.off(name, listener);
  }

  /**
   * Stops the node: timers, replicators and serving end, pending proposals and reads fail
   * with SHUTDOWN, queued writes finish, and the process is no longer kept alive.
   * Idempotent. The storages and the transport stay open (they are the caller's to close).
   */
  shutdown(): Promise<void> {
    return this.#impl.shutdown();
  }
}

/** Creates a node and starts it. */
export async function startNode<R>(options: NodeOptions<R>): Promise<RaftNode<R>> {
  const node = new RaftNode<R>(options);
  await node.start();
  return node;
}

/**
 * The node behind a RaftNode, for the testkit and for tools built with this version of core
 * only (exported from `@kontiki/core/internal`; not covered by semver).
 */
export function nodeInternals<R>(node: RaftNode<R>): NodeImpl<R> {
  const impl = impls.get(node);
  if (impl === undefined) throw new TypeError('not a RaftNode of this copy of @kontiki/core');
  return impl as NodeImpl<R>;
}
