/** The CI sweep: 4 parts (test files run in parallel) x 125 seeds = 500 seeds. */
export const SWEEP = { seedsPerPart: 125, steps: 10_000 } as const;
