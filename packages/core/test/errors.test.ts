import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  errorFromCode,
  NotLeaderError,
  RaftError,
  toRaftError,
  UnknownGroupError,
} from '../src/index.js';

describe('errors', () => {
  it('every code rebuilds into a RaftError with that code, as a transport does', () => {
    for (const code of Object.values(ErrorCode)) {
      const e = errorFromCode(code, 'm');
      expect(RaftError.is(e, code)).toBe(true);
      expect(e.message).toContain('m');
    }
    expect(RaftError.is(errorFromCode('WHAT', 'x'), ErrorCode.INTERNAL)).toBe(true);
  });

  it('NOT_LEADER keeps the leader id across the wire', () => {
    const e = errorFromCode(ErrorCode.NOT_LEADER, 'go there', { leaderId: 'n2' });
    expect(e).toBeInstanceOf(NotLeaderError);
    expect((e as NotLeaderError).leaderId).toBe('n2');
  });

  it('RaftError.is works across copies of the package (Symbol.for brand), and rejects look-alikes', () => {
    const foreign = Object.assign(new Error('x'), {
      code: 'BUSY',
      [Symbol.for('@kontiki/core/RaftError')]: true,
    });
    expect(RaftError.is(foreign, 'BUSY')).toBe(true);
    expect(RaftError.is({ code: 'BUSY' })).toBe(false);
    expect(RaftError.is(null)).toBe(false);
  });

  it('anything thrown becomes a RaftError; RaftErrors pass through', () => {
    const g = new UnknownGroupError('g1');
    expect(toRaftError(g)).toBe(g);
    const wrapped = toRaftError(new TypeError('boom'), ErrorCode.STORAGE);
    expect(wrapped.code).toBe(ErrorCode.STORAGE);
    expect(wrapped.message).toBe('boom');
    expect(toRaftError('str').code).toBe(ErrorCode.INTERNAL);
  });
});
