import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `condition` until it holds, failing after `timeoutMs`: a bounded wait on state,
 * never a fixed sleep standing in for an event.
 */
export async function waitUntil(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}
