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
 * The caller's side of one connection: gives each call an id, keeps it until its answer,
 * its deadline or its abort, whichever comes first, and bounds how many wait at once.
 * It knows nothing of sockets: the transport passes `send`, which must write synchronously
 * in the order of the calls to `start` (that is what keeps calls in the order issued).
 *
 * Deadlines cost no timer per call: the calls' deadlines are kept in a min-heap of (deadline,
 * call id) and ONE timer per connection is armed for the earliest. A Raft leader makes tens of
 * thousands of calls a second, nearly all answered long before their deadline; a timer set and
 * cleared for each was a measurable part of its CPU. An answered call stays in the heap as 16
 * bytes (not its closures) until it reaches the top or the heap is compacted, which happens
 * once answered calls outnumber pending ones, and the heap is emptied whenever no call is
 * pending (with heartbeats every 100 ms and AppendEntries deadlines of seconds, a process of
 * thousands of groups would otherwise keep hundreds of thousands of answered calls).
 */
export class PendingCalls {
  private readonly calls = new Map<number, Pending>();
  private nextCallId = CONNECTION_CALL_ID + 1;
  /** Min-heap on deadline: `heapDeadlines[i]` is the deadline of call `heapIds[i]`. */
  private heapDeadlines: number[] = [];
  private heapIds: number[] = [];
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

  /** @internal Calls the deadline heap holds (answered ones not yet dropped included). */
  get tracked(): number {
    return this.heapIds.length;
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
        // Nothing pending: the heap holds only answered calls. The timer stays armed (a
        // connection that goes idle between calls would otherwise set a timer per call) but
        // does not hold the process up.
        if (this.calls.size === 0) {
          this.forgetDeadlines();
          unref(this.timer);
        }
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
      this.track(call);
      if (signal !== undefined) signal.addEventListener('abort', onAbort, { once: true });
      try {
        send(callId, timeoutMs);
      } catch (error) {
        finish();
        reject(error);
      }
    });
  }

  private track(call: Pending): void {
    // Answered calls pile up in the heap until they reach its top: once they outnumber the
    // pending ones, keep only the pending (amortised O(1) per call).
    const size = this.heapIds.length;
    if (size > 1024 && size > 4 * this.calls.size) this.compact();
    this.push(call.deadline, call.callId);
    if (call.deadline < this.armedFor) this.arm(call.deadline);
    else if (this.calls.size === 1) ref(this.timer);
  }

  private arm(deadline: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = deadline;
    // Whole milliseconds (Node keeps a timer list per distinct duration); never early.
    const ms = Math.max(0, Math.ceil(deadline - performance.now()));
    this.timer = setTimeout(() => this.expire(deadline), ms);
  }

  private forgetDeadlines(): void {
    this.heapDeadlines = [];
    this.heapIds = [];
  }

  /** The timer armed for `due` fired: every pending call due by then times out. */
  private expire(due: number): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    // The timer's own deadline counts as reached even if the clock read says otherwise (a
    // coarse clock, or timers that are not the real ones).
    const now = Math.max(due, performance.now());
    while (this.heapIds.length > 0) {
      const call = this.calls.get(this.heapIds[0] as number);
      // Answered (or aborted) calls at the top are dropped whatever their deadline.
      if (call !== undefined && call.deadline > now) break;
      this.pop();
      call?.expire();
    }
    if (this.heapIds.length > 0) this.arm(this.heapDeadlines[0] as number);
  }

  private push(deadline: number, callId: number): void {
    const d = this.heapDeadlines;
    const ids = this.heapIds;
    let i = d.length;
    d.push(deadline);
    ids.push(callId);
    // Sift up; calls of one timeout come in deadline order, so this mostly stops at once.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((d[parent] as number) <= deadline) break;
      d[i] = d[parent] as number;
      ids[i] = ids[parent] as number;
      i = parent;
    }
    d[i] = deadline;
    ids[i] = callId;
  }

  private pop(): void {
    const d = this.heapDeadlines;
    const ids = this.heapIds;
    const lastDeadline = d.pop() as number;
    const lastId = ids.pop() as number;
    if (d.length > 0) this.siftDown(0, lastDeadline, lastId);
  }

  /** Places (deadline, callId) at `start` or below, keeping the heap order. */
  private siftDown(start: number, deadline: number, callId: number): void {
    const d = this.heapDeadlines;
    const ids = this.heapIds;
    const n = d.length;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && (d[child + 1] as number) < (d[child] as number)) child++;
      if ((d[child] as number) >= deadline) break;
      d[i] = d[child] as number;
      ids[i] = ids[child] as number;
      i = child;
    }
    d[i] = deadline;
    ids[i] = callId;
  }

  /** Keeps only the calls still pending, and restores the heap order (O(n)). */
  private compact(): void {
    const d: number[] = [];
    const ids: number[] = [];
    for (let i = 0; i < this.heapIds.length; i++) {
      if (this.calls.has(this.heapIds[i] as number)) {
        d.push(this.heapDeadlines[i] as number);
        ids.push(this.heapIds[i] as number);
      }
    }
    this.heapDeadlines = d;
    this.heapIds = ids;
    for (let i = (d.length >> 1) - 1; i >= 0; i--) {
      this.siftDown(i, d[i] as number, ids[i] as number);
    }
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
    this.forgetDeadlines();
  }
}
