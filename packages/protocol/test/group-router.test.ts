import { NotLeaderError, type RpcHandler } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeRequestFrame, type Frame, GroupRouter } from '../src/index.js';

function handler(overrides: Partial<RpcHandler> = {}): RpcHandler {
  const unused = () => Promise.reject(new Error('not used in this test'));
  return {
    requestVote: unused,
    appendEntries: unused,
    installSnapshot: unused,
    timeoutNow: async (r) => ({ term: r.term, success: true }),
    readIndex: unused,
    ...overrides,
  };
}

function requestFrame(groupId: string, timeoutMs = 0): Extract<Frame, { kind: 'request' }> {
  const frame = decodeFrame(
    encodeRequestFrame(3, 'timeoutNow', { groupId, from: 'a', to: 'b', term: 4 }, timeoutMs),
  );
  if (frame.kind !== 'request') throw new Error('expected a request frame');
  return frame;
}

async function answerOf(
  router: GroupRouter,
  frame: Extract<Frame, { kind: 'request' }>,
  now?: () => number,
) {
  const bytes = await router.answer(frame, undefined, now);
  return bytes === undefined ? undefined : decodeFrame(bytes);
}

describe('GroupRouter, the server side of an endpoint', () => {
  it('routes a request to the handler of its group', async () => {
    const router = new GroupRouter();
    router.serve('g1', handler({ timeoutNow: async () => ({ term: 1, success: true }) }));
    router.serve('g2', handler({ timeoutNow: async () => ({ term: 2, success: false }) }));
    expect(await answerOf(router, requestFrame('g2'))).toEqual({
      kind: 'response',
      callId: 3,
      method: 'timeoutNow',
      response: { term: 2, success: false },
    });
  });

  it('answers UNKNOWN_GROUP for a group it does not serve, and after unserve', async () => {
    const router = new GroupRouter();
    const unserve = router.serve('g1', handler());
    expect(await answerOf(router, requestFrame('nope'))).toMatchObject({
      kind: 'error',
      error: { code: 'UNKNOWN_GROUP', groupId: 'nope' },
    });
    unserve();
    expect(await answerOf(router, requestFrame('g1'))).toMatchObject({
      kind: 'error',
      error: { code: 'UNKNOWN_GROUP' },
    });
  });

  it('refuses to serve a group twice', () => {
    const router = new GroupRouter();
    router.serve('g1', handler());
    expect(() => router.serve('g1', handler())).toThrow(/already served/);
  });

  it("carries a handler's typed error by code, and a synchronous throw too", async () => {
    const router = new GroupRouter();
    router.serve('a', handler({ timeoutNow: () => Promise.reject(new NotLeaderError('n9')) }));
    router.serve(
      'b',
      handler({
        timeoutNow: () => {
          throw new NotLeaderError(undefined);
        },
      }),
    );
    expect(await answerOf(router, requestFrame('a'))).toMatchObject({
      error: { code: 'NOT_LEADER', leaderId: 'n9' },
    });
    expect(await answerOf(router, requestFrame('b'))).toMatchObject({
      error: { code: 'NOT_LEADER', leaderId: undefined },
    });
  });

  it('answers INTERNAL when the handler returns something that is not a response', async () => {
    const router = new GroupRouter();
    router.serve('g', handler({ timeoutNow: async () => ({ term: -3, success: true }) }));
    expect(await answerOf(router, requestFrame('g'))).toMatchObject({
      error: { code: 'INTERNAL' },
    });
  });

  it('drops the answer when the caller deadline passed while the handler worked', async () => {
    const router = new GroupRouter();
    router.serve('g', handler());
    let time = 1000;
    const frame = requestFrame('g', 100);
    const pending = answerOf(router, frame, () => time);
    time = 1200;
    expect(await pending).toBeUndefined();
  });
});
