/** The JSON bodies of the HTTP API, shared by the server and its clients (CLI, tests). */

/** A group's membership, as core reports it (`oldVoters` only while joint). */
export interface ConfigurationBody {
  readonly voters: readonly string[];
  readonly oldVoters?: readonly string[];
  readonly learners?: readonly string[];
}

/** What a snapshot covers (core's SnapshotMeta). */
export interface SnapshotMetaBody {
  readonly lastIncludedIndex: number;
  readonly lastIncludedTerm: number;
  readonly configuration: ConfigurationBody;
}

export interface StatusBody {
  readonly id: string;
  readonly groupId: string;
  /** A Raft role, or 'starting' before the node runs. */
  readonly role: string;
  readonly term: number;
  readonly leaderId: string | null;
  readonly leaderHttp: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly durableIndex: number;
  /** The index the latest snapshot covers (0: none). */
  readonly snapshotIndex: number;
  /** The first entry the log still holds (entries before it were compacted into a snapshot). */
  readonly firstLogIndex: number;
  readonly pendingProposals: number;
  /** The latest configuration's voters (`configuration.voters`). */
  readonly voters: readonly string[];
  /** The latest configuration this node knows (it takes effect once in the log). */
  readonly configuration: ConfigurationBody;
  /** Every member's addresses this node knows: given at start, or recorded through the log. */
  readonly peers: ReadonlyArray<{
    readonly id: string;
    readonly raft: string;
    readonly http: string | null;
  }>;
  /** Per follower, on the leader only. */
  readonly replication: ReadonlyArray<{
    readonly peer: string;
    readonly state: string;
    readonly matchIndex: number;
    readonly nextIndex: number;
  }>;
  readonly keys: number;
  readonly transport: string;
  readonly storage: string;
  readonly electionTimeoutMs: number;
  readonly pid: number;
  readonly uptimeSeconds: number;
  /**
   * With several groups (`--groups` > 1) only: a summary of them all, as this node sees
   * them (the fields above are then those of one group: the primary, or `?group=ID`).
   */
  readonly groups?: GroupsSummaryBody;
}

/** Many groups summarised (never one row per group): counts, leaders per node, laggards. */
export interface GroupsSummaryBody {
  /** Groups this node runs. */
  readonly count: number;
  /** Groups whose node has not started yet. */
  readonly starting: number;
  /** Groups this node leads. */
  readonly ledHere: number;
  /** Groups whose leader this node knows (itself included). */
  readonly withLeader: number;
  /** Groups by the node this one believes leads them (sums to `withLeader`). */
  readonly leadersPerNode: Readonly<Record<string, number>>;
  /** Groups whose applied index is more than `threshold` entries behind their commit index. */
  readonly laggards: {
    readonly threshold: number;
    readonly count: number;
    /** The few worst, most behind first. */
    readonly worst: ReadonlyArray<{
      readonly group: string;
      readonly commitIndex: number;
      readonly appliedIndex: number;
    }>;
  };
  /** Keys over every group. */
  readonly keys: number;
  /** How old the summary is: it is computed at most once per `SUMMARY_TTL_MS`. */
  readonly ageMs: number;
}

export interface DigestBody {
  readonly id: string;
  readonly appliedIndex: number;
  readonly commitIndex: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly keys: number;
  readonly sha256: string;
}

export interface GetBody {
  readonly key: string;
  readonly value: string;
  /** The read index the answer is linearizable at. */
  readonly index: number;
}

export interface PutBody {
  readonly key: string;
  readonly prev: string | null;
  readonly index: number;
  readonly term: number;
}

export interface DeleteBody {
  readonly key: string;
  readonly deleted: boolean;
  readonly prev: string | null;
  readonly index: number;
  readonly term: number;
}

/** 200 when `succeeded`, 412 otherwise (then `prev` is the value the key holds). */
export interface CasBody {
  readonly key: string;
  readonly succeeded: boolean;
  readonly prev: string | null;
  readonly index: number;
  readonly term: number;
}

export interface TransferBody {
  readonly from: string;
  readonly requested: string | null;
  /** The new leader, if it made itself known within two election timeouts. */
  readonly leaderId: string | null;
  readonly term: number;
}

/** The answer of `POST /admin/snapshot` (the node asked takes a snapshot of its own state). */
export interface SnapshotBody {
  readonly id: string;
  /** False when nothing was applied since the latest snapshot (then `meta` is null). */
  readonly taken: boolean;
  readonly meta: SnapshotMetaBody | null;
  readonly snapshotIndex: number;
  readonly firstLogIndex: number;
  readonly lastLogIndex: number;
}

/** The answer of `POST /admin/membership`, once C(new) is committed. */
export interface MembershipBody {
  readonly previous: ConfigurationBody;
  readonly configuration: ConfigurationBody;
  /** The addresses recorded through the log first (members the group did not know yet). */
  readonly recorded: readonly string[];
  /** The leader that made the change; it stepped down if it is no longer a voter. */
  readonly leaderId: string;
  readonly term: number;
}

export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly leaderId?: string | null;
    readonly leaderHttp?: string;
    readonly outcome?: 'not-applied' | 'unknown';
    readonly limit?: number;
  };
}
