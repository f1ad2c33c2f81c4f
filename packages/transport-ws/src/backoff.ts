/**
 * Reconnect back-off for one peer: after a connection attempt that never opened, wait
 * `initialMs`, then twice that, up to `maxMs`, before trying again. A connection that did
 * open and later dropped may be retried at once (the peer was there a moment ago).
 */
export class Backoff {
  private failures = 0;
  private retryAt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until a new attempt is allowed (0: now). */
  waitMs(): number {
    return Math.max(0, this.retryAt - this.now());
  }

  failed(): void {
    this.failures++;
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures - 1, 30));
    this.retryAt = this.now() + delay;
  }

  succeeded(): void {
    this.failures = 0;
    this.retryAt = 0;
  }
}
