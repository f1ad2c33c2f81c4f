import type { Clock } from './clock.js';
import { AbortedError, type RaftError, ShutdownError, TimeoutError } from './errors.js';
import type { PeerId } from './types.js';

export interface WaitOptions {
  /** Give up after this many ms with TIMEOUT (default: wait until the node stops). */
  readonly timeoutMs?: number;
  /** Stop waiting with ABORTED. */
  readonly signal?: AbortSignal;
}

interface Waiter {
  settle(outcome: PeerId | RaftError): void;
}

/** Callers of `waitForLeader`, each with its own deadline and signal. */
export class LeaderWaiters {
  /** Created with the first waiter (thousands of nodes in a process never have one). */
  private waiters: Set<Waiter> | undefined;

  constructor(
    private readonly clock: Clock,
    /** The leader to report now, if any: another node, or this one once it can serve. */
    private readonly readyLeader: () => PeerId | undefined,
  ) {}

  wait(options: WaitOptions, stopped: boolean): Promise<PeerId> {
    const ready = this.readyLeader();
    if (ready !== undefined) return Promise.resolve(ready);
    if (stopped) return Promise.reject(new ShutdownError());
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(new AbortedError());
    return new Promise<PeerId>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : this.clock.setTimer(
              () => waiter.settle(new TimeoutError(`no leader within ${timeoutMs} ms`)),
              timeoutMs,
            );
      const onAbort = () => waiter.settle(new AbortedError());
      const waiter: Waiter = {
        settle: (outcome) => {
          if (!this.waiters?.delete(waiter)) return;
          if (timer !== undefined) this.clock.clearTimer(timer);
          signal?.removeEventListener('abort', onAbort);
          if (typeof outcome === 'string') resolve(outcome);
          else reject(outcome);
        },
      };
      this.waiters ??= new Set();
      this.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The leader may be known now: if so, every waiter resolves with it. */
  check(): void {
    const leader = this.readyLeader();
    if (leader === undefined || this.waiters === undefined || this.waiters.size === 0) return;
    for (const w of [...this.waiters]) w.settle(leader);
  }

  /** The node stopped: every waiter fails with `error`. */
  rejectAll(error: RaftError): void {
    for (const w of [...(this.waiters ?? [])]) w.settle(error);
  }
}
