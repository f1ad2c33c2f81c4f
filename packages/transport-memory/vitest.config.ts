import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    // Until this package has tests of its own, an empty run is not a failure.
    passWithNoTests: true,
  },
});
