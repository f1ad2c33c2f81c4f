import { performance } from 'node:perf_hooks';
import { KvClient, KvError } from '../../src/kv-client.js';

/** One acknowledged write: when it was sent and when its answer came (performance.now()). */
export interface AckedWrite {
  readonly sentAt: number;
  readonly ackedAt: number;
  /** The term of the leader that committed it. */
  readonly term: number;
}

/**
 * Closed-loop writers over HTTP: each of `writers` loops puts to its own key, one write at
 * a time, until stopped or `maxDurationMs` passes. Keeps every acknowledged write's times
 * and term, and counts failures (a write whose outcome is unknown is not sent again).
 */
export class WriteLoad {
  readonly acked: AckedWrite[] = [];
  errors = 0;
  firstError: string | undefined;
  private stopping = false;
  private readonly running: Promise<void>;
  private readonly clients: KvClient[] = [];

  constructor(
    endpoints: readonly string[],
    options: {
      readonly writers: number;
      readonly maxDurationMs: number;
      readonly maxOps: number;
      /** How long a write keeps looking for a leader (KvClient's retryForMs). Default 10 s. */
      readonly retryForMs?: number;
    },
  ) {
    const deadline = performance.now() + options.maxDurationMs;
    const loops: Array<Promise<void>> = [];
    for (let w = 0; w < options.writers; w++) {
      const client = new KvClient(endpoints, {
        requestTimeoutMs: 10_000,
        retryForMs: options.retryForMs ?? 10_000,
      });
      this.clients.push(client);
      loops.push(this.loop(client, `load/${w}`, deadline, options.maxOps));
    }
    this.running = Promise.all(loops).then(() => {});
  }

  /** Stops the loops after their current write; resolves once they ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    for (const c of this.clients) c.close();
  }

  private async loop(client: KvClient, key: string, deadline: number, maxOps: number) {
    for (let op = 0; op < maxOps && !this.stopping && performance.now() < deadline; op++) {
      const sentAt = performance.now();
      try {
        const { term } = await client.put(key, String(op));
        this.acked.push({ sentAt, ackedAt: performance.now(), term });
      } catch (error) {
        if (!(error instanceof KvError)) throw error;
        this.errors++;
        this.firstError ??= `${error.code}: ${error.message}`;
      }
    }
  }

  /** The first write acknowledged by a leader of a term above `term`, if any yet. */
  firstOfTermAbove(term: number): AckedWrite | undefined {
    return this.acked.find((a) => a.term > term);
  }
}
