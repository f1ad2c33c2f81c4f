import { performance } from 'node:perf_hooks';
import {
  HistoryRecorder,
  type KvCall,
  type KvOutput,
  type PendingOperation,
  Rng,
} from '@kontiki/testkit';
import { etcdWorkloadClient, httpWorkloadClient, type WorkloadClient } from './workload-clients.js';

/**
 * Jepsen-style clients for the linearizability test: each of `clients` loops runs random
 * reads, puts, deletes and compare-and-sets on a few keys, one operation at a time, and
 * records every invocation and outcome in a HistoryRecorder (the history the checker reads).
 * Each loop is a "process" of the history; after an operation whose outcome is unknown it
 * continues under a new process id, as Jepsen does (that operation may still be in flight).
 *
 * How outcomes are recorded: an answer is a completed operation (a CAS answered 412 is a
 * completed, failed CAS); a write error with outcome `not-applied` certainly had no effect
 * (not-applied); any other failure of a write (outcome `unknown`, a timeout, a lost
 * connection) may have had one (indefinite); a read that got no answer is indefinite (the
 * checker ignores it: it observed nothing).
 */
export interface HistoryWorkloadOptions {
  /** The nodes' addresses for `api`: HTTP, or etcd's v3 gRPC API. */
  readonly endpoints: readonly string[];
  /** Which API the clients use. Default 'http'. */
  readonly api?: 'http' | 'etcd';
  readonly clients: number;
  readonly keys: readonly string[];
  readonly seed: number;
  /** Each loop stops after this many operations, or at `stop()`, whichever comes first. */
  readonly maxOpsPerClient: number;
  /** And at this deadline (`performance.now()` time), whatever `stop()` does. */
  readonly deadline: number;
  /** One HTTP request's deadline; a write that times out is indefinite. */
  readonly requestTimeoutMs: number;
}

export interface WorkloadCounts {
  reads: number;
  writes: number;
  deletes: number;
  casSucceeded: number;
  casFailed: number;
  indefinite: number;
  notApplied: number;
  /** Reads without an answer (not in the checked history). */
  failedReads: number;
}

export class HistoryWorkload {
  readonly recorder = new HistoryRecorder();
  readonly counts: WorkloadCounts = {
    reads: 0,
    writes: 0,
    deletes: 0,
    casSucceeded: 0,
    casFailed: 0,
    indefinite: 0,
    notApplied: 0,
    failedReads: 0,
  };
  private stopping = false;
  private nextProcess: number;
  private readonly clients: WorkloadClient[] = [];
  private readonly running: Promise<void>;

  constructor(private readonly options: HistoryWorkloadOptions) {
    this.nextProcess = options.clients;
    const rng = new Rng(options.seed);
    const loops: Array<Promise<void>> = [];
    for (let c = 0; c < options.clients; c++) loops.push(this.loop(c, rng.fork(`client-${c}`)));
    this.running = Promise.all(loops).then(() => {});
  }

  /** Completed operations so far. */
  get completed(): number {
    const n = this.counts;
    return n.reads + n.writes + n.deletes + n.casSucceeded + n.casFailed;
  }

  /** Resolves once every loop has ended (at its deadline or operation bound). */
  finished(): Promise<void> {
    return this.running;
  }

  /** Stops the loops after their current operation. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    for (const c of this.clients) c.close();
  }

  /**
   * Jepsen's final reads: once the cluster is healed, one read of every key, recorded in the
   * history too, so that a write lost at the very end is caught.
   */
  async finalReads(): Promise<void> {
    const client = this.client(0);
    for (const key of this.options.keys) await this.read(client, this.nextProcess++, key);
  }

  private done(): boolean {
    return this.stopping || performance.now() > this.options.deadline;
  }

  /** A client that tries the endpoints starting at `first` (spreads the loops over nodes). */
  private client(first: number): WorkloadClient {
    const e = this.options.endpoints;
    const rotated = e.map((_, i) => e[(first + i) % e.length] as string);
    const make = this.options.api === 'etcd' ? etcdWorkloadClient : httpWorkloadClient;
    const c = make(rotated, {
      requestTimeoutMs: this.options.requestTimeoutMs,
      retryForMs: 2 * this.options.requestTimeoutMs,
    });
    this.clients.push(c);
    return c;
  }

  private async loop(index: number, rng: Rng): Promise<void> {
    const client = this.client(index);
    // Reads go to a node chosen at random (and on to the next one if it does not answer):
    // followers serve reads too, and a stale one must not answer from its own state. The
    // writer's client would send them to the leader it last wrote to.
    const readers = this.options.endpoints.map((_, i) => this.client(i));
    let process = index;
    /** The last value this loop saw in each key: what its CAS expect (often still right). */
    const seen = new Map<string, string | null>();
    for (let op = 0; op < this.options.maxOpsPerClient && !this.done(); op++) {
      const key = rng.pick(this.options.keys);
      const roll = rng.next();
      const value = `${index}-${op}`;
      let sure: boolean;
      if (roll < 0.5) {
        sure = await this.read(rng.pick(readers), process, key, seen);
      } else if (roll < 0.7) {
        sure = await this.write(client, process, key, { op: 'write', value }, seen);
      } else if (roll < 0.75) {
        sure = await this.write(client, process, key, { op: 'delete' }, seen);
      } else {
        const expected = seen.has(key) ? (seen.get(key) ?? null) : null;
        sure = await this.write(client, process, key, { op: 'cas', expected, value }, seen);
      }
      if (!sure) process = this.nextProcess++;
    }
  }

  /** One read; false if it got no answer. */
  private async read(
    client: WorkloadClient,
    process: number,
    key: string,
    seen?: Map<string, string | null>,
  ): Promise<boolean> {
    const pending = this.recorder.invoke(process, key, { op: 'read' });
    try {
      const value = await client.get(key);
      this.recorder.complete(pending, { op: 'read', value });
      seen?.set(key, value);
      this.counts.reads++;
      return true;
    } catch (error) {
      // Whatever the failure, a read without an answer observed nothing.
      this.recorder.indefinite(pending, client.nameOf(error));
      this.counts.failedReads++;
      return false;
    }
  }

  /** One put, delete or CAS; false if its outcome is unknown (it may still be in flight). */
  private async write(
    client: WorkloadClient,
    process: number,
    key: string,
    call: Exclude<KvCall, { op: 'read' }>,
    seen: Map<string, string | null>,
  ): Promise<boolean> {
    const pending = this.recorder.invoke(process, key, call);
    let output: KvOutput;
    try {
      output = await this.send(client, key, call);
    } catch (error) {
      return this.failed(client, pending, error);
    }
    this.recorder.complete(pending, output);
    switch (output.op) {
      case 'write':
        this.counts.writes++;
        seen.set(key, call.op === 'write' ? call.value : null);
        break;
      case 'delete':
        this.counts.deletes++;
        seen.set(key, null);
        break;
      case 'cas':
        if (output.succeeded) this.counts.casSucceeded++;
        else this.counts.casFailed++;
        seen.set(key, output.succeeded && call.op === 'cas' ? call.value : (output.prev ?? null));
    }
    return true;
  }

  private async send(
    client: WorkloadClient,
    key: string,
    call: Exclude<KvCall, { op: 'read' }>,
  ): Promise<KvOutput> {
    switch (call.op) {
      case 'write': {
        const r = await client.put(key, call.value);
        return { op: 'write', prev: r.prev };
      }
      case 'delete': {
        const r = await client.delete(key);
        return { op: 'delete', prev: r.prev };
      }
      case 'cas': {
        const r = await client.cas(key, call.expected, call.value);
        return { op: 'cas', succeeded: r.succeeded, prev: r.prev };
      }
    }
  }

  /** Records a write that got no answer; false when its outcome is unknown. */
  private failed(client: WorkloadClient, pending: PendingOperation, error: unknown): boolean {
    if (client.outcomeOf(error) === 'not-applied') {
      // The server (or the client, for a connection refused) says it certainly did not
      // happen: not in the checked history. If that were false, the checker would see a
      // value that no write explains.
      this.recorder.notApplied(pending, client.nameOf(error));
      this.counts.notApplied++;
      return true;
    }
    this.recorder.indefinite(pending, client.nameOf(error));
    this.counts.indefinite++;
    return false;
  }
}
