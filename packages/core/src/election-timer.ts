import type { ResolvedOptions } from './options.js';
import { RaftTimer } from './timer.js';

/**
 * A follower's election timer (braft's ElectionTimer): fires a random time in [T, 2T) after
 * it is armed, counted from the moment given. The node re-arms it from the leader's last
 * contact when it fires early, so a dead leader is noticed within 2T of its last word, not a
 * whole new period later (braft issue #481).
 */
export class ElectionTimer {
  private readonly timer: RaftTimer;

  constructor(
    private readonly options: ResolvedOptions<unknown>,
    onTimeout: () => void,
  ) {
    this.timer = new RaftTimer(options.clock, onTimeout);
  }

  /** Arms the timer to fire T + random·T after `from` (default: now), at least 1 ms from now. */
  arm(from = this.options.clock.now()): void {
    const t = this.options.electionTimeoutMs;
    const due = from + t + this.options.random() * t;
    this.timer.start(Math.max(1, due - this.options.clock.now()));
  }

  stop(): void {
    this.timer.stop();
  }

  get armed(): boolean {
    return this.timer.armed;
  }

  /** When the armed timer fires, on the clock's scale. */
  get dueAt(): number {
    return this.timer.dueAt;
  }
}
