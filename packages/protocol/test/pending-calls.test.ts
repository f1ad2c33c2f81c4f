import { BusyError, NotLeaderError, RaftError, UnreachableError } from '@kontiki/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeFrame, encodeErrorFrame, encodeResponseFrame, PendingCalls } from '../src/index.js';

function sink() {
  const sent: { callId: number; timeoutMs: number }[] = [];
  return {
    sent,
    send: (callId: number, timeoutMs: number) => void sent.push({ callId, timeoutMs }),
  };
}

describe('PendingCalls, the caller side of a connection', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('matches each answer to its call by id, whatever the order of the answers', async () => {
    const calls = new PendingCalls({ maxPendingCalls: 10, defaultTimeoutMs: 1000 });
    const { sent, send } = sink();
    const first = calls.start('timeoutNow', 'b', {}, send);
    const second = calls.start('timeoutNow', 'b', {}, send);
    expect(sent.map((s) => s.callId)).toEqual([1, 2]);
    calls.settle(decodeFrame(encodeResponseFrame(2, 'timeoutNow', { term: 2, success: false })));
    calls.settle(decodeFrame(encodeResponseFrame(1, 'timeoutNow', { term: 1, success: true })));
    await expect(first).resolves.toEqual({ term: 1, success: true });
    await expect(second).resolves.toEqual({ term: 2, success: false });
    expect(calls.size).toBe(0);
  });

  it('fails a call with TIMEOUT at its deadline and drops the late answer', async () => {
    vi.useFakeTimers();
    const calls = new PendingCalls({ maxPendingCalls: 10, defaultTimeoutMs: 1000 });
    const { sent, send } = sink();
    const call = calls.start('readIndex', 'b', { timeoutMs: 50 }, send);
    const outcome = call.catch((e: unknown) => e);
    expect(sent[0]?.timeoutMs).toBe(50);
    await vi.advanceTimersByTimeAsync(50);
    expect(RaftError.is(await outcome, 'TIMEOUT')).toBe(true);
    calls.settle(
      decodeFrame(encodeResponseFrame(1, 'readIndex', { term: 1, success: true, readIndex: 1 })),
    );
    expect(calls.size).toBe(0);
  });

  it('a short deadline fires before the long one of an earlier call, which keeps its own', async () => {
    vi.useFakeTimers();
    const calls = new PendingCalls({ maxPendingCalls: 10, defaultTimeoutMs: 1000 });
    const { send } = sink();
    const long = calls.start('readIndex', 'b', { timeoutMs: 1000 }, send).catch((e: unknown) => e);
    const short = calls.start('readIndex', 'b', { timeoutMs: 50 }, send).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    expect(RaftError.is(await short, 'TIMEOUT')).toBe(true);
    expect(calls.size).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(RaftError.is(await long, 'TIMEOUT')).toBe(true);
    expect(calls.size).toBe(0);
  });

  it('calls answered long before their deadline are not kept until it, and a late one still times out', async () => {
    vi.useFakeTimers();
    const calls = new PendingCalls({ maxPendingCalls: 100, defaultTimeoutMs: 1000 });
    const { send } = sink();
    // One call left unanswered among 20,000 answered ones, all with a 10 s deadline.
    const late = calls
      .start('readIndex', 'b', { timeoutMs: 10_000 }, send)
      .catch((e: unknown) => e);
    const answered: Promise<unknown>[] = [];
    for (let i = 0; i < 20_000; i++) {
      const call = calls.start('timeoutNow', 'b', { timeoutMs: 10_000 }, send);
      calls.settle(
        decodeFrame(encodeResponseFrame(i + 2, 'timeoutNow', { term: 1, success: true })),
      );
      answered.push(call);
      expect(calls.tracked).toBeLessThanOrEqual(1025);
    }
    await Promise.all(answered);
    expect(calls.size).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(RaftError.is(await late, 'TIMEOUT')).toBe(true);
    expect(calls.size).toBe(0);
    expect(calls.tracked).toBe(0);
  });

  it('calls of many different timeouts each time out at their own deadline, in deadline order', async () => {
    vi.useFakeTimers();
    const calls = new PendingCalls({ maxPendingCalls: 100, defaultTimeoutMs: 1000 });
    const { send } = sink();
    const timeouts = [500, 100, 300, 200, 400, 150, 450, 250, 350, 50];
    const timedOut: number[] = [];
    const all = timeouts.map((timeoutMs) =>
      calls.start('readIndex', 'b', { timeoutMs }, send).catch((e: unknown) => {
        if (RaftError.is(e, 'TIMEOUT')) timedOut.push(timeoutMs);
      }),
    );
    // The call of 250 ms is answered: it never times out.
    calls.settle(
      decodeFrame(encodeResponseFrame(8, 'readIndex', { term: 1, success: true, readIndex: 1 })),
    );
    for (let t = 50; t <= 500; t += 50) {
      await vi.advanceTimersByTimeAsync(50);
      expect(timedOut).toEqual(timeouts.filter((x) => x <= t && x !== 250).sort((a, b) => a - b));
    }
    await Promise.all(all);
    expect(calls.size).toBe(0);
  });

  it('once no call is pending, answered calls of a thousand different timeouts are all forgotten', async () => {
    const calls = new PendingCalls({ maxPendingCalls: 10, defaultTimeoutMs: 1000 });
    const { send } = sink();
    for (let i = 0; i < 1000; i++) {
      const call = calls.start('timeoutNow', 'b', { timeoutMs: 10_000 + i }, send);
      expect(calls.tracked).toBe(1);
      calls.settle(
        decodeFrame(encodeResponseFrame(i + 1, 'timeoutNow', { term: 1, success: true })),
      );
      await call;
      expect(calls.tracked).toBe(0);
    }
  });

  it('calls made one at a time, each answered before the next, arm one timer between them', async () => {
    vi.useFakeTimers();
    const armed = vi.spyOn(globalThis, 'setTimeout');
    const calls = new PendingCalls({ maxPendingCalls: 10, defaultTimeoutMs: 1000 });
    const { send } = sink();
    for (let i = 1; i <= 100; i++) {
      const call = calls.start('timeoutNow', 'b', {}, send);
      calls.settle(decodeFrame(encodeResponseFrame(i, 'timeoutNow', { term: 1, success: true })));
      await call;
    }
    expect(armed).toHaveBeenCalledTimes(1);
    expect(calls.tracked).toBe(0);
    armed.mockRestore();
  });

  it('a thousand calls answered in time arm one timer between them, and none times out', async () => {
    vi.useFakeTimers();
    const calls = new PendingCalls({ maxPendingCalls: 2000, defaultTimeoutMs: 1000 });
    const { send } = sink();
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const outcomes = Array.from({ length: 1000 }, () =>
      calls.start('timeoutNow', 'b', { timeoutMs: 100 }, send).then(
        () => 'answered',
        (e: unknown) => e,
      ),
    );
    for (let id = 1; id <= 1000; id++) {
      calls.settle(decodeFrame(encodeResponseFrame(id, 'timeoutNow', { term: 1, success: true })));
    }
    expect(timers).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(new Set(await Promise.all(outcomes))).toEqual(new Set(['answered']));
    // The timer found nothing left to wait for: it is not armed again.
    expect(vi.getTimerCount()).toBe(0);
    timers.mockRestore();
  });

  it('uses the default deadline when the caller gives none', async () => {
    vi.useFakeTimers();
    const calls = new PendingCalls({ maxPendingCalls: 10, defaultTimeoutMs: 300 });
    const { sent, send } = sink();
    const outcome = calls.start('readIndex', 'b', {}, send).catch((e: unknown) => e);
    expect(sent[0]?.timeoutMs).toBe(300);
    await vi.advanceTimersByTimeAsync(300);
    expect(RaftError.is(await outcome, 'TIMEOUT')).toBe(true);
  });

  it('fails with ABORTED when the signal aborts, before or during the call', async () => {
    const calls = new PendingCalls({ maxPendingCalls: 10, defaultTimeoutMs: 1000 });
    const { sent, send } = sink();
    const controller = new AbortController();
    const during = calls.start('readIndex', 'b', { signal: controller.signal }, send);
    controller.abort();
    await expect(during).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(
      calls.start('readIndex', 'b', { signal: controller.signal }, send),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(sent).toHaveLength(1);
    expect(calls.size).toBe(0);
  });

  it('refuses a call beyond maxPendingCalls with BUSY, without sending it', async () => {
    const calls = new PendingCalls({ maxPendingCalls: 2, defaultTimeoutMs: 1000 });
    const { sent, send } = sink();
    const a = calls.start('timeoutNow', 'b', {}, send);
    const b = calls.start('timeoutNow', 'b', {}, send);
    await expect(calls.start('timeoutNow', 'b', {}, send)).rejects.toBeInstanceOf(BusyError);
    expect(sent).toHaveLength(2);
    calls.failAll(new UnreachableError('b'));
    await expect(a).rejects.toMatchObject({ code: 'UNREACHABLE' });
    await expect(b).rejects.toMatchObject({ code: 'UNREACHABLE' });
  });

  it('fails the call when send throws', async () => {
    const calls = new PendingCalls({ maxPendingCalls: 2, defaultTimeoutMs: 1000 });
    const call = calls.start('timeoutNow', 'b', {}, () => {
      throw new BusyError('socket buffer full');
    });
    await expect(call).rejects.toBeInstanceOf(BusyError);
    expect(calls.size).toBe(0);
  });

  it('an error on one call fails that call; an error on call id 0 fails them all', async () => {
    const calls = new PendingCalls({ maxPendingCalls: 10, defaultTimeoutMs: 1000 });
    const { send } = sink();
    const one = calls.start('timeoutNow', 'b', {}, send);
    const two = calls.start('timeoutNow', 'b', {}, send);
    const three = calls.start('timeoutNow', 'b', {}, send);
    calls.settle(decodeFrame(encodeErrorFrame(1, new NotLeaderError('c'))));
    await expect(one).rejects.toMatchObject({ code: 'NOT_LEADER', leaderId: 'c' });
    expect(calls.size).toBe(2);
    calls.settle(decodeFrame(encodeErrorFrame(0, new RaftError('UNAUTHENTICATED', 'bad token'))));
    await expect(two).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(three).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('an answer of the wrong method fails the call instead of resolving it', async () => {
    const calls = new PendingCalls({ maxPendingCalls: 10, defaultTimeoutMs: 1000 });
    const call = calls.start('timeoutNow', 'b', {}, () => {});
    calls.settle(decodeFrame(encodeResponseFrame(1, 'requestVote', { term: 1, granted: true })));
    await expect(call).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('refuses options that make no sense', () => {
    expect(() => new PendingCalls({ maxPendingCalls: 0, defaultTimeoutMs: 1 })).toThrow(
      /maxPendingCalls/,
    );
    expect(() => new PendingCalls({ maxPendingCalls: 1, defaultTimeoutMs: 0 })).toThrow(
      /defaultTimeoutMs/,
    );
  });
});
