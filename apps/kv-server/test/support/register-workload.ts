import { KvClient, KvError } from '../../src/kv-client.js';

/**
 * A linearizability-flavoured workload on a few registers, run while the cluster is
 * disturbed. Each writer owns one key and writes 1, 2, 3, ... to it, one write at a time;
 * each reader reads every key in turn. What must hold (and what `check` verifies):
 *
 * - a read never returns less than a value whose write was acknowledged before the read
 *   began (no acknowledged write lost, reads are not stale);
 * - a reader never sees a key's value go down (reads never go back in time for a client);
 * - a read never returns a value that was not yet written.
 *
 * Values per key only grow in log order (a writer's next write is proposed after its
 * previous one was answered), which is what makes these checks sound.
 */
export interface WorkloadOptions {
  readonly endpoints: readonly string[];
  readonly writers: number;
  readonly readers: number;
  /** Upper bounds on each worker's operations and on the run's time, whatever `stop` does. */
  readonly maxOpsPerWorker: number;
  readonly maxDurationMs: number;
}

export interface WorkloadReport {
  readonly acknowledged: number;
  readonly unknown: number;
  readonly notApplied: number;
  readonly reads: number;
  readonly failedReads: number;
  readonly violations: readonly string[];
  /** Per key: the highest acknowledged value, and the highest value ever sent. */
  readonly keys: ReadonlyArray<{ key: string; acked: number; issued: number }>;
}

export class RegisterWorkload {
  private stopping = false;
  private readonly deadline: number;
  private readonly ackedMax: number[];
  private readonly issuedMax: number[];
  private readonly violations: string[] = [];
  private acknowledged = 0;
  private unknown = 0;
  private notApplied = 0;
  private reads = 0;
  private failedReads = 0;
  private readonly clients: KvClient[] = [];
  private readonly running: Promise<void>;

  constructor(private readonly options: WorkloadOptions) {
    this.deadline = Date.now() + options.maxDurationMs;
    this.ackedMax = Array.from({ length: options.writers }, () => 0);
    this.issuedMax = Array.from({ length: options.writers }, () => 0);
    const workers: Array<Promise<void>> = [];
    for (let w = 0; w < options.writers; w++) workers.push(this.writer(w));
    for (let r = 0; r < options.readers; r++) workers.push(this.reader(r));
    this.running = Promise.all(workers).then(() => {});
  }

  /** Acknowledged writes so far. */
  get acks(): number {
    return this.acknowledged;
  }

  keyOf(writer: number): string {
    return `register/${writer}`;
  }

  /** Stops the workers after their current operation and reports. */
  async stop(): Promise<WorkloadReport> {
    this.stopping = true;
    await this.running;
    for (const c of this.clients) c.close();
    return {
      acknowledged: this.acknowledged,
      unknown: this.unknown,
      notApplied: this.notApplied,
      reads: this.reads,
      failedReads: this.failedReads,
      violations: this.violations,
      keys: this.ackedMax.map((acked, w) => ({
        key: this.keyOf(w),
        acked,
        issued: this.issuedMax[w] as number,
      })),
    };
  }

  private done(): boolean {
    return this.stopping || Date.now() > this.deadline;
  }

  /** A client that tries the endpoints starting at `first` (spreads readers over nodes). */
  private client(first: number): KvClient {
    const e = this.options.endpoints;
    const rotated = e.map((_, i) => e[(first + i) % e.length] as string);
    const c = new KvClient(rotated, { requestTimeoutMs: 3000, retryForMs: 3000 });
    this.clients.push(c);
    return c;
  }

  private async writer(w: number): Promise<void> {
    const client = this.client(w);
    const key = this.keyOf(w);
    for (let op = 0; op < this.options.maxOpsPerWorker && !this.done(); op++) {
      const value = (this.issuedMax[w] as number) + 1;
      this.issuedMax[w] = value;
      try {
        await client.put(key, String(value));
        this.ackedMax[w] = value;
        this.acknowledged++;
      } catch (error) {
        if (!(error instanceof KvError)) throw error;
        if (error.outcome === 'not-applied') this.notApplied++;
        else this.unknown++;
      }
    }
  }

  private async reader(r: number): Promise<void> {
    const client = this.client(r);
    const lastSeen = Array.from({ length: this.options.writers }, () => 0);
    for (let op = 0; op < this.options.maxOpsPerWorker && !this.done(); op++) {
      const w = op % this.options.writers;
      const key = this.keyOf(w);
      const ackedBefore = this.ackedMax[w] as number;
      let got: number;
      try {
        const res = await client.get(key);
        got = res === null ? 0 : Number(res.value);
      } catch (error) {
        // Reads may fail while there is no leader (KvError) or no node answers; only
        // answered reads are checked.
        if (!(error instanceof Error)) throw error;
        this.failedReads++;
        continue;
      }
      this.reads++;
      const issuedAfter = this.issuedMax[w] as number;
      if (got < ackedBefore) {
        this.violations.push(
          `reader ${r} read ${key}=${got} after ${ackedBefore} was acknowledged (stale read)`,
        );
      }
      if (got < (lastSeen[w] as number)) {
        this.violations.push(
          `reader ${r} read ${key}=${got} after having read ${lastSeen[w]} (went back in time)`,
        );
      }
      if (got > issuedAfter) {
        this.violations.push(`reader ${r} read ${key}=${got}, never written (max ${issuedAfter})`);
      }
      lastSeen[w] = Math.max(lastSeen[w] as number, got);
    }
  }
}
