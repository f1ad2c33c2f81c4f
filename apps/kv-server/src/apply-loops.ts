import { performance } from 'node:perf_hooks';

export interface ApplyLoopOptions {
  /** Proposals in flight at once: that many loops, each awaiting its proposal before the next. */
  readonly concurrency: number;
  /** Measured time, after the warm-up. */
  readonly durationMs: number;
  /** Time the loops run before measuring starts (JIT, connections, batching settle). */
  readonly warmupMs: number;
  /** Each proposal's data. */
  readonly payload: Uint8Array;
}

export interface ApplyLoopResult {
  readonly concurrency: number;
  readonly payloadBytes: number;
  /** Proposals that started and finished within the measured window. */
  readonly proposals: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
}

/** The first failure of a loop: the run stops at once (a benchmark needs a stable leader). */
export class ApplyLoopError extends Error {
  constructor(override readonly cause: unknown) {
    super(`a proposal failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ApplyLoopError';
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)] as number;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * Runs `concurrency` loops that each propose `payload` and await the result, for
 * `warmupMs + durationMs`, and reports proposals per second and latency percentiles over
 * the measured window. The same function measures a node behind a real transport (in the
 * kv-server, on the leader) and three nodes in one process, so the two compare.
 */
export async function runApplyLoops(
  apply: (data: Uint8Array) => Promise<unknown>,
  options: ApplyLoopOptions,
): Promise<ApplyLoopResult> {
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const latencies: number[] = [];
  let failure: ApplyLoopError | undefined;

  const loop = async (): Promise<void> => {
    while (failure === undefined) {
      const t0 = performance.now();
      if (t0 >= end) return;
      try {
        await apply(options.payload);
      } catch (error) {
        failure ??= new ApplyLoopError(error);
        return;
      }
      const t1 = performance.now();
      if (t0 >= measureFrom && t1 <= end) latencies.push(t1 - t0);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  if (failure !== undefined) throw failure;

  const sorted = Float64Array.from(latencies).sort();
  const seconds = options.durationMs / 1000;
  return {
    concurrency: options.concurrency,
    payloadBytes: options.payload.byteLength,
    proposals: sorted.length,
    seconds,
    perSecond: Math.round(sorted.length / seconds),
    latencyMs: {
      p50: round3(percentile(sorted, 50)),
      p99: round3(percentile(sorted, 99)),
      max: round3(sorted.length > 0 ? (sorted[sorted.length - 1] as number) : 0),
    },
  };
}
