/**
 * Where the worker's entry script is: built next to the module that holds this line
 * (dist/sqlite-worker.js). The package's vitest config points this module elsewhere (a
 * build of the sources made before the tests run): a worker cannot run TypeScript.
 */
export const WORKER_SCRIPT: URL = new URL('./sqlite-worker.js', import.meta.url);
