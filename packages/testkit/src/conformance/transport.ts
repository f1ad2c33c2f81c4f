/**
 * The Transport conformance suite: the contract of `@kontiki/core`'s {@link Transport},
 * stated as tests. Every transport package runs it from its own tests; so can a third
 * party's transport.
 *
 * @example
 * ```ts
 * // test/conformance.test.ts of a transport package
 * import { transportSuite } from '@kontiki/testkit/transport';
 * import { MemoryNetwork } from '@kontiki/transport-memory';
 *
 * transportSuite({
 *   name: 'memory',
 *   async create() {
 *     const network = new MemoryNetwork();
 *     const open = (id: string) => ({ peerId: id, transport: network.endpoint(id) });
 *     const endpoints = ['a', 'b', 'c'].map(open);
 *     return {
 *       endpoints,
 *       async restart(index, whileDown) { ... },
 *       async cleanup() { await Promise.all(endpoints.map((e) => e.transport.close())); },
 *     };
 *   },
 * });
 * ```
 *
 * @packageDocumentation
 */
import {
  type AppendEntriesRequest,
  BusyError,
  EntryType,
  type GroupId,
  NotLeaderError,
  type PeerId,
  RaftError,
  type RpcHandler,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
  type Transport,
} from '@kontiki/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/** One endpoint of the fixture: a transport, and the id other endpoints reach it by. */
export interface TransportEndpoint {
  readonly peerId: PeerId;
  readonly transport: Transport;
}

/** What `create` returns: fresh endpoints for one test, and how to restart and clean up. */
export interface TransportFixture {
  /** At least three endpoints, each able to call the others by their `peerId`. */
  readonly endpoints: readonly TransportEndpoint[];
  /**
   * Simulates a peer restart: closes `endpoints[index].transport`, runs `whileDown` (calls
   * to that peer made then must fail), then opens a new transport reachable at the same
   * `peerId` (same address) and resolves with it. The fixture's `cleanup` must close it too.
   */
  restart(index: number, whileDown: () => Promise<void>): Promise<Transport>;
  /** Closes everything the fixture opened (called after each test, also after a failure). */
  cleanup(): Promise<void>;
}

export interface TransportSuiteOptions {
  /** Names the describe block: `Transport conformance: <name>`. */
  readonly name: string;
  /** Makes a fresh fixture; called before each test. */
  create(): Promise<TransportFixture>;
  /** How long a restarted peer may take to be reachable again (default 10,000 ms). */
  readonly reconnectWithinMs?: number;
  /** Total bytes of the large-payload cases (default 6 MiB). */
  readonly largePayloadBytes?: number;
  /** Concurrent calls in the ordering case (default 2,000). */
  readonly orderingCalls?: number;
  /**
   * The transport sends calls without entries or snapshot bytes (heartbeats, votes,
   * TimeoutNow, ReadIndex) on a lane of their own, so they are not held behind megabytes of
   * AppendEntries; each lane keeps its order (default false: one order for every call).
   */
  readonly controlLane?: boolean;
}

type Behaviour = Partial<RpcHandler>;

/** A handler that records what it receives and answers from the request (or as told). */
class FakeHandler implements RpcHandler {
  readonly received: { method: RpcMethod; request: RpcRequest<RpcMethod> }[] = [];

  constructor(private readonly behaviour: Behaviour = {}) {}

  private record<M extends RpcMethod>(method: M, request: RpcRequest<M>): void {
    this.received.push({ method, request });
  }

  requestVote = (r: RpcRequest<'requestVote'>): Promise<RpcResponse<'requestVote'>> => {
    this.record('requestVote', r);
    return (
      this.behaviour.requestVote?.(r) ?? Promise.resolve({ term: r.term + 1, granted: r.preVote })
    );
  };

  appendEntries = (r: RpcRequest<'appendEntries'>): Promise<RpcResponse<'appendEntries'>> => {
    this.record('appendEntries', r);
    return (
      this.behaviour.appendEntries?.(r) ??
      Promise.resolve({
        term: r.term,
        success: true,
        lastLogIndex: r.prevLogIndex + r.entries.length,
        conflictTerm: r.entries.length,
        conflictIndex: byteSum(r.entries.map((e) => e.data)),
      })
    );
  };

  installSnapshot = (r: RpcRequest<'installSnapshot'>): Promise<RpcResponse<'installSnapshot'>> => {
    this.record('installSnapshot', r);
    return (
      this.behaviour.installSnapshot?.(r) ?? Promise.resolve({ term: r.term, success: r.done })
    );
  };

  timeoutNow = (r: RpcRequest<'timeoutNow'>): Promise<RpcResponse<'timeoutNow'>> => {
    this.record('timeoutNow', r);
    return this.behaviour.timeoutNow?.(r) ?? Promise.resolve({ term: r.term + 1, success: true });
  };

  readIndex = (r: RpcRequest<'readIndex'>): Promise<RpcResponse<'readIndex'>> => {
    this.record('readIndex', r);
    return (
      this.behaviour.readIndex?.(r) ??
      Promise.resolve({ term: r.term, success: true, readIndex: 42 })
    );
  };

  hostHeartbeat = (r: RpcRequest<'hostHeartbeat'>): Promise<RpcResponse<'hostHeartbeat'>> => {
    this.record('hostHeartbeat', r);
    return (
      this.behaviour.hostHeartbeat?.(r) ??
      Promise.resolve({
        term: 0,
        accepted: r.offers.map((o) => o.groupId),
        mismatch: r.full === undefined,
        wake: r.woken.map((w) => w.groupId),
      })
    );
  };
}

/** A checksum of payload bytes, cheap to compare across the wire. */
function byteSum(chunks: readonly Uint8Array[]): number {
  let sum = 0;
  for (const chunk of chunks)
    for (let i = 0; i < chunk.length; i++) sum = (sum + (chunk[i] ?? 0) * (i + 1)) % 2_147_483_647;
  return sum;
}

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 131 + seed * 7) & 0xff;
  return out;
}

/** A promise and its resolver, to wait for the moment a handler runs. */
function signal<T = void>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A handler answer that never comes. */
const never = <T>(): Promise<T> => new Promise<T>(() => {});

/** The typed error a promise rejects with (fails the test if it resolves). */
async function failure(promise: Promise<unknown>): Promise<RaftError> {
  try {
    await promise;
  } catch (error) {
    expect(RaftError.is(error), `expected a RaftError, got ${String(error)}`).toBe(true);
    return error as RaftError;
  }
  throw new Error('expected the call to fail, it succeeded');
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Registers the Transport conformance tests (vitest) for one implementation.
 *
 * Each test gets a fresh fixture from `options.create()` and cleans it up after itself.
 * Endpoint 0 is the caller unless a test says otherwise; endpoint 1 (and 2) serve.
 */
export function transportSuite(options: TransportSuiteOptions): void {
  const reconnectWithinMs = options.reconnectWithinMs ?? 10_000;
  const largePayloadBytes = options.largePayloadBytes ?? 6 * 1024 * 1024;
  const orderingCalls = options.orderingCalls ?? 2_000;

  describe(`Transport conformance: ${options.name}`, () => {
    let fixture: TransportFixture | undefined;
    let caller: Transport;
    let server: TransportEndpoint;
    let third: TransportEndpoint;
    const env = (groupId: GroupId, to: TransportEndpoint = server, term = 5) => ({
      groupId,
      from: 'caller',
      to: to.peerId,
      term,
    });

    beforeEach(async () => {
      fixture = await options.create();
      const [a, b, c] = fixture.endpoints;
      if (!a || !b || !c) throw new Error('the fixture must have at least three endpoints');
      caller = a.transport;
      server = b;
      third = c;
    });

    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
    });

    describe('request and response', () => {
      const requests: { [M in RpcMethod]: (g: GroupId) => RpcRequest<M> } = {
        requestVote: (g) => ({
          ...env(g),
          preVote: true,
          lastLogIndex: 17,
          lastLogTerm: 4,
          disruptedLeader: { peerId: 'old-leader', term: 4 },
        }),
        appendEntries: (g) => ({
          ...env(g),
          prevLogIndex: 16,
          prevLogTerm: 4,
          leaderCommit: 15,
          entries: [
            { index: 17, term: 5, type: EntryType.Configuration, data: bytes(10, 1) },
            { index: 18, term: 5, type: EntryType.Data, data: bytes(300, 2) },
          ],
        }),
        installSnapshot: (g) => ({
          ...env(g),
          meta: {
            lastIncludedIndex: 100,
            lastIncludedTerm: 4,
            configuration: { voters: ['a', 'b', 'c'], oldVoters: ['a', 'b'], learners: ['d'] },
          },
          offset: 4096,
          data: bytes(1000, 3),
          done: true,
        }),
        timeoutNow: (g) => env(g),
        readIndex: (g) => env(g),
        hostHeartbeat: (g) => ({
          ...env(g),
          term: 0,
          offers: [{ groupId: 'q1', term: 5, lastIndex: 9, lastTerm: 4, commitIndex: 9 }],
          woken: [{ groupId: 'q2', term: 3 }],
          quiescedCount: 2,
          quiescedDigest: 123_456_789,
          full: [{ groupId: 'q3', term: 5 }],
        }),
      };
      const expected: { [M in RpcMethod]: (r: RpcRequest<M>) => RpcResponse<M> } = {
        requestVote: (r) => ({ term: r.term + 1, granted: true }),
        appendEntries: (r) => ({
          term: r.term,
          success: true,
          lastLogIndex: 18,
          conflictTerm: 2,
          conflictIndex: byteSum(r.entries.map((e) => e.data)),
        }),
        installSnapshot: (r) => ({ term: r.term, success: true }),
        timeoutNow: (r) => ({ term: r.term + 1, success: true }),
        readIndex: (r) => ({ term: r.term, success: true, readIndex: 42 }),
        hostHeartbeat: () => ({ term: 0, accepted: ['q1'], mismatch: false, wake: ['q2'] }),
      };

      for (const method of Object.keys(requests) as RpcMethod[]) {
        it(`${method}: the handler gets the request as sent and the caller its answer`, async () => {
          const handler = new FakeHandler();
          server.transport.serve('g', handler);
          const request = requests[method]('g');
          const response = await caller.call(method, request as never, { timeoutMs: 5000 });
          expect(response).toEqual((expected[method] as (r: typeof request) => unknown)(request));
          expect(handler.received).toHaveLength(1);
          expect(handler.received[0]?.method).toBe(method);
          expect(handler.received[0]?.request).toEqual(request);
        });
      }

      it('a group that does not serve hostHeartbeat refuses it with BAD_REQUEST', async () => {
        const { hostHeartbeat: _omitted, ...groupOnly } = new FakeHandler();
        server.transport.serve('g', groupOnly);
        const call = caller.call(
          'hostHeartbeat',
          { ...env('g'), term: 0, offers: [], woken: [], quiescedCount: 0, quiescedDigest: 0 },
          { timeoutMs: 5000 },
        );
        await expect(call).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      });

      it('answers that omit optional fields come back without them', async () => {
        server.transport.serve(
          'g',
          new FakeHandler({
            appendEntries: async (r) => ({ term: r.term, success: false, lastLogIndex: 3 }),
          }),
        );
        const response = await caller.call(
          'appendEntries',
          { ...env('g'), prevLogIndex: 9, prevLogTerm: 1, leaderCommit: 0, entries: [] },
          { timeoutMs: 5000 },
        );
        expect(response).toStrictEqual({ term: 5, success: false, lastLogIndex: 3 });
      });

      it('a handler written as a class keeps its `this`', async () => {
        class CountingNode implements RpcHandler {
          private readonly term = 11;
          async requestVote() {
            return { term: this.term, granted: false };
          }
          async appendEntries() {
            return { term: this.term, success: false, lastLogIndex: 0 };
          }
          async installSnapshot() {
            return { term: this.term, success: false };
          }
          async timeoutNow() {
            return { term: this.term, success: false };
          }
          async readIndex() {
            return { term: this.term, success: true, readIndex: this.term * 2 };
          }
        }
        server.transport.serve('g', new CountingNode());
        const answer = await caller.call('readIndex', env('g'), { timeoutMs: 5000 });
        expect(answer).toEqual({ term: 11, success: true, readIndex: 22 });
      });

      it('a call of a method that is not an RPC fails with BAD_REQUEST', async () => {
        server.transport.serve('g', new FakeHandler());
        const error = await failure(
          caller.call('nonsense' as RpcMethod, env('g') as never, { timeoutMs: 5000 }),
        );
        expect(error.code).toBe('BAD_REQUEST');
      });
    });

    describe('errors', () => {
      it("a handler's NotLeaderError reaches the caller as NOT_LEADER with the leader's id", async () => {
        server.transport.serve(
          'g',
          new FakeHandler({ readIndex: () => Promise.reject(new NotLeaderError('leader-7')) }),
        );
        const error = await failure(caller.call('readIndex', env('g'), { timeoutMs: 5000 }));
        expect(error.code).toBe('NOT_LEADER');
        expect((error as NotLeaderError).leaderId).toBe('leader-7');
      });

      it('other typed errors keep their code; a plain Error arrives as INTERNAL', async () => {
        server.transport.serve(
          'busy',
          new FakeHandler({ timeoutNow: () => Promise.reject(new BusyError('slow down')) }),
        );
        server.transport.serve(
          'plain',
          new FakeHandler({ timeoutNow: () => Promise.reject(new Error('boom')) }),
        );
        server.transport.serve(
          'sync',
          new FakeHandler({
            timeoutNow: () => {
              throw new NotLeaderError(undefined);
            },
          }),
        );
        const busy = await failure(caller.call('timeoutNow', env('busy'), { timeoutMs: 5000 }));
        expect([busy.code, busy.message]).toEqual(['BUSY', 'slow down']);
        const plain = await failure(caller.call('timeoutNow', env('plain'), { timeoutMs: 5000 }));
        expect(plain.code).toBe('INTERNAL');
        expect(plain.message).toContain('boom');
        const sync = await failure(caller.call('timeoutNow', env('sync'), { timeoutMs: 5000 }));
        expect(sync.code).toBe('NOT_LEADER');
        expect((sync as NotLeaderError).leaderId).toBeUndefined();
      });

      it('a request for a group the peer does not serve fails with UNKNOWN_GROUP', async () => {
        const handler = new FakeHandler();
        const unserve = server.transport.serve('served', handler);
        const error = await failure(
          caller.call('timeoutNow', env('not-served'), { timeoutMs: 5000 }),
        );
        expect(error.code).toBe('UNKNOWN_GROUP');
        unserve();
        const after = await failure(caller.call('timeoutNow', env('served'), { timeoutMs: 5000 }));
        expect(after.code).toBe('UNKNOWN_GROUP');
        expect(handler.received).toHaveLength(0);
      });

      it('serving a group twice on one endpoint throws', () => {
        server.transport.serve('g', new FakeHandler());
        expect(() => server.transport.serve('g', new FakeHandler())).toThrow();
      });
    });

    describe('ordering and concurrency', () => {
      it(`${orderingCalls} concurrent calls to one peer reach its handler in the order issued`, async () => {
        const handler = new FakeHandler();
        server.transport.serve('g', handler);
        const calls = Array.from({ length: orderingCalls }, (_, i) =>
          caller.call(
            'appendEntries',
            {
              ...env('g'),
              prevLogIndex: i,
              prevLogTerm: 1,
              leaderCommit: 0,
              entries: [{ index: i + 1, term: 5, type: EntryType.Data, data: bytes(i % 200, i) }],
            },
            { timeoutMs: 30_000 },
          ),
        );
        const responses = await Promise.all(calls);
        // Every answer belongs to its own call ...
        expect(responses.map((r) => r.lastLogIndex)).toEqual(
          Array.from({ length: orderingCalls }, (_, i) => i + 1),
        );
        // ... and the handler saw the calls in the order they were made.
        const order = handler.received.map((r) => (r.request as AppendEntriesRequest).prevLogIndex);
        expect(order).toEqual(Array.from({ length: orderingCalls }, (_, i) => i));
      });

      it('calls without entries keep their order among themselves', async () => {
        const handler = new FakeHandler();
        server.transport.serve('g', handler);
        const calls = Array.from({ length: 500 }, (_, i) =>
          i % 2 === 0
            ? caller.call(
                'appendEntries',
                { ...env('g'), prevLogIndex: i, prevLogTerm: 1, leaderCommit: 0, entries: [] },
                { timeoutMs: 30_000 },
              )
            : caller.call(
                'requestVote',
                { ...env('g'), preVote: true, lastLogIndex: i, lastLogTerm: 1 },
                { timeoutMs: 30_000 },
              ),
        );
        await Promise.all(calls);
        const order = handler.received.map((r) =>
          r.method === 'appendEntries'
            ? (r.request as AppendEntriesRequest).prevLogIndex
            : (r.request as RpcRequest<'requestVote'>).lastLogIndex,
        );
        expect(order).toEqual(Array.from({ length: 500 }, (_, i) => i));
      });

      if (options.controlLane === true) {
        it('a heartbeat is answered before megabytes of AppendEntries issued ahead of it, which keep their order', async () => {
          const handler = new FakeHandler();
          server.transport.serve('g', handler);
          const heartbeat = (i: number) =>
            caller.call(
              'appendEntries',
              { ...env('g'), prevLogIndex: i, prevLogTerm: 1, leaderCommit: 0, entries: [] },
              { timeoutMs: 30_000 },
            );
          const big = (i: number) =>
            caller.call(
              'appendEntries',
              {
                ...env('g'),
                prevLogIndex: i,
                prevLogTerm: 1,
                leaderCommit: 0,
                entries: [{ index: i + 1, term: 5, type: EntryType.Data, data: bytes(2 ** 20, i) }],
              },
              { timeoutMs: 60_000 },
            );
          // Both lanes connected first: the race below is about what is queued, not connecting.
          await Promise.all([heartbeat(0), big(0)]);
          handler.received.length = 0;
          const done: string[] = [];
          const bigCalls = Array.from({ length: 16 }, (_, i) =>
            big(i + 1).then(() => void done.push(`big ${i + 1}`)),
          );
          const hb = heartbeat(100).then(() => void done.push('heartbeat'));
          await Promise.all([...bigCalls, hb]);
          expect(done.indexOf('heartbeat')).toBeLessThan(done.indexOf('big 16'));
          const bigOrder = handler.received
            .map((r) => r.request as AppendEntriesRequest)
            .filter((r) => r.entries.length > 0)
            .map((r) => r.prevLogIndex);
          expect(bigOrder).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
        });
      }

      it('answers may complete out of order without holding back later calls', async () => {
        const slow = signal<RpcResponse<'readIndex'>>();
        const handler = new FakeHandler({
          readIndex: (r) =>
            r.term === 1
              ? slow.promise
              : Promise.resolve({ term: r.term, success: true, readIndex: r.term }),
        });
        server.transport.serve('g', handler);
        const first = caller.call('readIndex', env('g', server, 1), { timeoutMs: 10_000 });
        const second = await caller.call('readIndex', env('g', server, 2), { timeoutMs: 10_000 });
        expect(second.readIndex).toBe(2);
        slow.resolve({ term: 1, success: true, readIndex: 1 });
        expect((await first).readIndex).toBe(1);
      });

      it('concurrent calls in both directions and to two peers all get their own answers', async () => {
        const [a] = fixture?.endpoints ?? [];
        if (!a) throw new Error('no endpoint 0');
        a.transport.serve('g', new FakeHandler());
        server.transport.serve('g', new FakeHandler());
        third.transport.serve('g', new FakeHandler());
        const results = await Promise.all(
          Array.from({ length: 300 }, (_, i) => {
            const term = i + 1;
            if (i % 3 === 0)
              return caller.call('timeoutNow', env('g', server, term), { timeoutMs: 10_000 });
            if (i % 3 === 1)
              return caller.call('timeoutNow', env('g', third, term), { timeoutMs: 10_000 });
            return server.transport.call(
              'timeoutNow',
              { ...env('g', a, term), from: server.peerId },
              { timeoutMs: 10_000 },
            );
          }),
        );
        expect(results.map((r) => r.term)).toEqual(Array.from({ length: 300 }, (_, i) => i + 2));
      });

      it('one endpoint hosts many groups, each request reaching its own group', async () => {
        const handlers = Array.from({ length: 50 }, (_, i) => {
          const handler = new FakeHandler({
            readIndex: async (r) => ({ term: r.term, success: true, readIndex: i }),
          });
          server.transport.serve(`group-${i}`, handler);
          return handler;
        });
        const answers = await Promise.all(
          handlers.map((_, i) =>
            caller.call('readIndex', env(`group-${i}`), { timeoutMs: 10_000 }),
          ),
        );
        expect(answers.map((a) => a.readIndex)).toEqual(handlers.map((_, i) => i));
        expect(handlers.every((h) => h.received.length === 1)).toBe(true);
      });
    });

    describe('payloads', () => {
      it(`an AppendEntries carrying ${(largePayloadBytes / 2 ** 20).toFixed(1)} MiB arrives intact`, async () => {
        const handler = new FakeHandler();
        server.transport.serve('g', handler);
        const count = 6;
        const entries = Array.from({ length: count }, (_, i) => ({
          index: i + 1,
          term: 5,
          type: EntryType.Data,
          data: bytes(Math.floor(largePayloadBytes / count), i),
        }));
        const response = await caller.call(
          'appendEntries',
          { ...env('g'), prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, entries },
          { timeoutMs: 30_000 },
        );
        expect(response.conflictIndex).toBe(byteSum(entries.map((e) => e.data)));
        const received = handler.received[0]?.request as AppendEntriesRequest;
        expect(received.entries.map((e) => e.data.length)).toEqual(
          entries.map((e) => e.data.length),
        );
      });

      it(`an InstallSnapshot chunk of ${(largePayloadBytes / 2 ** 20).toFixed(1)} MiB arrives intact`, async () => {
        let sum = -1;
        server.transport.serve(
          'g',
          new FakeHandler({
            installSnapshot: async (r) => {
              sum = byteSum([r.data]);
              return { term: r.term, success: true };
            },
          }),
        );
        const data = bytes(largePayloadBytes, 9);
        await caller.call(
          'installSnapshot',
          {
            ...env('g'),
            meta: { lastIncludedIndex: 5, lastIncludedTerm: 1, configuration: { voters: ['a'] } },
            offset: 0,
            data,
            done: true,
          },
          { timeoutMs: 30_000 },
        );
        expect(sum).toBe(byteSum([data]));
      });

      it('the smallest requests and empty byte strings cross unchanged', async () => {
        const handler = new FakeHandler();
        server.transport.serve('', handler);
        // An empty group name is a name; a peer id is never empty (the wire refuses one).
        const empty = { groupId: '', from: 'caller', to: server.peerId, term: 0 };
        await caller.call('timeoutNow', empty, { timeoutMs: 5000 });
        await caller.call(
          'appendEntries',
          {
            ...empty,
            prevLogIndex: 0,
            prevLogTerm: 0,
            leaderCommit: 0,
            entries: [{ index: 1, term: 0, type: EntryType.Data, data: new Uint8Array(0) }],
          },
          { timeoutMs: 5000 },
        );
        expect(handler.received.map((r) => r.request)).toEqual([
          empty,
          {
            ...empty,
            prevLogIndex: 0,
            prevLogTerm: 0,
            leaderCommit: 0,
            entries: [{ index: 1, term: 0, type: EntryType.Data, data: new Uint8Array(0) }],
          },
        ]);
      });
    });

    describe('deadlines and cancellation', () => {
      it('a call whose handler never answers fails with TIMEOUT', async () => {
        const received = signal();
        server.transport.serve(
          'g',
          new FakeHandler({
            timeoutNow: () => {
              received.resolve();
              return never();
            },
          }),
        );
        const error = await failure(caller.call('timeoutNow', env('g'), { timeoutMs: 300 }));
        expect(error.code).toBe('TIMEOUT');
        await received.promise;
      });

      it('aborting the signal of a pending call fails it with ABORTED', async () => {
        const received = signal();
        server.transport.serve(
          'g',
          new FakeHandler({
            timeoutNow: () => {
              received.resolve();
              return never();
            },
          }),
        );
        const controller = new AbortController();
        const call = caller.call('timeoutNow', env('g'), {
          timeoutMs: 60_000,
          signal: controller.signal,
        });
        await received.promise;
        const outcome = failure(call);
        controller.abort();
        expect((await outcome).code).toBe('ABORTED');
      });

      it('a call with an already aborted signal fails with ABORTED', async () => {
        server.transport.serve('g', new FakeHandler());
        const controller = new AbortController();
        controller.abort();
        const error = await failure(
          caller.call('timeoutNow', env('g'), { timeoutMs: 5000, signal: controller.signal }),
        );
        expect(error.code).toBe('ABORTED');
      });

      it('a timed-out call does not disturb the calls after it', async () => {
        server.transport.serve(
          'g',
          new FakeHandler({
            readIndex: (r) =>
              r.term === 1
                ? never()
                : Promise.resolve({ term: r.term, success: true, readIndex: 7 }),
          }),
        );
        expect(
          (await failure(caller.call('readIndex', env('g', server, 1), { timeoutMs: 200 }))).code,
        ).toBe('TIMEOUT');
        expect(await caller.call('readIndex', env('g', server, 2), { timeoutMs: 5000 })).toEqual({
          term: 2,
          success: true,
          readIndex: 7,
        });
      });
    });

    describe('peer restart', () => {
      it('calls fail while the peer is down and succeed again once it is back, with no action from the caller', async () => {
        const fx = fixture;
        if (!fx) throw new Error('no fixture');
        const received = signal();
        server.transport.serve(
          'g',
          new FakeHandler({
            timeoutNow: () => {
              received.resolve();
              return never();
            },
          }),
        );
        // Warm the connection, then leave a call pending on the peer that will go down.
        const pending = caller.call('timeoutNow', env('g'), { timeoutMs: 60_000 });
        await received.promise;
        // Observe the outcome now: the call may fail while restart() is still closing the peer.
        const lostOutcome = failure(pending);
        const restarted = await fx.restart(1, async () => {
          const lost = await lostOutcome;
          expect(lost.code).toBe('UNREACHABLE');
          const down = await failure(caller.call('timeoutNow', env('g'), { timeoutMs: 10_000 }));
          expect(down.code).toBe('UNREACHABLE');
        });
        const handler = new FakeHandler();
        restarted.serve('g', handler);
        const deadline = Date.now() + reconnectWithinMs;
        let answer: RpcResponse<'timeoutNow'> | undefined;
        let attempts = 0;
        while (answer === undefined && Date.now() < deadline && attempts < 1000) {
          attempts++;
          try {
            answer = await caller.call('timeoutNow', env('g'), { timeoutMs: 2000 });
          } catch (error) {
            expect(RaftError.is(error)).toBe(true);
            // The caller's transport reconnects with back-off; poll, boundedly, until it has.
            await pause(50);
          }
        }
        expect(answer).toEqual({ term: 6, success: true });
        expect(handler.received).toHaveLength(1);
      });
    });

    describe('close', () => {
      it('fails pending calls, is idempotent, and later calls fail', async () => {
        const received = signal();
        server.transport.serve(
          'g',
          new FakeHandler({
            timeoutNow: () => {
              received.resolve();
              return never();
            },
          }),
        );
        const pending = caller.call('timeoutNow', env('g'), { timeoutMs: 60_000 });
        await received.promise;
        const outcome = failure(pending);
        await caller.close();
        const error = await outcome;
        expect(error.code).not.toBe('TIMEOUT');
        await caller.close();
        const after = await failure(caller.call('timeoutNow', env('g'), { timeoutMs: 5000 }));
        expect(after.code).not.toBe('TIMEOUT');
      });

      it('a closed endpoint serves nothing: serve throws, its callers get UNREACHABLE', async () => {
        server.transport.serve('g', new FakeHandler());
        await server.transport.close();
        expect(() => server.transport.serve('h', new FakeHandler())).toThrow();
        const error = await failure(caller.call('timeoutNow', env('g'), { timeoutMs: 10_000 }));
        expect(error.code).toBe('UNREACHABLE');
      });
    });
  });
}
