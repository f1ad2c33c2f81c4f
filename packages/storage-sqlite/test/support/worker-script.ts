import { CHILD_WORKER_SCRIPT } from './child-build.js';

/**
 * Stands in for `src/worker-script.ts` under vitest (see vitest.config.ts): the sources run
 * as TypeScript, but a worker thread needs JavaScript, so stores started by the tests run
 * the worker script built from the same sources by the global setup.
 */
export const WORKER_SCRIPT: URL = CHILD_WORKER_SCRIPT;
