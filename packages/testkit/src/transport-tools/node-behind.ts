import {
  type Logger,
  RaftNode,
  type RequestContext,
  RPC_METHODS,
  type RpcHandler,
  type RpcMethod,
  type RpcRequest,
  silentLogger,
  type Transport,
} from '@kontiki/core';
import { MemoryLogStorage, MemoryMetaStorage } from '@kontiki/storage-memory';

/** What a hostile peer must not be able to change on the node behind an endpoint. */
export interface NodeFacts {
  readonly term: number;
  readonly role: string;
  readonly leaderId: string | undefined;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly commitIndex: number;
  readonly voters: readonly string[];
}

/** A real Raft node served by a transport under test, and what reached its handler. */
export interface NodeBehind {
  readonly node: RaftNode<string>;
  readonly peerId: string;
  readonly groupId: string;
  /** Requests that reached the node's handler, by method. */
  readonly reached: ReadonlyMap<RpcMethod, number>;
  /** Requests that reached the node's handler, in all; and the senders they named. */
  reachedTotal(): number;
  readonly senders: ReadonlySet<string>;
  facts(): NodeFacts;
  /** Proposes one write; resolves with its index once applied (acknowledged). */
  write(value: string): Promise<number>;
  /** Every value applied, in order. */
  readonly applied: readonly string[];
  close(): Promise<void>;
}

export interface NodeBehindOptions {
  readonly peerId: string;
  readonly groupId?: string;
  /** Election timeout of the node (it is alone, so it elects itself after one). Default 100 ms. */
  readonly electionTimeoutMs?: number;
  readonly logger?: Logger;
}

/**
 * Starts a one-voter Raft node (memory storage) served by `transport`, with a spy between
 * the transport and the node's handler, and waits until it leads. For tests that send
 * hostile input to an endpoint: the spy tells whether anything reached the node, and
 * `facts()` whether anything changed its term, log or membership.
 */
export async function nodeBehind(
  transport: Transport,
  options: NodeBehindOptions,
): Promise<NodeBehind> {
  const groupId = options.groupId ?? 'g';
  const reached = new Map<RpcMethod, number>();
  const senders = new Set<string>();
  const applied: string[] = [];
  const decoder = new TextDecoder();
  const spied: Transport = {
    call: (method, request, callOptions) => transport.call(method, request, callOptions),
    close: () => transport.close(),
    serve(group, handler) {
      const wrapped = {} as Record<
        RpcMethod,
        (r: RpcRequest<RpcMethod>, c?: RequestContext) => Promise<unknown>
      >;
      for (const method of RPC_METHODS) {
        const inner = handler[method] as (
          r: RpcRequest<RpcMethod>,
          c?: RequestContext,
        ) => Promise<unknown>;
        wrapped[method] = (request, context) => {
          reached.set(method, (reached.get(method) ?? 0) + 1);
          senders.add(request.from);
          return inner.call(handler, request, context);
        };
      }
      return transport.serve(group, wrapped as unknown as RpcHandler);
    },
  };
  const node = new RaftNode<string>({
    groupId,
    peerId: options.peerId,
    initialConfiguration: { voters: [options.peerId] },
    transport: spied,
    logStorage: new MemoryLogStorage(),
    metaStorage: new MemoryMetaStorage(),
    electionTimeoutMs: options.electionTimeoutMs ?? 100,
    logger: options.logger ?? silentLogger,
    stateMachine: {
      onApply: (entries) =>
        entries.map((e) => {
          const value = decoder.decode(e.data);
          applied.push(value);
          return value;
        }),
    },
  });
  await node.start();
  const deadline = Date.now() + 10_000;
  while (!node.isLeader) {
    if (Date.now() > deadline) throw new Error(`${options.peerId} did not elect itself in 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // The leader's first entry of its term (a configuration entry) commits before writes.
  await node.readIndex();
  const encoder = new TextEncoder();
  return {
    node,
    peerId: options.peerId,
    groupId,
    reached,
    senders,
    applied,
    reachedTotal: () => [...reached.values()].reduce((a, b) => a + b, 0),
    facts() {
      const s = node.status();
      return {
        term: s.term,
        role: s.role,
        leaderId: s.leaderId,
        lastLogIndex: s.lastLogIndex,
        lastLogTerm: s.lastLogTerm,
        commitIndex: s.commitIndex,
        voters: [...s.configuration.voters],
      };
    },
    async write(value) {
      const { index } = await node.apply(encoder.encode(value), {
        signal: AbortSignal.timeout(5_000),
      });
      return index;
    },
    close: () => node.shutdown(),
  };
}
