import {
  allPeers,
  type ConfigurationManager,
  isJoint,
  isVoter,
  sameConfiguration,
  validateConfiguration,
} from './configuration.js';
import {
  BadRequestError,
  BusyError,
  NotLeaderError,
  type RaftError,
  TimeoutError,
  TransferInProgressError,
} from './errors.js';
import type { Logger } from './logger.js';
import type { ResolvedOptions } from './options.js';
import type { ReplicatorGroup } from './replicator-group.js';
import { RaftTimer } from './timer.js';
import type { Configuration, PeerId, Role } from './types.js';

/**
 * Where a membership change stands:
 * - `catching-up`: new voters receive the log as learners until they are nearly current, so
 *   that adding them does not stall commits;
 * - `joint`: C(old,new) is in the log; decisions need a majority of both (Raft paper 6);
 * - `stable`: C(new) is in the log; the change is done once it commits.
 */
export type ChangeStage = 'catching-up' | 'joint' | 'stable';

interface Change {
  readonly from: Configuration;
  readonly target: Configuration;
  /** Peers that are not voters of `from` and must catch up first. */
  readonly newPeers: readonly PeerId[];
  stage: ChangeStage;
  /** Index of the configuration entry this stage waits for. */
  waitIndex: number;
  readonly timer: RaftTimer;
  resolve(): void;
  reject(error: RaftError): void;
}

/** What a configuration change needs from its (leader) node. */
export interface ConfigurationChangeHost {
  readonly options: ResolvedOptions<unknown>;
  readonly logger: Logger;
  readonly replicators: ReplicatorGroup;
  readonly configurations: ConfigurationManager;
  role(): Role;
  leaderId(): PeerId | undefined;
  commitIndex(): number;
  lastLogIndex(): number;
  /** Appends a configuration entry of the current term and replicates it; returns its index. */
  appendConfiguration(conf: Configuration): number;
  /** Re-creates the replicators for the latest configuration and {@link ConfigurationChangeCtx.extraPeers}. */
  syncReplicators(): void;
  /** The leader was removed by a committed configuration: it steps down. */
  stepDownRemoved(): void;
}

/** The peers whose votes change between two configurations. */
export function votersChanged(a: Configuration, b: Configuration): boolean {
  const x = new Set(a.voters);
  return a.voters.length !== b.voters.length || b.voters.some((p) => !x.has(p));
}

/**
 * Membership changes by joint consensus (braft's ConfigurationCtx; Raft paper section 6):
 * catching-up, then C(old,new), then C(new). One change at a time. A new leader that finds
 * a joint configuration in its log completes it.
 */
export class ConfigurationChangeCtx {
  private change: Change | undefined;
  /** The joint configuration entry for which this leader already appended C(new). */
  private stableAppendedFor = -1;

  constructor(private readonly host: ConfigurationChangeHost) {}

  /** Whether a change is under way. */
  get busy(): boolean {
    return this.change !== undefined;
  }

  /** Peers that need a replicator although they are not in the latest configuration yet. */
  extraPeers(): readonly PeerId[] {
    return this.change?.newPeers ?? [];
  }

  /** A new leader: it has appended C(new) for no joint configuration yet. */
  onBecomeLeader(): void {
    this.stableAppendedFor = -1;
  }

  /** Starts a change to `target` (leader only). Resolves once C(new) is committed. */
  start(target: Configuration, options: { timeoutMs?: number }): Promise<void> {
    const h = this.host;
    if (h.role() === 'transferring') return Promise.reject(new TransferInProgressError());
    if (h.role() !== 'leader') return Promise.reject(new NotLeaderError(h.leaderId()));
    try {
      validateConfiguration(target, 'target configuration');
    } catch (error) {
      return Promise.reject(error);
    }
    if (isJoint(target)) {
      return Promise.reject(
        new BadRequestError('give the configuration to reach, not a joint one'),
      );
    }
    const latest = h.configurations.latest();
    if (this.change || isJoint(latest.configuration) || latest.index > h.commitIndex()) {
      return Promise.reject(
        new BusyError('a configuration change is in progress; retry once it is done'),
      );
    }
    const from = latest.configuration;
    const to: Configuration = {
      voters: [...target.voters],
      ...(target.learners && target.learners.length > 0 ? { learners: [...target.learners] } : {}),
    };
    if (sameConfiguration(from, to)) return Promise.resolve();
    // Every peer that becomes a voter catches up first: a brand-new one, and a learner being
    // promoted (it may be far behind, or down: the joint configuration would then stall).
    const voting = new Set(from.voters);
    const self = h.options.peerId;
    const newPeers = allPeers(to).filter((p) => !voting.has(p) && p !== self);
    const timeoutMs = options.timeoutMs ?? 20 * h.options.electionTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const timer = new RaftTimer(h.options.clock, () => {
        const c = this.change;
        if (!c || c.timer !== timer) return;
        if (c.stage !== 'catching-up') return; // past the point of no return: let it finish
        this.change = undefined;
        h.syncReplicators();
        reject(new TimeoutError('new peers did not catch up in time; membership unchanged'));
      });
      this.change = {
        from,
        target: to,
        newPeers,
        stage: 'catching-up',
        waitIndex: 0,
        timer,
        resolve,
        reject,
      };
      timer.start(timeoutMs);
      h.logger.info('membership change', { from, target: to });
      h.syncReplicators();
      this.advance();
    });
  }

  /** A follower's replica moved. */
  onMatch(peer: PeerId): void {
    if (this.change?.stage === 'catching-up' && this.change.newPeers.includes(peer)) this.advance();
  }

  /** A follower acknowledged an RPC (a learner catching up may now count as alive). */
  onAck(): void {
    if (this.change?.stage === 'catching-up') this.advance();
  }

  /** The leader's commit index moved: finish joint configurations and changes. */
  onCommit(): void {
    const h = this.host;
    const latest = h.configurations.latest();
    const commit = h.commitIndex();
    const leading = h.role() === 'leader' || h.role() === 'transferring';
    if (
      isJoint(latest.configuration) &&
      latest.index <= commit &&
      this.stableAppendedFor !== latest.index &&
      leading
    ) {
      // C(old,new) is committed: now C(new). A new leader that inherited a joint
      // configuration completes it the same way.
      this.stableAppendedFor = latest.index;
      const { oldVoters: _old, ...stable } = latest.configuration;
      const index = h.appendConfiguration(stable);
      if (this.change?.stage === 'joint') {
        this.change.stage = 'stable';
        this.change.waitIndex = index;
      }
      return;
    }
    const c = this.change;
    if (c?.stage === 'stable' && c.waitIndex <= commit) {
      this.change = undefined;
      c.timer.stop();
      h.syncReplicators();
      c.resolve();
    }
    if (
      !isJoint(latest.configuration) &&
      latest.index <= commit &&
      !isVoter(latest.configuration, h.options.peerId)
    ) {
      // Removed from the group: leading it any longer would only disrupt it.
      h.stepDownRemoved();
    }
  }

  /** The node stopped leading: a change in progress fails with `error`. */
  abort(error: RaftError): void {
    const c = this.change;
    if (!c) return;
    this.change = undefined;
    c.timer.stop();
    c.reject(error);
  }

  /** Moves a change on from catching-up once every new voter is nearly current. */
  private advance(): void {
    const h = this.host;
    const c = this.change;
    const leading = h.role() === 'leader' || h.role() === 'transferring';
    if (c?.stage !== 'catching-up' || !leading) return;
    const near = Math.max(
      h.lastLogIndex() - h.options.maxEntriesPerRpc,
      h.commitIndex() > 0 ? 1 : 0,
    );
    // Alive too: a learner that went down keeps the matchIndex it had, which says nothing
    // about whether it could vote now.
    const recent = h.options.clock.now() - h.options.electionTimeoutMs;
    for (const p of c.newPeers) {
      if (!c.target.voters.includes(p)) continue; // learners need not catch up first
      const r = h.replicators.get(p);
      if (!r || r.matchIndex < near || r.lastAckSentTime < recent) return;
    }
    if (votersChanged(c.from, c.target)) {
      c.stage = 'joint';
      c.waitIndex = h.appendConfiguration({ ...c.target, oldVoters: c.from.voters });
    } else {
      c.stage = 'stable';
      c.waitIndex = h.appendConfiguration(c.target);
    }
  }
}
