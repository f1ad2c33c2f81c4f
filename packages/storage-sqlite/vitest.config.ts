import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: [
      {
        // src/worker-script.ts locates dist/sqlite-worker.js; from the sources, the worker
        // is the one the global setup built (test/support/build-for-children.ts).
        find: /^\.\/worker-script\.js$/,
        replacement: fileURLToPath(new URL('./test/support/worker-script.ts', import.meta.url)),
      },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/build-for-children.ts'],
    testTimeout: 30_000,
  },
});
