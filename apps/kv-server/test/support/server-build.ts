import { fileURLToPath } from 'node:url';

/**
 * The kv-server entry the multi-process tests run: a plain-JS build of `src/main.ts` made by
 * `build-server.ts` before the tests, from the current sources (never a stale `dist`).
 */
export const SERVER_SCRIPT = fileURLToPath(
  new URL('../../node_modules/.cache/kontiki-test-build/main.js', import.meta.url),
);
