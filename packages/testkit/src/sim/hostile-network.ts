import type { FilterVerdict, MemoryNetwork, NetworkMessage } from '@kontiki/transport-memory';

/**
 * A network that stays bad: silent loss in each direction, jitter on every message, and a
 * share of replies held back far longer than an RPC deadline while later messages pass them.
 * Lost messages are silent: the caller hears nothing and waits out its own deadline.
 */
export interface HostileNetworkProfile {
  /** Share of requests lost on the way to the callee. */
  readonly requestLoss: number;
  /** Share of replies lost on the way back (the callee did the work). */
  readonly replyLoss: number;
  /** Every message waits a uniform time in [min, max] ms; links stay FIFO for this part. */
  readonly delayMs: readonly [number, number];
  /** Share of replies that are late, leaving their link's order. */
  readonly lateReplies: number;
  /** How late, uniform in [min, max] ms, on top of the delay. */
  readonly lateReplyMs: readonly [number, number];
  /** Share of messages delivered twice. Default 0. */
  readonly duplicate?: number;
  /** Requests may overtake each other too (their jitter reorders them). Default false. */
  readonly reorderRequests?: boolean;
}

/**
 * The network of issue 9 ("Progress under a hostile network"): 10% of requests and 10% of
 * replies lost silently, 0-27 ms of delay, two thirds of replies 200-2200 ms late.
 */
export const ISSUE_9_NETWORK: HostileNetworkProfile = {
  requestLoss: 0.1,
  replyLoss: 0.1,
  delayMs: [0, 27],
  lateReplies: 2 / 3,
  lateReplyMs: [200, 2200],
};

/** Scales every time of a profile (a profile written for one election timeout, used with another). */
export function scaleProfile(
  profile: HostileNetworkProfile,
  factor: number,
): HostileNetworkProfile {
  const s = ([a, b]: readonly [number, number]): [number, number] => [a * factor, b * factor];
  return { ...profile, delayMs: s(profile.delayMs), lateReplyMs: s(profile.lateReplyMs) };
}

/** The per-message decision of a profile, as a MemoryNetwork filter. */
export function hostileFilter(
  profile: HostileNetworkProfile,
  random: () => number,
): (message: NetworkMessage) => FilterVerdict {
  const uniform = ([min, max]: readonly [number, number]) => min + random() * (max - min);
  return (m) => {
    if (m.kind === 'request') {
      if (random() < profile.requestLoss) return 'drop';
      return { delayMs: uniform(profile.delayMs), overtake: profile.reorderRequests === true };
    }
    if (random() < profile.replyLoss) return 'drop';
    const delay = uniform(profile.delayMs);
    if (random() < profile.lateReplies) {
      return { delayMs: delay + uniform(profile.lateReplyMs), overtake: true };
    }
    return { delayMs: delay };
  };
}

/** Makes `network` behave as `profile` from now on (until its filter is replaced). */
export function applyHostileNetwork(
  network: MemoryNetwork,
  profile: HostileNetworkProfile,
  random: () => number,
): void {
  network.setFilter(hostileFilter(profile, random));
  network.setDuplicateRate(profile.duplicate ?? 0);
}
