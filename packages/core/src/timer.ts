import type { Clock, TimerHandle } from './clock.js';

/**
 * A one-shot timer on the injected clock that can be re-armed (braft's RepeatedTimerTask,
 * minus the repetition: each Raft timer decides its next delay when it fires).
 */
export class RaftTimer {
  private handle: TimerHandle | undefined;
  private deadline = 0;

  constructor(
    private readonly clock: Clock,
    private readonly onFire: () => void,
  ) {}

  /** Arms the timer to fire after `delayMs`, replacing any earlier arming. */
  start(delayMs: number): void {
    this.stop();
    this.deadline = this.clock.now() + delayMs;
    this.handle = this.clock.setTimer(() => {
      this.handle = undefined;
      this.onFire();
    }, delayMs);
  }

  stop(): void {
    if (this.handle !== undefined) {
      this.clock.clearTimer(this.handle);
      this.handle = undefined;
    }
  }

  get armed(): boolean {
    return this.handle !== undefined;
  }

  /** When the armed timer fires, on the clock's scale. */
  get dueAt(): number {
    return this.deadline;
  }
}
