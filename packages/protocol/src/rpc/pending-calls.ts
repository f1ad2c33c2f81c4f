import {
  AbortedError,
  BadRequestError,
  BusyError,
  type CallOptions,
  InvalidOptionError,
  type PeerId,
  type RaftError,
  type RpcMethod,
  type RpcResponse,
  TimeoutError,
} from '@kontiki/core';
import { CONNECTION_CALL_ID, type Frame } from '../frame.js';

export interface PendingCallsOptions {
  /** Calls waiting for an answer on this connection; one more fails with BUSY. */
  readonly maxPendingCalls: number;
  /** The deadline of a call whose caller gave none: no call waits forever. */
  readonly defaultTimeoutMs: number;
}

interface Pending {
  readonly callId: number;
  readonly method: RpcMethod;
  /** When the call times out, on `performance.now()`'s clock. */
  readonly deadline: number;
  resolve(response: RpcResponse<RpcMethod>): void;
  fail(error: RaftError): void;
  expire(): void;
}

type Timer = ReturnType<typeof setTimeout>;

// Node's timers can stop holding the process up; a browser's are plain numbers.
const unref = (timer: Timer | undefined): void =>
  void (timer as { unref?: () => void } | undefined)?.unref?.();
const ref = (timer: Timer | undefined): void =>
  void (timer as { ref?: () => void } | undefined)?.ref?.();

/**
 * Calls of one timeout, in the order started: their deadlines only grow along the queue.
 * Flat pairs `[callId, deadline, callId, deadline, ...]` (unboxed doubles): a call answered
 * long before its deadline stays here until the timer passes it, and must then cost 16 bytes,
 * not its closures (with heartbeats every 100 ms and a 10 s deadline, a leader of thousands of
 * groups has hundreds of thousands of such calls behind it).
 */
interface DeadlineQueue {
  items: number[];
  /** Index of the first pair not yet passed (even). */
  head: number;
}

/**
 * The caller's side of one connection: gives each call an id, keeps it until its answer,
 * its deadline or its abort, whichever comes first, and bounds how many wait at once.
 * It knows nothing of sockets: the transport passes `send`, which must write synchronously
 * in the order of the calls to `start` (that is what keeps calls in the order issued).
 *
 * Deadlines cost no timer per call: calls of the same timeout queue in the order started
 * (so in deadline order), and ONE timer per connection is armed for the earliest deadline of
 * a call still pending. Answered calls are dropped from the queues when the timer passes
 * them. A Raft leader makes tens of thousands of calls a second, nearly all answered long
 * before their deadline; a timer set and cleared for each was a measurable part of its CPU.
 */
export class PendingCalls {
  private readonly calls = new Map<number, Pending>();
  private nextCallId = CONNECTION_CALL_ID + 1;
  /** One queue per distinct timeout (a connection sees only a few). */
  private readonly queues = new Map<number, DeadlineQueue>();
  private timer: Timer | undefined;
  /** The deadline the timer is armed for. */
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(private readonly options: PendingCallsOptions) {
    if (!(Number.isInteger(options.maxPendingCalls) && options.maxPendingCalls > 0)) {
      throw new InvalidOptionError('maxPendingCalls', 'must be a positive integer');
    }
    if (!(options.defaultTimeoutMs > 0)) {
      throw new InvalidOptionError('defaultTimeoutMs', 'must be a positive number of ms');
    }
  }

  get size(): number {
    return this.calls.size;
  }

  /** @internal Calls the deadline queues still hold (answered ones not yet passed included). */
  get tracked(): number {
    let n = 0;
    for (const q of this.queues.values()) n += (q.items.length - q.head) / 2;
    return n;
  }

  /**
   * Starts a call: `send(callId, timeoutMs)` writes the request (it may throw, e.g. BUSY
   * when the socket's buffer is full, and the call then fails with that error).
   */
  start<M extends RpcMethod>(
    method: M,
    to: PeerId,
    options: CallOptions,
    send: (callId: number, timeoutMs: number) => void,
  ): Promise<RpcResponse<M>> {
    if (options.signal?.aborted) {
      return Promise.reject(new AbortedError(`call ${method} to ${to} aborted`));
    }
    if (this.calls.size >= this.options.maxPendingCalls) {
      return Promise.reject(
        new BusyError(`${this.calls.size} calls to ${to} are pending; retry later`),
      );
    }
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs;
    const callId = this.nextCallId++;
    return new Promise<RpcResponse<M>>((resolve, reject) => {
      const signal = options.signal;
      const finish = () => {
        this.calls.delete(callId);
        if (signal !== undefined) signal.removeEventListener('abort', onAbort);
        // An idle connection's timer does not hold the process up.
        if (this.calls.size === 0) unref(this.timer);
      };
      const onAbort = () => {
        finish();
        reject(new AbortedError(`call ${method} to ${to} aborted`, { cause: signal?.reason }));
      };
      const call: Pending = {
        callId,
        method,
        deadline: performance.now() + timeoutMs,
        resolve: (response) => {
          finish();
          resolve(response as RpcResponse<M>);
        },
        fail: (error) => {
          finish();
          reject(error);
        },
        expire: () => {
          finish();
          reject(new TimeoutError(`call ${method} to ${to} timed out after ${timeoutMs} ms`));
        },
      };
      this.calls.set(callId, call);
      this.track(call, timeoutMs);
      if (signal !== undefined) signal.addEventListener('abort', onAbort, { once: true });
      try {
        send(callId, timeoutMs);
      } catch (error) {
        finish();
        reject(error);
      }
    });
  }

  private track(call: Pending, timeoutMs: number): void {
    let queue = this.queues.get(timeoutMs);
    if (queue === undefined) {
      queue = { items: [], head: 0 };
      this.queues.set(timeoutMs, queue);
    }
    queue.items.push(call.callId, call.deadline);
    // Calls answered early pile up behind the head until the timer passes them: once they
    // outnumber the pending ones, keep only the pending (amortised O(1) per call).
    const calls = (queue.items.length - queue.head) / 2;
    if (calls > 1024 && calls > 4 * this.calls.size) this.compact(queue);
    if (call.deadline < this.armedFor) this.arm(call.deadline);
    else if (this.calls.size === 1) ref(this.timer);
  }

  private arm(deadline: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = deadline;
    this.timer = setTimeout(() => this.expire(deadline), Math.max(0, deadline - performance.now()));
    if (this.calls.size === 0) unref(this.timer);
  }

  /** The timer armed for `due` fired: every pending call due by then times out. */
  private expire(due: number): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    // The timer's own deadline counts as reached even if the clock read says otherwise (a
    // coarse clock, or timers that are not the real ones).
    const now = Math.max(due, performance.now());
    let next = Number.POSITIVE_INFINITY;
    for (const [timeoutMs, queue] of this.queues) {
      const { items } = queue;
      let head = queue.head;
      for (; head < items.length; head += 2) {
        const call = this.calls.get(items[head] as number);
        if (call === undefined) continue;
        if (call.deadline > now) break;
        call.expire();
      }
      if (head >= items.length) {
        this.queues.delete(timeoutMs);
        continue;
      }
      queue.head = head;
      // Drop what was passed, now and then, so the array does not grow without bound.
      if (head > 2048 && head * 2 > items.length) this.compact(queue);
      next = Math.min(next, queue.items[queue.head + 1] as number);
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }

  /** Keeps only the queue's calls still pending, in order. */
  private compact(queue: DeadlineQueue): void {
    const { items } = queue;
    const kept: number[] = [];
    for (let i = queue.head; i < items.length; i += 2) {
      if (this.calls.has(items[i] as number)) kept.push(items[i] as number, items[i + 1] as number);
    }
    queue.items = kept;
    queue.head = 0;
  }

  /**
   * Hands an answer to its call. An answer to a call that already ended (timed out,
   * aborted) is dropped. An error on call id 0 is about the connection and fails them all.
   */
  settle(frame: Frame): void {
    if (frame.kind === 'response') {
      const call = this.calls.get(frame.callId);
      if (call === undefined) return;
      if (call.method !== frame.method) {
        call.fail(new BadRequestError(`a ${call.method} call was answered as ${frame.method}`));
      } else {
        call.resolve(frame.response);
      }
    } else if (frame.kind === 'error' || frame.kind === 'invalid') {
      if (frame.callId === CONNECTION_CALL_ID) this.failAll(frame.error);
      else this.calls.get(frame.callId)?.fail(frame.error);
    }
  }

  /** Fails every pending call (the connection is gone). */
  failAll(error: RaftError): void {
    for (const call of [...this.calls.values()]) call.fail(error);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    this.queues.clear();
  }
}
