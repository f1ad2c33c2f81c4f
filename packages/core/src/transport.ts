import type { GroupRpcMethod, RpcMethod, RpcRequest, RpcResponse } from './messages.js';
import type { GroupId, PeerId } from './types.js';

export interface CallOptions {
  /** The call fails with TIMEOUT after this many milliseconds. */
  readonly timeoutMs?: number;
  /** Aborting fails the call with ABORTED. */
  readonly signal?: AbortSignal;
}

/**
 * What a transport knows of where a request came from. A node admits requests only from
 * members of its configurations; an authenticated sender it does not know yet (a member
 * added while this node was away) is admitted too, because the transport vouches for it.
 */
export interface RequestContext {
  /**
   * The sender proved it holds the cluster's credentials (a cluster token, or a client
   * certificate from the cluster's CA).
   */
  readonly authenticated: boolean;
  /** The peer id the sender's credentials name, when they name one (mutual TLS). */
  readonly peerId?: PeerId;
}

/**
 * What a node serves: one handler per RPC. A transport calls these, as methods of the handler
 * (`handler[method](request, context)`), for requests to its group; a method the handler
 * lacks (`hostHeartbeat`, which only a RaftHost serves) fails with BAD_REQUEST.
 */
export type RpcHandler = {
  [M in GroupRpcMethod]: (
    request: RpcRequest<M>,
    context?: RequestContext,
  ) => Promise<RpcResponse<M>>;
} & {
  [M in 'hostHeartbeat']?: (
    request: RpcRequest<M>,
    context?: RequestContext,
  ) => Promise<RpcResponse<M>>;
};

/**
 * A transport endpoint: the network plugin. One endpoint serves any number of Raft groups
 * (requests are routed by `groupId`) and calls any peer (by `request.to`).
 *
 * The contract, which `@kontiki/testkit/transport` states as tests:
 * - calls from one endpoint to the same peer reach the peer's handler in the order issued,
 *   per lane: a transport may give calls without entries or snapshot bytes (heartbeats,
 *   votes) a lane of their own that overtakes calls carrying them; core relies on no order
 *   between the lanes;
 * - any call may fail (typed RaftError: UNREACHABLE, TIMEOUT, ABORTED, UNKNOWN_GROUP, ...);
 * - `timeoutMs` and `signal` end a call;
 * - a handler's RaftError reaches the caller with the same `code`;
 * - a request for a group the peer does not serve fails with UNKNOWN_GROUP.
 */
export interface Transport {
  call<M extends RpcMethod>(
    method: M,
    request: RpcRequest<M>,
    options?: CallOptions,
  ): Promise<RpcResponse<M>>;
  /** Starts serving a group; returns a function that stops serving it. Throws if already served. */
  serve(groupId: GroupId, handler: RpcHandler): () => void;
  /** Closes every connection and stops serving; pending calls fail. Idempotent. */
  close(): Promise<void>;
}
