import {
  AbortedError,
  BadRequestError,
  type CallOptions,
  type Clock,
  errorFromCode,
  type GroupId,
  isRpcMethod,
  type PeerId,
  RaftError,
  type RandomSource,
  type RequestContext,
  type RpcHandler,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
  systemClock,
  systemRandom,
  TimeoutError,
  type Transport,
  UnknownGroupError,
  UnreachableError,
} from '@kontiki/core';

/** One message on the memory network, as a filter sees it. */
export interface NetworkMessage {
  readonly kind: 'request' | 'response';
  readonly method: RpcMethod;
  readonly from: PeerId;
  readonly to: PeerId;
  readonly groupId: GroupId;
  readonly payload: unknown;
}

/**
 * What a filter decides for one message: deliver (optionally after `delayMs`), or drop. With
 * `overtake`, the message leaves its link's FIFO order: later messages may arrive before it
 * (a reply held back for seconds while others pass: long reordering).
 */
export type FilterVerdict = 'deliver' | 'drop' | { delayMs: number; overtake?: boolean };

export interface MemoryNetworkOptions {
  /** Timers for delays and call deadlines (default: the real clock). */
  clock?: Clock;
  /** Randomness for drop, duplicate and delay faults (default Math.random). */
  random?: RandomSource;
  /**
   * Runs a zero-delay delivery. Default: setImmediate with the real clock (so I/O and timers
   * run between messages), a 0 ms timer on a custom clock.
   */
  immediate?: (fn: () => void) => void;
  /**
   * Whether endpoints count as authenticated members of one cluster, as with a cluster token
   * or mutual TLS on a real network (default false: like a transport with no credentials).
   * Nodes then admit requests from peers they do not know yet. Either way every request
   * carries its sender's endpoint address as the proven peer id.
   */
  authenticated?: boolean;
}

export interface NetworkStats {
  requests: number;
  responses: number;
  dropped: number;
  duplicated: number;
}

interface PendingCall {
  readonly from: PeerId;
  readonly to: PeerId;
  fail(error: RaftError): void;
}

const linkKey = (from: PeerId, to: PeerId) => `${from}\u0000${to}`;

/**
 * An in-process network of transport endpoints, with fault injection: drops, delays,
 * duplicates, reordering, partitions, one-way cuts and arbitrary per-message filters.
 *
 * Links are FIFO (like a TCP connection) unless `setReorder(true)`: a message never
 * overtakes an earlier one on the same link, even with random delays.
 */
export class MemoryNetwork {
  private readonly endpoints = new Map<PeerId, MemoryTransport>();
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly immediate: (fn: () => void) => void;
  private readonly authenticated: boolean;
  private readonly blocked = new Set<string>();
  /** FIFO mode: per link, the messages waiting, in sending order, and whether a timer is armed. */
  private readonly links = new Map<
    string,
    { queue: Array<{ at: number; deliver: () => void }>; armed: boolean }
  >();
  private readonly pending = new Set<PendingCall>();
  private dropRate = 0;
  private duplicateRate = 0;
  private delayMin = 0;
  private delayMax = 0;
  private reorder = false;
  private filter: ((message: NetworkMessage) => FilterVerdict) | undefined;
  readonly stats: NetworkStats = { requests: 0, responses: 0, dropped: 0, duplicated: 0 };

  constructor(options: MemoryNetworkOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? systemRandom;
    this.authenticated = options.authenticated ?? false;
    if (options.immediate) this.immediate = options.immediate;
    else if (options.clock) this.immediate = (fn) => this.clock.setTimer(fn, 0);
    else this.immediate = defaultImmediate;
  }

  /** The endpoint at `address`, created on first use (again after it was closed). */
  endpoint(address: PeerId): MemoryTransport {
    if (typeof address !== 'string' || address.length === 0) {
      throw new BadRequestError('an endpoint address must be a non-empty string');
    }
    let ep = this.endpoints.get(address);
    if (!ep) {
      ep = new MemoryTransport(this, address);
      this.endpoints.set(address, ep);
    }
    return ep;
  }

  /** Peers in different groups cannot reach each other; peers not named keep every link. */
  partition(...groups: readonly (readonly PeerId[])[]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i] ?? [])
          for (const b of groups[j] ?? []) this.blocked.add(linkKey(a, b));
      }
    }
  }

  /** Cuts every link to and from `peer`, given every peer it may talk to. */
  isolate(peer: PeerId, others: readonly PeerId[]): void {
    for (const o of others) {
      if (o === peer) continue;
      this.blocked.add(linkKey(peer, o));
      this.blocked.add(linkKey(o, peer));
    }
  }

  /** Cuts the link from `from` to `to` only (responses and requests alike). */
  cut(from: PeerId, to: PeerId): void {
    this.blocked.add(linkKey(from, to));
  }

  restore(from: PeerId, to: PeerId): void {
    this.blocked.delete(linkKey(from, to));
  }

  /** Restores every link and turns every fault off. */
  heal(): void {
    this.blocked.clear();
    this.dropRate = 0;
    this.duplicateRate = 0;
    this.delayMin = 0;
    this.delayMax = 0;
    this.reorder = false;
  }

  isBlocked(from: PeerId, to: PeerId): boolean {
    return this.blocked.has(linkKey(from, to));
  }

  setDropRate(rate: number): void {
    this.dropRate = checkRate('dropRate', rate);
  }

  setDuplicateRate(rate: number): void {
    this.duplicateRate = checkRate('duplicateRate', rate);
  }

  /** Every message waits a random time in [minMs, maxMs]. */
  setDelay(minMs: number, maxMs = minMs): void {
    if (!(minMs >= 0 && maxMs >= minMs)) throw new BadRequestError('delay needs 0 <= min <= max');
    this.delayMin = minMs;
    this.delayMax = maxMs;
  }

  /** Lets messages on one link overtake each other. */
  setReorder(on: boolean): void {
    this.reorder = on;
  }

  /** Decides each message's fate before the random faults do; undefined removes it. */
  setFilter(filter: ((message: NetworkMessage) => FilterVerdict) | undefined): void {
    this.filter = filter;
  }

  /** @internal */
  detach(address: PeerId, endpoint: MemoryTransport): void {
    if (this.endpoints.get(address) === endpoint) this.endpoints.delete(address);
    for (const call of [...this.pending]) {
      if (call.from === address || call.to === address) {
        call.fail(new UnreachableError(call.to, `connection to ${call.to} closed`));
      }
    }
  }

  /** @internal */
  isOpen(address: PeerId, endpoint: MemoryTransport): boolean {
    return this.endpoints.get(address) === endpoint;
  }

  /** @internal */
  call<M extends RpcMethod>(
    from: MemoryTransport,
    method: M,
    request: RpcRequest<M>,
    options: CallOptions,
  ): Promise<RpcResponse<M>> {
    const to = request.to;
    return new Promise<RpcResponse<M>>((resolve, reject) => {
      let timer: unknown;
      let done = false;
      const finish = () => {
        done = true;
        this.pending.delete(call);
        if (timer !== undefined) this.clock.clearTimer(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const call: PendingCall = {
        from: from.address,
        to,
        fail: (error) => {
          if (done) return;
          finish();
          reject(error);
        },
      };
      const onAbort = () => call.fail(new AbortedError(`call ${method} to ${to} aborted`));
      if (options.signal?.aborted) {
        reject(new AbortedError(`call ${method} to ${to} aborted`));
        return;
      }
      this.pending.add(call);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = this.clock.setTimer(
          () =>
            call.fail(
              new TimeoutError(`call ${method} to ${to} timed out after ${options.timeoutMs} ms`),
            ),
          options.timeoutMs,
        );
      }
      const target = this.endpoints.get(to);
      if (!target || !this.isOpen(from.address, from)) {
        // Fail like a refused connection: asynchronously, never inside the caller's turn.
        this.immediate(() => call.fail(new UnreachableError(to, `no endpoint at ${to}`)));
        return;
      }
      const reply = (
        outcome: { ok: true; value: RpcResponse<M> } | { ok: false; error: RaftError },
      ) => {
        this.transmit(
          {
            kind: 'response',
            method,
            from: to,
            to: from.address,
            groupId: request.groupId,
            payload: outcome,
          },
          () => {
            if (outcome.ok) {
              if (done) return;
              finish();
              resolve(outcome.value);
            } else {
              call.fail(outcome.error);
            }
          },
        );
      };
      let answered = false;
      const deliver = () => {
        // A duplicate still reaches the handler after the call was answered: that is what
        // a duplicated message does to a real receiver.
        const ep = this.endpoints.get(to);
        if (!ep) return;
        const first = !answered;
        answered = true;
        ep.dispatch(method, request, {
          authenticated: this.authenticated,
          peerId: from.address,
        }).then(
          (value) => {
            if (first) reply({ ok: true, value });
          },
          (error: unknown) => {
            if (first) reply({ ok: false, error: wireError(error) });
          },
        );
      };
      this.transmit(
        {
          kind: 'request',
          method,
          from: from.address,
          to,
          groupId: request.groupId,
          payload: request,
        },
        deliver,
      );
    });
  }

  private transmit(message: NetworkMessage, deliver: () => void): void {
    if (message.kind === 'request') this.stats.requests++;
    else this.stats.responses++;
    if (this.blocked.has(linkKey(message.from, message.to))) {
      this.stats.dropped++;
      return;
    }
    let delay = 0;
    let overtake = false;
    if (this.filter) {
      const verdict = this.filter(message);
      if (verdict === 'drop') {
        this.stats.dropped++;
        return;
      }
      if (typeof verdict === 'object') {
        delay = verdict.delayMs;
        overtake = verdict.overtake === true;
      }
    }
    if (this.dropRate > 0 && this.random() < this.dropRate) {
      this.stats.dropped++;
      return;
    }
    if (this.delayMax > 0) delay += this.delayMin + this.random() * (this.delayMax - this.delayMin);
    this.schedule(message, delay, deliver, overtake);
    if (this.duplicateRate > 0 && this.random() < this.duplicateRate) {
      this.stats.duplicated++;
      this.schedule(message, delay + this.random() * (this.delayMax + 1), deliver, overtake);
    }
  }

  private schedule(
    message: NetworkMessage,
    delay: number,
    deliver: () => void,
    overtake: boolean,
  ): void {
    if (this.reorder || overtake) {
      if (delay <= 0) this.immediate(deliver);
      else this.clock.setTimer(deliver, delay);
      return;
    }
    // FIFO per link: a queue per link and one timer for its head. Timers of the real clock
    // do not fire strictly in due order (rounding, and a due timer may still be pending when
    // a later message is ready at once), so the order must not rest on them.
    const key = linkKey(message.from, message.to);
    let link = this.links.get(key);
    if (!link) {
      link = { queue: [], armed: false };
      this.links.set(key, link);
    }
    const last = link.queue[link.queue.length - 1];
    link.queue.push({ at: Math.max(this.clock.now() + delay, last?.at ?? 0), deliver });
    if (!link.armed) this.armLink(key, link);
  }

  /** Delivers the head of a link's queue when it is due, one message per turn. */
  private armLink(
    key: string,
    link: { queue: Array<{ at: number; deliver: () => void }>; armed: boolean },
  ): void {
    const head = link.queue[0];
    if (!head) {
      link.armed = false;
      this.links.delete(key);
      return;
    }
    link.armed = true;
    const fire = () => {
      const due = link.queue[0];
      if (!due) {
        link.armed = false;
        return;
      }
      if (due.at > this.clock.now()) {
        // Woken early (a rounded timer): wait for the rest.
        this.clock.setTimer(fire, due.at - this.clock.now());
        return;
      }
      link.queue.shift();
      due.deliver();
      this.armLink(key, link);
    };
    const wait = head.at - this.clock.now();
    if (wait <= 0) this.immediate(fire);
    else this.clock.setTimer(fire, wait);
  }
}

/** One endpoint of a MemoryNetwork: a Transport serving any number of groups. */
export class MemoryTransport implements Transport {
  private readonly handlers = new Map<GroupId, RpcHandler>();
  private closed = false;

  constructor(
    private readonly network: MemoryNetwork,
    readonly address: PeerId,
  ) {}

  call<M extends RpcMethod>(
    method: M,
    request: RpcRequest<M>,
    options: CallOptions = {},
  ): Promise<RpcResponse<M>> {
    if (this.closed) return Promise.reject(new UnreachableError(request.to, 'transport is closed'));
    if (!isRpcMethod(method))
      return Promise.reject(new BadRequestError(`unknown method ${String(method)}`));
    return this.network.call(this, method, request, options);
  }

  serve(groupId: GroupId, handler: RpcHandler): () => void {
    if (this.closed) throw new BadRequestError('transport is closed');
    if (this.handlers.has(groupId))
      throw new BadRequestError(`group ${groupId} is already served here`);
    this.handlers.set(groupId, handler);
    return () => {
      if (this.handlers.get(groupId) === handler) this.handlers.delete(groupId);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handlers.clear();
    this.network.detach(this.address, this);
  }

  /** @internal */
  dispatch<M extends RpcMethod>(
    method: M,
    request: RpcRequest<M>,
    context: RequestContext,
  ): Promise<RpcResponse<M>> {
    const handler = this.handlers.get(request.groupId);
    if (!handler) return Promise.reject(new UnknownGroupError(request.groupId));
    try {
      const fn = handler[method] as (
        r: RpcRequest<M>,
        c: RequestContext,
      ) => Promise<RpcResponse<M>>;
      return fn.call(handler, request, context);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** Errors cross the network by code and message, as they would over a real wire. */
function wireError(error: unknown): RaftError {
  if (RaftError.is(error)) {
    const details: { leaderId?: string; groupId?: string; peerId?: string } = {};
    const e = error as RaftError & { leaderId?: string; groupId?: string; peerId?: string };
    if (e.leaderId !== undefined) details.leaderId = e.leaderId;
    if (e.groupId !== undefined) details.groupId = e.groupId;
    if (e.peerId !== undefined) details.peerId = e.peerId;
    return errorFromCode(error.code, error.message, details);
  }
  return errorFromCode('INTERNAL', error instanceof Error ? error.message : String(error));
}

function checkRate(name: string, rate: number): number {
  if (!(rate >= 0 && rate <= 1)) throw new BadRequestError(`${name} must be within [0, 1]`);
  return rate;
}

const defaultImmediate: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => queueMicrotask(fn);
