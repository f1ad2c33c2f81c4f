import type { RpcMethod, RpcRequest } from '@kontiki/core';

/**
 * Which connection a call travels on. `data`: calls that carry log entries or snapshot bytes;
 * `control`: every other call (heartbeats, votes, TimeoutNow, ReadIndex), a few dozen bytes
 * each. Each lane keeps its calls in the order issued; a control call may overtake data calls,
 * so that a heartbeat is not read after megabytes of AppendEntries queued before it (a
 * follower that hears nothing for an election timeout starts an election; a leader whose
 * acknowledgements come back late steps down by check-quorum).
 *
 * Why overtaking is safe for Raft: nothing in Raft depends on delivery order (the paper
 * assumes a network that reorders); a heartbeat names the follower's acknowledged match
 * index, so it never asks for entries still in flight; votes, TimeoutNow and ReadIndex do not
 * touch the log. The chunks of a snapshot stay in order: they all travel as data.
 */
export type Lane = 'data' | 'control' | 'host';

/**
 * `host`: the node-level heartbeat of a RaftHost has a connection of its own. With thousands
 * of groups the control lane carries thousands of votes and heartbeats a second; the beat that
 * tells a peer this endpoint is alive (and quiets those groups) must not wait behind them.
 */
export function laneOf<M extends RpcMethod>(method: M, request: RpcRequest<M>): Lane {
  if (method === 'hostHeartbeat') return 'host';
  if (method === 'installSnapshot') return 'data';
  if (method === 'appendEntries') {
    return (request as RpcRequest<'appendEntries'>).entries.length > 0 ? 'data' : 'control';
  }
  return 'control';
}
