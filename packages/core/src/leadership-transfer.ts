import { allPeers, isVoter } from './configuration.js';
import {
  BadRequestError,
  NotLeaderError,
  type RaftError,
  TimeoutError,
  TransferInProgressError,
} from './errors.js';
import type { Logger } from './logger.js';
import type { TimeoutNowRequest } from './messages.js';
import type { ResolvedOptions } from './options.js';
import type { ReplicatorGroup } from './replicator-group.js';
import { RaftTimer } from './timer.js';
import type { Configuration, PeerId, Role } from './types.js';

/** What a leadership transfer needs from its node. */
export interface TransferHost {
  readonly options: ResolvedOptions<unknown>;
  readonly logger: Logger;
  readonly replicators: ReplicatorGroup;
  role(): Role;
  term(): number;
  leaderId(): PeerId | undefined;
  lastLogIndex(): number;
  latestConfiguration(): Configuration;
  /** Enters (`true`) or leaves (`false`) the `transferring` role. */
  setTransferring(on: boolean): void;
  /** A peer answered with a later term, or accepted the TimeoutNow: step down. */
  onHigherTerm(term: number, from: PeerId): void;
}

interface Transfer {
  readonly target: PeerId;
  readonly timer: RaftTimer;
  retry?: RaftTimer;
  sent: boolean;
  resolve(): void;
  reject(error: RaftError): void;
}

/**
 * Leadership transfer (Raft thesis 3.10; braft's transfer_leadership_to): the leader stops
 * taking proposals, waits until the target holds its whole log, then sends it TimeoutNow so
 * that it elects itself at once. Done when somebody else leads; abandoned after an election
 * timeout, when the old leader takes proposals again.
 */
export class LeadershipTransfer {
  private transfer: Transfer | undefined;

  constructor(private readonly host: TransferHost) {}

  get inProgress(): boolean {
    return this.transfer !== undefined;
  }

  /** Starts a transfer to `target`, or to the most up-to-date voter. */
  start(target?: PeerId): Promise<void> {
    const h = this.host;
    if (h.role() === 'transferring') return Promise.reject(new TransferInProgressError());
    if (h.role() !== 'leader') return Promise.reject(new NotLeaderError(h.leaderId()));
    const self = h.options.peerId;
    const conf = h.latestConfiguration();
    const voters = allPeers(conf).filter((p) => p !== self && isVoter(conf, p));
    if (target !== undefined && !voters.includes(target)) {
      return Promise.reject(new BadRequestError(`${target} is not a voting peer of this group`));
    }
    const chosen =
      target ??
      voters.reduce<PeerId | undefined>(
        (best, p) =>
          best === undefined || h.replicators.matchIndex(p) > h.replicators.matchIndex(best)
            ? p
            : best,
        undefined,
      );
    if (chosen === undefined)
      return Promise.reject(new BadRequestError('no other voter to transfer to'));
    return new Promise<void>((resolve, reject) => {
      const timer = new RaftTimer(h.options.clock, () => {
        const t = this.transfer;
        if (t?.timer !== timer) return;
        this.transfer = undefined;
        t.retry?.stop();
        h.setTransferring(false);
        reject(new TimeoutError(`leadership transfer to ${chosen} did not complete in time`));
      });
      this.transfer = { target: chosen, timer, sent: false, resolve, reject };
      timer.start(h.options.electionTimeoutMs);
      h.setTransferring(true);
      h.logger.info('transferring leadership', { target: chosen });
      this.maybeSendTimeoutNow();
    });
  }

  /** The target's replica moved: it may now be current enough for TimeoutNow. */
  onMatch(peer: PeerId): void {
    const t = this.transfer;
    if (t && !t.sent && t.target === peer) this.maybeSendTimeoutNow();
  }

  /**
   * Somebody else leads now: the transfer is done. Returns the settlement to run once the
   * node's transition is complete.
   */
  complete(): (() => void) | undefined {
    const t = this.transfer;
    if (!t) return undefined;
    this.transfer = undefined;
    t.timer.stop();
    t.retry?.stop();
    return () => t.resolve();
  }

  /** The node stops: a transfer in progress fails with `error`. */
  cancel(error: RaftError): void {
    const t = this.transfer;
    if (!t) return;
    this.transfer = undefined;
    t.timer.stop();
    t.retry?.stop();
    t.reject(error);
  }

  private maybeSendTimeoutNow(): void {
    const h = this.host;
    const t = this.transfer;
    if (!t || t.sent || h.role() !== 'transferring') return;
    const r = h.replicators.get(t.target);
    if (!r) return;
    if (r.matchIndex < h.lastLogIndex()) {
      r.kick();
      return;
    }
    t.sent = true;
    const request: TimeoutNowRequest = {
      groupId: h.options.groupId,
      from: h.options.peerId,
      to: t.target,
      term: h.term(),
    };
    h.options.transport.call('timeoutNow', request, { timeoutMs: h.options.rpcTimeoutMs }).then(
      (response) => {
        if (response.success || response.term > h.term()) {
          h.onHigherTerm(response.term, t.target);
          return;
        }
        this.retry(t);
      },
      () => this.retry(t),
    );
  }

  /** A lost or refused TimeoutNow is sent again after a heartbeat interval. */
  private retry(t: Transfer): void {
    if (this.transfer !== t || this.host.role() !== 'transferring') return;
    const retry = new RaftTimer(this.host.options.clock, () => {
      if (this.transfer !== t) return;
      t.sent = false;
      this.maybeSendTimeoutNow();
    });
    t.retry = retry;
    retry.start(this.host.options.heartbeatIntervalMs);
  }
}
