import { setFlagsFromString } from 'node:v8';

/**
 * The kv-server executable's default from this many groups on (below it, V8 paces itself):
 * the election burst's garbage grows with the group count, while under a steady write load
 * the pacing costs throughput (more full collections; measured at 64 groups, docs/benchmarks.md).
 */
export const PACED_FROM_GROUPS = 1000;

/**
 * The kv-server executable's default with {@link PACED_FROM_GROUPS} groups or more: V8 starts
 * a full collection once the old generation has grown 35% past what the last one left live,
 * instead of up to 4x (V8 picks the factor from how fast it marks). Thousands of groups electing at once
 * promote hundreds of MiB of short-lived garbage; with V8's own pacing the heap grows to ~3x
 * its live size before the first full collection and keeps those pages (docs/ARCHITECTURE.md,
 * "The election burst and the heap"). Not a cap: the heap still grows as far as it must.
 */
export const MANY_GROUPS_HEAP_GROWING_PERCENT = 35;

/**
 * The executable's default for `groups` groups: {@link MANY_GROUPS_HEAP_GROWING_PERCENT} from
 * {@link PACED_FROM_GROUPS} on, else 0 (V8's own pacing).
 */
export function defaultHeapGrowingPercent(groups: number): number {
  return groups >= PACED_FROM_GROUPS ? MANY_GROUPS_HEAP_GROWING_PERCENT : 0;
}

/** Largest value accepted: a factor of 11 is already more than V8 ever picks by itself. */
export const MAX_HEAP_GROWING_PERCENT = 1000;

/**
 * Sets V8's heap growing factor for this process to 1 + percent/100, for every later full
 * collection; 0 gives the choice back to V8. V8 reads the setting at each collection, so it
 * may be changed while the process runs (a process-wide setting: call it from an
 * executable, not from a library).
 */
export function setHeapGrowingPercent(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0 || percent > MAX_HEAP_GROWING_PERCENT) {
    throw new RangeError(
      `heap growing percent must be an integer from 0 to ${MAX_HEAP_GROWING_PERCENT}, got ${percent}`,
    );
  }
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
