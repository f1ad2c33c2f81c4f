export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)] as number;
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** p50, p99 and max of latencies in milliseconds (nearest-rank percentiles). */
export function summarize(latencies: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(latencies).sort();
  return {
    p50: round3(percentile(sorted, 50)),
    p99: round3(percentile(sorted, 99)),
    max: round3(sorted.length > 0 ? (sorted[sorted.length - 1] as number) : 0),
  };
}
