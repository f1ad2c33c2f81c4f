import { BadRequestError } from './errors.js';
import { appendTight } from './tight.js';
import type { Configuration, PeerId } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Every peer a configuration names, voters first, without duplicates. */
export function allPeers(conf: Configuration): PeerId[] {
  const seen = new Set<PeerId>(conf.voters);
  for (const p of conf.oldVoters ?? []) seen.add(p);
  for (const p of conf.learners ?? []) seen.add(p);
  return [...seen];
}

/** Whether `peer` votes in `conf` (in either half of a joint configuration). */
export function isVoter(conf: Configuration, peer: PeerId): boolean {
  return conf.voters.includes(peer) || (conf.oldVoters?.includes(peer) ?? false);
}

export function isJoint(conf: Configuration): boolean {
  return conf.oldVoters !== undefined && conf.oldVoters.length > 0;
}

/** The size of a majority of `n` voters. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The highest index that a majority has reached, by `matchOf` (Raft paper 5.3/5.4);
 * in a joint configuration the lower of the two majorities' (section 6).
 */
export function quorumMatchIndex(conf: Configuration, matchOf: (peer: PeerId) => number): number {
  const q = quorumOf(conf.voters, matchOf);
  if (!isJoint(conf)) return q;
  return Math.min(q, quorumOf(conf.oldVoters ?? [], matchOf));
}

/**
 * The highest index reached by a majority of `voters`: the majority-th highest match index.
 * A leader counts on every durable advance of its own log and every answer, so this allocates
 * nothing for the usual three voters (their median) and sorts a typed array otherwise
 * (numerically, without a comparator).
 */
function quorumOf(voters: readonly PeerId[], matchOf: (peer: PeerId) => number): number {
  const n = voters.length;
  if (n === 0) return Number.POSITIVE_INFINITY;
  if (n === 1) return matchOf(voters[0] as PeerId);
  if (n === 3) {
    const a = matchOf(voters[0] as PeerId);
    const b = matchOf(voters[1] as PeerId);
    const c = matchOf(voters[2] as PeerId);
    return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = matchOf(voters[i] as PeerId);
  values.sort();
  // Ascending: the majority-th highest sits majority places from the top.
  return values[n - majority(n)] as number;
}

/** Whether the peers for which `ok` holds form a quorum of `conf` (of both halves when joint). */
export function hasQuorum(conf: Configuration, ok: (peer: PeerId) => boolean): boolean {
  const count = (voters: readonly PeerId[]) => voters.filter(ok).length;
  if (count(conf.voters) < majority(conf.voters.length)) return false;
  if (isJoint(conf)) {
    const old = conf.oldVoters ?? [];
    if (count(old) < majority(old.length)) return false;
  }
  return true;
}

/** Checks a user-supplied configuration; throws BAD_REQUEST when it cannot work. */
export function validateConfiguration(conf: Configuration, what = 'configuration'): void {
  const check = (list: readonly unknown[] | undefined, name: string) => {
    if (list === undefined) return;
    if (!Array.isArray(list)) throw new BadRequestError(`${what}.${name} must be an array`);
    const seen = new Set<unknown>();
    for (const p of list) {
      if (typeof p !== 'string' || p.length === 0)
        throw new BadRequestError(`${what}.${name} must hold non-empty peer ids`);
      if (seen.has(p)) throw new BadRequestError(`${what}.${name} names ${p} twice`);
      seen.add(p);
    }
  };
  if (typeof conf !== 'object' || conf === null)
    throw new BadRequestError(`${what} must be an object`);
  if (!Array.isArray(conf.voters)) throw new BadRequestError(`${what}.voters must be an array`);
  check(conf.voters, 'voters');
  check(conf.oldVoters, 'oldVoters');
  check(conf.learners, 'learners');
  if (conf.voters.length === 0) throw new BadRequestError(`${what}.voters must not be empty`);
  // A learner may be an old voter of a joint configuration (a voter being demoted), but
  // never a voter of the configuration being moved to.
  for (const l of conf.learners ?? []) {
    if (conf.voters.includes(l)) {
      throw new BadRequestError(`${what}: ${l} is both a voter and a learner`);
    }
  }
}

/** Configuration entries carry this JSON form, so that a log written today stays readable. */
export function encodeConfiguration(conf: Configuration): Uint8Array {
  const wire: { v: readonly PeerId[]; o?: readonly PeerId[]; l?: readonly PeerId[] } = {
    v: conf.voters,
  };
  if (conf.oldVoters && conf.oldVoters.length > 0) wire.o = conf.oldVoters;
  if (conf.learners && conf.learners.length > 0) wire.l = conf.learners;
  return encoder.encode(JSON.stringify(wire));
}

export function decodeConfiguration(data: Uint8Array): Configuration {
  let wire: unknown;
  try {
    wire = JSON.parse(decoder.decode(data));
  } catch {
    throw new BadRequestError('configuration entry is not valid JSON');
  }
  if (typeof wire !== 'object' || wire === null || !Array.isArray((wire as { v?: unknown }).v)) {
    throw new BadRequestError('configuration entry has no voters');
  }
  const w = wire as { v: PeerId[]; o?: PeerId[]; l?: PeerId[] };
  const conf: Configuration = {
    voters: w.v,
    ...(w.o && w.o.length > 0 ? { oldVoters: w.o } : {}),
    ...(w.l && w.l.length > 0 ? { learners: w.l } : {}),
  };
  validateConfiguration(conf, 'configuration entry');
  return conf;
}

export function sameConfiguration(a: Configuration, b: Configuration): boolean {
  const eq = (x: readonly PeerId[] = [], y: readonly PeerId[] = []) =>
    x.length === y.length && [...x].sort().join('\n') === [...y].sort().join('\n');
  return eq(a.voters, b.voters) && eq(a.oldVoters, b.oldVoters) && eq(a.learners, b.learners);
}

/** One configuration entry of the log: the configuration in force from `index` on. */
export interface ConfigurationEntry {
  readonly index: number;
  readonly term: number;
  readonly configuration: Configuration;
}

/**
 * The configurations found in the log, newest last (braft's ConfigurationManager). A server
 * uses the latest configuration in its log, committed or not (Raft paper section 6), so a
 * truncated suffix must roll back to the one before.
 */
export class ConfigurationManager {
  private entries: ConfigurationEntry[] = [];
  /** The configuration of the latest snapshot, or the initial one; used when the log has none. */
  private base: ConfigurationEntry;

  constructor(initial: ConfigurationEntry) {
    this.base = initial;
  }

  add(entry: ConfigurationEntry): void {
    this.entries = appendTight(this.entries, entry);
  }

  latest(): ConfigurationEntry {
    return this.entries[this.entries.length - 1] ?? this.base;
  }

  /** The newest configuration at or below `index`. */
  at(index: number): ConfigurationEntry {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      if (e && e.index <= index) return e;
    }
    return this.base;
  }

  truncateSuffix(lastKept: number): void {
    while (
      this.entries.length > 0 &&
      (this.entries[this.entries.length - 1]?.index ?? 0) > lastKept
    ) {
      this.entries.pop();
    }
  }

  /** Whether `peer` is a voter or learner of any configuration known here (joint halves too). */
  isMember(peer: PeerId): boolean {
    return this.some((c) => allPeers(c).includes(peer));
  }

  /** Whether `peer` votes in any configuration known here. */
  isVoterAnywhere(peer: PeerId): boolean {
    return this.some((c) => isVoter(c, peer));
  }

  /** Whether this node knows any configuration with voters (a joining node knows none). */
  get hasAny(): boolean {
    return this.some((c) => c.voters.length > 0);
  }

  private some(test: (c: Configuration) => boolean): boolean {
    if (test(this.base.configuration)) return true;
    for (const e of this.entries) if (test(e.configuration)) return true;
    return false;
  }

  /** After a snapshot: the snapshot's configuration becomes the base. */
  setSnapshot(entry: ConfigurationEntry): void {
    this.base = entry;
    while (this.entries.length > 0 && (this.entries[0]?.index ?? 0) <= entry.index)
      this.entries.shift();
  }
}
