import { TimeoutError } from '@kontiki/core';

interface Waiting {
  readonly deadline: number;
  done: boolean;
  readonly expire: () => void;
}

/**
 * The deadline of every write of one API, without a timer per write: writes all get the same
 * timeout, so their deadlines come in the order they started; they wait in that order, and
 * ONE timer is armed for the earliest deadline of a write still waiting. (An
 * `AbortSignal.timeout` per request, as before, cost a timer, an AbortSignal and two event
 * listeners per write: several percent of a leader's CPU under load.)
 *
 * A write past its deadline fails with TIMEOUT; like an aborted `apply`, its entry stays in
 * the log and may still be applied (outcome unknown), which is what the APIs tell clients.
 */
export class WriteDeadlines {
  private queue: Waiting[] = [];
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly timeoutMs: number) {}

  /** `write`, or TIMEOUT once `timeoutMs` have passed without its settling. */
  race<T>(write: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiting: Waiting = {
        deadline: performance.now() + this.timeoutMs,
        done: false,
        expire: () =>
          reject(
            new TimeoutError(
              `the write was not applied within ${this.timeoutMs} ms; it may still be`,
            ),
          ),
      };
      this.queue.push(waiting);
      if (this.timer === undefined) this.arm(waiting.deadline);
      write.then(
        (value) => {
          if (waiting.done) return;
          waiting.done = true;
          resolve(value);
        },
        (error: unknown) => {
          if (waiting.done) return;
          waiting.done = true;
          reject(error);
        },
      );
    });
  }

  /** Fails nothing: writes still waiting keep their promises; no timer is left behind. */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(deadline: number): void {
    this.timer = setTimeout(() => this.fire(deadline), Math.max(0, deadline - performance.now()));
    // Pending writes do not hold the process up; the server does.
    this.timer.unref();
  }

  private fire(due: number): void {
    this.timer = undefined;
    // The timer's own deadline counts as reached, whatever a coarse clock reads.
    const now = Math.max(due, performance.now());
    const q = this.queue;
    let head = this.head;
    for (; head < q.length; head++) {
      const w = q[head] as Waiting;
      if (w.done) continue;
      if (w.deadline > now) break;
      w.done = true;
      w.expire();
    }
    if (head >= q.length) {
      this.queue = [];
      this.head = 0;
      return;
    }
    if (head > 1024 && head * 2 > q.length) {
      this.queue = q.slice(head);
      head = 0;
    }
    this.head = head;
    this.arm((this.queue[head] as Waiting).deadline);
  }
}
