/** The JSON bodies of the HTTP API, shared by the server and its clients (CLI, tests). */

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
  readonly pendingProposals: number;
  readonly voters: readonly string[];
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
