/**
 * How many election rounds (pre-vote or vote) the groups of one transport endpoint may run at
 * once. Measured (docs/ARCHITECTURE.md, "Multi-raft at scale"): 10,000 groups started together
 * on three processes sent 20,000 pre-votes per process within a second, re-asked the
 * unanswered ones every rpcTimeoutMs, filled the transport's pending-call limit (BUSY), and no
 * answer came back before its round ended: no group ever got a leader. A round that waits for
 * a slot costs a timer; a round that cannot be answered costs everyone.
 */
export const MAX_CONCURRENT_ELECTIONS = 128;

/**
 * The election slots of one endpoint, shared by every node that uses the same transport
 * object (one process's endpoint: the groups that contend for its CPU and its connections).
 * Only when an election starts depends on it: votes, terms and logs never do.
 */
export class ElectionAdmission {
  private activeCount = 0;
  private highWater = 0;
  /** Who waits for a slot, first come first served: `waiters[head]` is next. */
  private waiters: Array<(() => void) | undefined> = [];
  private head = 0;
  private drainScheduled = false;

  constructor(private slots: number) {}

  /** Rounds that may run at once. */
  get limit(): number {
    return this.slots;
  }

  /** Changes the number of slots (a RaftHost's `maxConcurrentElections`); waiters get new ones. */
  setLimit(limit: number): void {
    this.slots = limit;
    this.schedule();
  }

  /**
   * Runs `retry` once a slot is free, in the order of asking (it should try to enter again).
   * Instead of every waiting group polling on a timer, the slot a round leaves goes to the
   * group that has waited longest. Measured at 10,000 groups: the polling re-armed tens of
   * thousands of timers a second during start-up, the largest share of the garbage that grew
   * each process's heap to ~400 MiB (docs/benchmarks.md).
   */
  wait(retry: () => void): void {
    this.waiters.push(retry);
    this.schedule();
  }

  /** Groups waiting for a slot now. */
  get waiting(): number {
    return this.waiters.length - this.head;
  }

  private schedule(): void {
    if (this.drainScheduled || this.activeCount >= this.limit || this.waiting === 0) return;
    this.drainScheduled = true;
    // After the current turn of work (whoever freed the slot finishes first), not inside it.
    queueMicrotask(() => this.drain());
  }

  private drain(): void {
    this.drainScheduled = false;
    // Bounded by the waiters there are now: one that waits again goes to the back.
    let budget = this.waiting;
    while (budget-- > 0 && this.activeCount < this.limit && this.head < this.waiters.length) {
      const retry = this.waiters[this.head];
      this.waiters[this.head] = undefined;
      this.head++;
      retry?.();
    }
    if (this.head === this.waiters.length) {
      this.waiters = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waiters.length) {
      this.waiters = this.waiters.slice(this.head);
      this.head = 0;
    }
  }

  /** Takes a slot for a new election if one is free. */
  tryEnter(): boolean {
    if (this.activeCount >= this.limit) return false;
    this.enter();
    return true;
  }

  /**
   * Takes a slot even beyond the limit: for a round that continues an admitted one (the vote
   * after a won pre-vote) or that was asked for (TimeoutNow), which must not be held back.
   */
  enter(): void {
    this.activeCount++;
    if (this.activeCount > this.highWater) this.highWater = this.activeCount;
  }

  leave(): void {
    if (this.activeCount > 0) this.activeCount--;
    this.schedule();
  }

  /** Rounds running now. */
  get active(): number {
    return this.activeCount;
  }

  /** The most rounds that ran at once. */
  get maxActive(): number {
    return this.highWater;
  }
}

const byEndpoint = new WeakMap<object, ElectionAdmission>();

/**
 * The slots of the endpoint `transport`, created on first use with `limit` slots (default
 * {@link MAX_CONCURRENT_ELECTIONS}; a later `limit` is ignored) and forgotten with the transport.
 */
export function electionAdmissionOf(
  transport: object,
  limit = MAX_CONCURRENT_ELECTIONS,
): ElectionAdmission {
  let admission = byEndpoint.get(transport);
  if (admission === undefined) {
    admission = new ElectionAdmission(limit);
    byEndpoint.set(transport, admission);
  }
  return admission;
}
