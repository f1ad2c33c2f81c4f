import { fileURLToPath } from 'node:url';

/**
 * Where the tests' child processes import the store from: a plain-JS build of `src`,
 * made by `build-for-children.ts` before the tests run (children run without a TS loader).
 */
export const CHILD_STORE_MODULE = fileURLToPath(
  new URL('../../node_modules/.cache/kontiki-test-build/index.js', import.meta.url),
);
