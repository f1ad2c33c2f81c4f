import { describe, expect, it } from 'vitest';
import { ElectionAdmission } from '../src/election-admission.js';
import { UnreachableError } from '../src/errors.js';
import type {
  RequestVoteRequest,
  RequestVoteResponse,
  RpcMethod,
  RpcRequest,
  RpcResponse,
} from '../src/messages.js';
import type { CallOptions } from '../src/transport.js';
import { VoteRound } from '../src/vote-round.js';
import { flush, ManualClock } from './fakes.js';

const T = 1000;

/** A transport whose answers the test scripts: per call to a peer, an answer or a failure. */
class ScriptedTransport {
  readonly asked: string[] = [];
  constructor(
    private readonly script: (peer: string, nth: number) => 'grant' | 'fail' | 'silent',
  ) {}

  call<M extends RpcMethod>(
    _method: M,
    request: RpcRequest<M>,
    _options?: CallOptions,
  ): Promise<RpcResponse<M>> {
    const req = request as RequestVoteRequest;
    this.asked.push(req.to);
    const nth = this.asked.filter((p) => p === req.to).length;
    const what = this.script(req.to, nth);
    if (what === 'fail') return Promise.reject(new UnreachableError(req.to, 'connection refused'));
    if (what === 'silent') return new Promise(() => {});
    const response: RequestVoteResponse = { term: req.term, granted: true };
    return Promise.resolve(response as RpcResponse<M>);
  }
}

function round(transport: ScriptedTransport, clock: ManualClock) {
  const won: string[] = [];
  const r = new VoteRound(
    {
      groupId: 'g',
      peerId: 'a',
      clock,
      rpcTimeoutMs: T / 2,
      heartbeatIntervalMs: T / 10,
      transport,
    },
    { voters: ['a', 'b', 'c'] },
    2,
    1,
  );
  r.solicit({ lastIndex: 5, lastLogTerm: 1 }, true, undefined, clock.now() + 2 * T, (peer, res) => {
    if (res.granted && r.grant(peer)) won.push(peer);
  });
  return { r, won };
}

describe('VoteRound', () => {
  it('a request that fails outright is asked again after a heartbeat interval, not rpcTimeoutMs', async () => {
    const clock = new ManualClock();
    // b's first request fails (its connection was left broken by a restart); c never answers.
    const transport = new ScriptedTransport((peer, nth) =>
      peer === 'c' ? 'silent' : nth === 1 ? 'fail' : 'grant',
    );
    const { won } = round(transport, clock);
    await flush();
    expect(transport.asked.sort()).toEqual(['b', 'c']);
    clock.advance(T / 10 - 1);
    await flush();
    expect(won).toEqual([]);
    clock.advance(1);
    await flush();
    expect(won).toEqual(['b']);
    // Only the failed request was asked again early; c waits for the resend at rpcTimeoutMs.
    expect(transport.asked.filter((p) => p === 'c')).toHaveLength(1);
  });

  it('asks a failing voter again early once per round, then every rpcTimeoutMs; nothing after stop', async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport(() => 'fail');
    const { r } = round(transport, clock);
    await flush();
    const asked = () => transport.asked.filter((p) => p === 'b').length;
    expect(asked()).toBe(1);
    clock.advance(T / 10);
    await flush();
    expect(asked()).toBe(2);
    // The second failure waits for the resend at rpcTimeoutMs.
    clock.advance(T / 2 - T / 10 - 1);
    await flush();
    expect(asked()).toBe(2);
    clock.advance(1);
    await flush();
    expect(asked()).toBe(3);
    r.stop();
    clock.advance(2 * T);
    await flush();
    expect(asked()).toBe(3);
  });

  it('gives its election slot back once every voter answered, not at the end of the round', async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport(() => 'grant');
    const slots = new ElectionAdmission(1);
    expect(slots.tryEnter()).toBe(true);
    const { r } = round(transport, clock);
    r.holdSlot(slots, clock.now() + 2 * T);
    expect(slots.tryEnter()).toBe(false);
    await flush();
    expect(slots.active).toBe(0);
    expect(slots.tryEnter()).toBe(true);
  });

  it('keeps its slot while a voter whose call failed outright has not answered (a dead peer fails at once)', async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport((peer) => (peer === 'c' ? 'fail' : 'grant'));
    const slots = new ElectionAdmission(1);
    slots.enter();
    const { r } = round(transport, clock);
    r.holdSlot(slots, clock.now() + 2 * T);
    await flush();
    expect(slots.active).toBe(1);
    r.stop();
    expect(slots.active).toBe(0);
  });

  it('a round whose voter stays silent holds its slot until its time is up, never longer', async () => {
    const clock = new ManualClock();
    const transport = new ScriptedTransport((peer) => (peer === 'c' ? 'silent' : 'grant'));
    const slots = new ElectionAdmission(1);
    slots.enter();
    const { r } = round(transport, clock);
    r.holdSlot(slots, clock.now() + 2 * T);
    await flush();
    clock.advance(2 * T - 1);
    await flush();
    expect(slots.active).toBe(1);
    clock.advance(1);
    await flush();
    expect(slots.active).toBe(0);
    // Stopping it afterwards gives nothing back twice.
    r.stop();
    expect(slots.active).toBe(0);
  });
});
