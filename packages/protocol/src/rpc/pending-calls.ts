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
  readonly method: RpcMethod;
  resolve(response: RpcResponse<RpcMethod>): void;
  fail(error: RaftError): void;
}

/**
 * The caller's side of one connection: gives each call an id, keeps it until its answer,
 * its deadline or its abort, whichever comes first, and bounds how many wait at once.
 * It knows nothing of sockets: the transport passes `send`, which must write synchronously
 * in the order of the calls to `start` (that is what keeps calls in the order issued).
 */
export class PendingCalls {
  private readonly calls = new Map<number, Pending>();
  private nextCallId = CONNECTION_CALL_ID + 1;

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
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        finish();
        reject(new AbortedError(`call ${method} to ${to} aborted`, { cause: signal?.reason }));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new TimeoutError(`call ${method} to ${to} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.calls.set(callId, {
        method,
        resolve: (response) => {
          finish();
          resolve(response as RpcResponse<M>);
        },
        fail: (error) => {
          finish();
          reject(error);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        send(callId, timeoutMs);
      } catch (error) {
        finish();
        reject(error);
      }
    });
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
  }
}
