import { EntryType, type LogEntry, type RaftNode } from '@kontiki/core';
import { nodeInternals } from '@kontiki/core/internal';

const decoder = new TextDecoder();

/** A broken safety property: the run stops and reports it with its seed. */
export class InvariantViolation extends Error {
  constructor(
    readonly invariant: string,
    message: string,
  ) {
    super(`${invariant}: ${message}`);
    this.name = 'InvariantViolation';
  }
}

interface NodeTrack {
  incarnation: number;
  commit: number;
  applied: number;
  smIndex: number;
}

/**
 * The safety properties of Raft (paper Figure 3), checked incrementally as the run goes:
 * - election safety: at most one leader per term;
 * - log matching: an (index, term) pair names one entry, whose predecessor has one term
 *   (checked on every write that reaches a disk, which gives the property by induction);
 * - leader completeness: a leader of term T holds every entry committed before T;
 * - state-machine safety: no two nodes apply different entries at one index, and no
 *   payload is applied at two indexes;
 * - commit and apply indexes never go back within one life of a node.
 */
export class GroupInvariants {
  private readonly leaders = new Map<number, string>();
  private readonly entries = new Map<string, { key: string; prevTerm: number }>();
  /** Per committed index: its term, and the lowest term in which it was seen committed. */
  private readonly committedTerm = new Map<number, number>();
  private readonly committedIn = new Map<number, number>();
  private maxCommitted = 0;
  private readonly appliedAt = new Map<number, { term: number; key: string }>();
  private readonly indexOfKey = new Map<string, number>();
  private readonly tracks = new Map<string, NodeTrack>();
  private readonly knownLeaders = new Set<string>();
  checks = 0;

  constructor(readonly group: string) {}

  get committedIndex(): number {
    return this.maxCommitted;
  }

  /** Called for every batch that reaches a node's disk. */
  onDiskAppend(node: string, entries: readonly LogEntry[], prevTerm: number | undefined): void {
    // `prevTerm` is unknown for the first entry written after a snapshot reset.
    let prev = prevTerm;
    for (const e of entries) {
      const id = `${e.index}:${e.term}`;
      const key = entryKey(e);
      const seen = this.entries.get(id);
      if (seen === undefined) {
        if (prev !== undefined) this.entries.set(id, { key, prevTerm: prev });
        else this.entries.set(id, { key, prevTerm: -1 });
      } else if (
        seen.key !== key ||
        (prev !== undefined && seen.prevTerm !== -1 && seen.prevTerm !== prev)
      ) {
        throw new InvariantViolation(
          'log matching',
          `${node} wrote ${JSON.stringify(key)} (prev term ${prev ?? '?'}) at index ${e.index} term ${e.term}, where another log has ${JSON.stringify(seen.key)} (prev term ${seen.prevTerm})`,
        );
      } else if (seen.prevTerm === -1 && prev !== undefined) {
        seen.prevTerm = prev;
      }
      prev = e.term;
    }
  }

  /** Called by a node's state machine for every data entry it applies. */
  onApply(
    node: string,
    incarnation: number,
    entry: { index: number; term: number; key: string },
  ): void {
    const t = this.track(node, incarnation);
    if (entry.index <= t.smIndex) {
      throw new InvariantViolation(
        'state machine safety',
        `${node} applied index ${entry.index} after ${t.smIndex}`,
      );
    }
    t.smIndex = entry.index;
    const seen = this.appliedAt.get(entry.index);
    if (seen === undefined) {
      this.appliedAt.set(entry.index, { term: entry.term, key: entry.key });
    } else if (seen.term !== entry.term || seen.key !== entry.key) {
      throw new InvariantViolation(
        'state machine safety',
        `${node} applied ${entry.key}@${entry.term} at index ${entry.index}, another node applied ${seen.key}@${seen.term}`,
      );
    }
    const at = this.indexOfKey.get(entry.key);
    if (at === undefined) this.indexOfKey.set(entry.key, entry.index);
    else if (at !== entry.index) {
      throw new InvariantViolation(
        'state machine safety',
        `payload ${entry.key} applied at ${at} and at ${entry.index}`,
      );
    }
  }

  /**
   * Called when a node's state machine loads a snapshot: what it restores must be what was
   * applied everywhere, and its next entry must come after the snapshot.
   */
  onSnapshotLoad(
    node: string,
    incarnation: number,
    lastIncludedIndex: number,
    records: ReadonlyArray<{ index: number; term: number; key: string }>,
  ): void {
    for (const r of records) {
      const seen = this.appliedAt.get(r.index);
      if (seen === undefined) {
        this.appliedAt.set(r.index, { term: r.term, key: r.key });
      } else if (seen.term !== r.term || seen.key !== r.key) {
        throw new InvariantViolation(
          'state machine safety',
          `${node} restored ${r.key}@${r.term} at index ${r.index} from a snapshot, another node applied ${seen.key}@${seen.term}`,
        );
      }
    }
    const t = this.track(node, incarnation);
    if (lastIncludedIndex < t.smIndex) {
      throw new InvariantViolation(
        'state machine safety',
        `${node} loaded a snapshot at ${lastIncludedIndex} after applying up to ${t.smIndex}`,
      );
    }
    t.smIndex = lastIncludedIndex;
  }

  /** Called after every step with every live node of the group. */
  check(nodes: ReadonlyArray<{ id: string; incarnation: number; node: RaftNode<string> }>): void {
    this.checks++;
    const leadersNow: Array<RaftNode<string>> = [];
    for (const { id, incarnation, node } of nodes) {
      const t = this.track(id, incarnation);
      const commit = node.commitIndex;
      const applied = node.appliedIndex;
      if (commit < t.commit) {
        throw new InvariantViolation(
          'commit monotonic',
          `${id} commit index went from ${t.commit} to ${commit}`,
        );
      }
      if (applied < t.applied) {
        throw new InvariantViolation(
          'apply monotonic',
          `${id} applied index went from ${t.applied} to ${applied}`,
        );
      }
      if (applied > commit) {
        throw new InvariantViolation(
          'apply after commit',
          `${id} applied ${applied} beyond its commit index ${commit}`,
        );
      }
      if (commit > t.commit) {
        this.recordCommitted(id, node, t.commit + 1, commit);
        t.commit = commit;
      }
      t.applied = applied;
      if (node.role === 'leader' || node.role === 'transferring') {
        const term = node.term;
        const other = this.leaders.get(term);
        if (other === undefined) this.leaders.set(term, id);
        else if (other !== id) {
          throw new InvariantViolation(
            'election safety',
            `${other} and ${id} are both leaders of term ${term}`,
          );
        }
        const key = `${id}@${term}`;
        if (!this.knownLeaders.has(key)) {
          this.knownLeaders.add(key);
          this.checkLeaderCompleteness(id, node, 1, this.committedIndex);
        }
        leadersNow.push(node);
      }
    }
    this.currentLeaders = leadersNow;
    // A leader counts a follower as holding what the follower holds on disk, never more:
    // otherwise a crash of that follower could lose an entry counted toward a commit.
    for (const leader of leadersNow) {
      for (const p of leader.status().peers) {
        const f = nodes.find((n) => n.id === p.peerId);
        if (!f || f.node.term !== leader.term || f.node.role === 'shutdown') continue;
        const flog = nodeInternals(f.node).log;
        const held = Math.max(flog.durableIndex, flog.snapshotLastIndex);
        if (p.matchIndex > held) {
          throw new InvariantViolation(
            'durable acknowledgements',
            `leader ${leader.id} counts ${p.peerId} up to ${p.matchIndex}, which holds only ${held} durably`,
          );
        }
      }
    }
  }

  private currentLeaders: Array<RaftNode<string>> = [];

  private recordCommitted(id: string, node: RaftNode<string>, from: number, to: number): void {
    const log = nodeInternals(node).log;
    for (let i = Math.max(from, log.firstIndex); i <= to; i++) {
      const term = log.termAt(i);
      if (term === undefined) continue; // compacted into a snapshot
      const known = this.committedTerm.get(i);
      if (known === undefined) {
        this.committedTerm.set(i, term);
        this.committedIn.set(i, node.term);
        if (i > this.maxCommitted) this.maxCommitted = i;
        for (const leader of this.currentLeaders) {
          if (leader.term > node.term) this.checkLeaderCompleteness(leader.id, leader, i, i);
        }
      } else {
        if (known !== term) {
          throw new InvariantViolation(
            'state machine safety',
            `${id} committed term ${term} at index ${i}, which was committed with term ${known}`,
          );
        }
        if (node.term < (this.committedIn.get(i) ?? 0)) this.committedIn.set(i, node.term);
      }
    }
  }

  private checkLeaderCompleteness(
    id: string,
    node: RaftNode<string>,
    from: number,
    to: number,
  ): void {
    // Below the leader's own snapshot the entries are gone from its log, but they are in the
    // snapshot it applied, which state-machine safety covers.
    const log = nodeInternals(node).log;
    for (let i = Math.max(from, log.firstIndex); i <= to; i++) {
      const committedIn = this.committedIn.get(i);
      if (committedIn === undefined || committedIn >= node.term) continue;
      const term = log.termAt(i);
      if (term !== this.committedTerm.get(i)) {
        throw new InvariantViolation(
          'leader completeness',
          `leader ${id} of term ${node.term} has term ${term ?? 'nothing'} at index ${i}, committed with term ${this.committedTerm.get(i)} in term ${committedIn}`,
        );
      }
    }
  }

  private track(id: string, incarnation: number): NodeTrack {
    let t = this.tracks.get(id);
    if (!t || t.incarnation !== incarnation) {
      t = { incarnation, commit: 0, applied: 0, smIndex: 0 };
      this.tracks.set(id, t);
    }
    return t;
  }
}

function entryKey(e: LogEntry): string {
  return e.type === EntryType.Data ? decoder.decode(e.data) : `#conf:${decoder.decode(e.data)}`;
}
