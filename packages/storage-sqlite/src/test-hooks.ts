import type { EngineHooks } from './store-engine.js';

/**
 * Instrumentation for this package's own tests; not part of the public API (not exported
 * from the package). Passed to `openSqliteStore` in sqlite-store.ts.
 */
export interface TestHooks {
  /**
   * Every write transaction blocks its thread this long before its COMMIT, as a slow fsync
   * would: shows what the event loop does meanwhile.
   */
  readonly commitDelayMs?: number;
  /** The worker thread exits, as if it crashed, just before this COMMIT (1 = the first). */
  readonly exitAtCommit?: number;
}

/** The engine hooks for `hooks`; `exit` ends the thread the engine runs on. */
export function engineHooks(hooks: TestHooks, exit: () => void): EngineHooks {
  const { commitDelayMs = 0, exitAtCommit } = hooks;
  if (commitDelayMs <= 0 && exitAtCommit === undefined) return {};
  let commits = 0;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  return {
    beforeCommit: () => {
      commits++;
      if (exitAtCommit === commits) exit();
      // Blocks the thread without burning CPU: nothing on it runs meanwhile.
      if (commitDelayMs > 0) Atomics.wait(sleeper, 0, 0, commitDelayMs);
    },
  };
}
