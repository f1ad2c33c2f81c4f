import {
  BadRequestError,
  type GroupId,
  InternalError,
  type RequestContext,
  type RpcHandler,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
  UnknownGroupError,
} from '@kontiki/core';
import { encodeErrorFrame, encodeResponseFrame, type Frame } from '../frame.js';

type RequestFrame = Extract<Frame, { kind: 'request' }>;

/**
 * The server's side of an endpoint: the Raft groups it hosts (multi-raft) and the dispatch
 * of a request to its group's handler.
 */
export class GroupRouter {
  private readonly handlers = new Map<GroupId, RpcHandler>();

  get size(): number {
    return this.handlers.size;
  }

  /** Starts serving a group; returns the function that stops serving it. */
  serve(groupId: GroupId, handler: RpcHandler): () => void {
    if (typeof groupId !== 'string') throw new BadRequestError('a group id must be a string');
    if (this.handlers.has(groupId)) {
      throw new BadRequestError(`group ${groupId} is already served here`);
    }
    this.handlers.set(groupId, handler);
    return () => {
      if (this.handlers.get(groupId) === handler) this.handlers.delete(groupId);
    };
  }

  clear(): void {
    this.handlers.clear();
  }

  /**
   * Calls the group's handler. The handler is invoked before this returns (synchronously),
   * so requests dispatched in order reach handlers in order.
   */
  dispatch<M extends RpcMethod>(
    method: M,
    request: RpcRequest<M>,
    context?: RequestContext,
  ): Promise<RpcResponse<M>> {
    const handler = this.handlers.get(request.groupId);
    if (handler === undefined) return Promise.reject(new UnknownGroupError(request.groupId));
    const fn = handler[method] as
      | ((r: RpcRequest<M>, c?: RequestContext) => Promise<RpcResponse<M>>)
      | undefined;
    if (typeof fn !== 'function') {
      return Promise.reject(
        new BadRequestError(`group ${JSON.stringify(request.groupId)} does not serve ${method}`),
      );
    }
    try {
      return Promise.resolve(fn.call(handler, request, context));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Dispatches a decoded request and encodes its answer: the response, or the handler's
   * error by code. Resolves undefined when the caller's deadline passed meanwhile (nobody
   * waits for that answer any more). Never rejects.
   */
  answer(
    frame: RequestFrame,
    context?: RequestContext,
    now: () => number = Date.now,
  ): Promise<Uint8Array | undefined> {
    const deadline = frame.timeoutMs > 0 ? now() + frame.timeoutMs : Number.POSITIVE_INFINITY;
    return this.dispatch(frame.method, frame.request, context).then(
      (response) => {
        if (now() > deadline) return undefined;
        try {
          return encodeResponseFrame(frame.callId, frame.method, response);
        } catch (error) {
          // The handler returned something that is not a valid response: the server's fault.
          const reason = error instanceof Error ? error.message : String(error);
          return encodeErrorFrame(
            frame.callId,
            new InternalError(`handler returned an invalid ${frame.method} response: ${reason}`),
          );
        }
      },
      (error: unknown) => (now() > deadline ? undefined : encodeErrorFrame(frame.callId, error)),
    );
  }
}
