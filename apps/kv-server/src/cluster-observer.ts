import { setTimeout as sleep } from 'node:timers/promises';
import { preferredLeaderOf } from '@kontiki/core';
import type { DigestBody, StatusBody } from './api-types.js';
import { requestJson } from './http-json.js';

const POLL_MS = 20;

/** One node's `/status`, or undefined when it does not answer within `timeoutMs`. */
export async function fetchStatus(http: string, timeoutMs = 1000): Promise<StatusBody | undefined> {
  try {
    const res = await requestJson('GET', `http://${http}/status`, { timeoutMs });
    return res.status === 200 ? (res.body as StatusBody) : undefined;
  } catch {
    return undefined;
  }
}

export interface LeaderInfo {
  readonly id: string;
  readonly http: string;
  readonly term: number;
}

export interface WaitForLeaderOptions {
  readonly timeoutMs: number;
  /** Only a leader of a later term than this one counts (after killing a leader). */
  readonly afterTerm?: number;
}

/**
 * Polls every node's `/status` until one reports itself leader and a majority of all the
 * nodes (it included) agree on it and its term. Rejects after `timeoutMs`.
 */
export async function waitForLeader(
  endpoints: readonly string[],
  options: WaitForLeaderOptions,
): Promise<LeaderInfo> {
  const deadline = Date.now() + options.timeoutMs;
  const majority = Math.floor(endpoints.length / 2) + 1;
  let seen = 'no node answered';
  while (Date.now() < deadline) {
    const statuses = await Promise.all(endpoints.map((e) => fetchStatus(e, 500)));
    const leaders = statuses.filter(
      (s): s is StatusBody =>
        s !== undefined && s.role === 'leader' && s.term > (options.afterTerm ?? -1),
    );
    for (const leader of leaders) {
      const agree = statuses.filter(
        (s) => s !== undefined && s.term === leader.term && s.leaderId === leader.id,
      ).length;
      const http = leader.peers.find((p) => p.id === leader.id)?.http;
      if (agree >= majority && http !== null && http !== undefined) {
        return { id: leader.id, http, term: leader.term };
      }
    }
    seen = statuses
      .map((s, i) => (s ? `${s.id}: ${s.role} term ${s.term}` : `${endpoints[i]}: down`))
      .join(', ');
    await sleep(POLL_MS);
  }
  throw new Error(`no leader agreed on by a majority within ${options.timeoutMs} ms (${seen})`);
}

export interface WaitForBalanceOptions {
  /** The ids of the voters (every group has them all), as the nodes were started with. */
  readonly ids: readonly string[];
  /** The group ids (`groupIds(base, count)`). */
  readonly groups: readonly string[];
  readonly timeoutMs: number;
}

/**
 * Polls every node's `/status?group=` until each of them sees every group led by its
 * preferred voter (`preferredLeaderOf`): a sharded cluster whose RaftHost balancers have
 * nothing left to hand over, so no leadership transfer will cut into writes that follow.
 * Rejects after `timeoutMs`, naming a group that was not yet there.
 */
export async function waitForBalance(
  endpoints: readonly string[],
  options: WaitForBalanceOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let seen = 'nothing asked yet';
  while (Date.now() < deadline) {
    seen = '';
    check: for (const e of endpoints) {
      for (const group of options.groups) {
        const want = preferredLeaderOf(group, options.ids);
        let leader: string | null | undefined;
        try {
          const res = await requestJson('GET', `http://${e}/status?group=${group}`, {
            timeoutMs: 1000,
          });
          leader = res.status === 200 ? (res.body as StatusBody).leaderId : undefined;
        } catch {
          leader = undefined;
        }
        if (leader !== want) {
          seen = `${e} sees ${group} led by ${leader ?? 'nobody'}, preferred ${want}`;
          break check;
        }
      }
    }
    if (seen === '') return;
    await sleep(POLL_MS);
  }
  throw new Error(
    `the groups did not settle on their preferred leaders within ${options.timeoutMs} ms (${seen})`,
  );
}

/**
 * Polls every node's `/digest` until all have applied the same index and that index is
 * everything their logs hold; then checks that their states are identical. Resolves with
 * the digests; rejects after `timeoutMs`, or at once if two nodes at the same applied
 * index hold different states (a divergence, which Raft must never allow).
 */
export async function waitForConvergence(
  endpoints: readonly string[],
  timeoutMs: number,
): Promise<DigestBody[]> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  while (Date.now() < deadline) {
    const digests = await Promise.all(
      endpoints.map(async (e) => {
        try {
          const res = await requestJson('GET', `http://${e}/digest`, { timeoutMs: 1000 });
          return res.status === 200 ? (res.body as DigestBody) : undefined;
        } catch {
          return undefined;
        }
      }),
    );
    const all = digests.filter((d): d is DigestBody => d !== undefined);
    if (all.length === endpoints.length) {
      const first = all[0] as DigestBody;
      const sameIndex = all.every(
        (d) => d.appliedIndex === first.appliedIndex && d.lastLogIndex === first.appliedIndex,
      );
      if (sameIndex) {
        const differing = all.filter(
          (d) => d.sha256 !== first.sha256 || d.lastLogTerm !== first.lastLogTerm,
        );
        if (differing.length > 0) {
          throw new Error(
            `nodes diverged at applied index ${first.appliedIndex}: ${all
              .map((d) => `${d.id} ${d.sha256.slice(0, 12)} (last term ${d.lastLogTerm})`)
              .join(', ')}`,
          );
        }
        return all;
      }
    }
    seen = digests
      .map((d, i) =>
        d ? `${d.id}: applied ${d.appliedIndex}/log ${d.lastLogIndex}` : `${endpoints[i]}: down`,
      )
      .join(', ');
    await sleep(POLL_MS);
  }
  throw new Error(`nodes did not converge within ${timeoutMs} ms (${seen})`);
}
