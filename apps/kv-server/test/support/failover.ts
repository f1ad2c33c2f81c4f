import { performance } from 'node:perf_hooks';
import type { LeaderInfo } from '../../src/cluster-observer.js';
import type { ServerEvent } from '../../src/kv-server.js';
import type { LocalCluster } from '../../src/local-cluster.js';
import { waitUntil } from './wait-until.js';
import type { WriteLoad } from './write-load.js';

/**
 * When each node announced a role (its `role` event lines, timed as the launcher reads
 * them): give `record` to LocalCluster's `onEvent`.
 */
export class RoleLog {
  readonly entries: Array<{ at: number; id: string; role: string; term: number }> = [];

  readonly record = (e: ServerEvent): void => {
    if (e.event === 'role') {
      this.entries.push({ at: performance.now(), id: e.id, role: e.role, term: e.term });
    }
  };

  /** How many times a node announced itself `role` in a term above `term`, up to `until`. */
  countAbove(role: string, term: number, until: number): number {
    return this.entries.filter((e) => e.role === role && e.term > term && e.at <= until).length;
  }

  /** The first node to announce itself `role` in a term above `term`, if any yet. */
  firstAbove(role: string, term: number): { at: number; id: string; term: number } | undefined {
    return this.entries.find((e) => e.role === role && e.term > term);
  }
}

export interface FailoverTrial {
  readonly killed: string;
  readonly killedTerm: number;
  readonly newLeader: string;
  readonly newTerm: number;
  /**
   * From the SIGKILL to the first candidate of a later term (a follower's election timer
   * fired and its pre-vote won: the detection, plus one round trip).
   */
  readonly candidateMs: number;
  /** From the SIGKILL to the new leader's own announcement (its event line, as read). */
  readonly electedMs: number;
  /** From the SIGKILL to the first write acknowledged by a leader of a later term. */
  readonly firstWriteMs: number;
  /**
   * Candidacies announced from the SIGKILL to the new leader's announcement: 1 when the first
   * candidate won, more after a split vote (or a lost round).
   */
  readonly candidacies: number;
}

/**
 * SIGKILLs `leader` while `load` writes, and times what a client sees: the new leader's
 * election, then the first write it acknowledges (a write of a later term, so never an
 * answer the old leader sent before it died).
 */
export async function killLeaderUnderLoad(
  cluster: LocalCluster,
  leader: LeaderInfo,
  load: WriteLoad,
  roles: RoleLog,
  timeoutMs: number,
): Promise<FailoverTrial> {
  const killedAt = performance.now();
  await cluster.kill(leader.id, 'SIGKILL');
  await waitUntil(
    'a write acknowledged by a new leader',
    () => load.firstOfTermAbove(leader.term) !== undefined,
    timeoutMs,
  );
  const write = load.firstOfTermAbove(leader.term);
  // The leader announces itself before it can acknowledge anything.
  const elected = roles.firstAbove('leader', leader.term);
  const candidate = roles.firstAbove('candidate', leader.term);
  if (write === undefined || elected === undefined || candidate === undefined) {
    throw new Error('a write of a later term was acknowledged, but no new leader announced');
  }
  return {
    killed: leader.id,
    killedTerm: leader.term,
    newLeader: elected.id,
    newTerm: elected.term,
    candidateMs: candidate.at - killedAt,
    electedMs: elected.at - killedAt,
    firstWriteMs: write.ackedAt - killedAt,
    candidacies: roles.countAbove('candidate', leader.term, elected.at),
  };
}
