import { fileURLToPath } from 'node:url';

/**
 * Where the tests' child processes import the store from: a plain-JS build of `src`,
 * made by `build-for-children.ts` before the tests run (children run without a TS loader).
 */
export const CHILD_STORE_MODULE = fileURLToPath(
  new URL('../../node_modules/.cache/kontiki-test-build/index.js', import.meta.url),
);

/** The worker script of that build: stores opened by the tests (from `src`) run it. */
export const CHILD_WORKER_SCRIPT = new URL(
  '../../node_modules/.cache/kontiki-test-build/sqlite-worker.js',
  import.meta.url,
);
