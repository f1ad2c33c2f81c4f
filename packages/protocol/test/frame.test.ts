import { BadRequestError, NotLeaderError, RaftError, UnknownGroupError } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeErrorFrame,
  encodeHello,
  encodeRequestFrame,
  encodeResponseFrame,
  PROTOCOL_VERSION,
  wire,
} from '../src/index.js';

const header = { groupId: 'g', from: 'a', to: 'b', term: 3 };

describe('the envelope carries calls, answers, errors and the hello', () => {
  it('a request keeps its call id, method, deadline and content', () => {
    const frame = decodeFrame(
      encodeRequestFrame(
        42,
        'requestVote',
        { ...header, preVote: true, lastLogIndex: 5, lastLogTerm: 2 },
        1500,
      ),
    );
    expect(frame).toEqual({
      kind: 'request',
      callId: 42,
      method: 'requestVote',
      timeoutMs: 1500,
      request: { ...header, preVote: true, lastLogIndex: 5, lastLogTerm: 2 },
    });
  });

  it('a response keeps its call id and method', () => {
    const frame = decodeFrame(
      encodeResponseFrame(7, 'readIndex', { term: 3, success: true, readIndex: 9 }),
    );
    expect(frame).toEqual({
      kind: 'response',
      callId: 7,
      method: 'readIndex',
      response: { term: 3, success: true, readIndex: 9 },
    });
  });

  it('a NotLeaderError comes back typed, with its leader id', () => {
    const frame = decodeFrame(encodeErrorFrame(8, new NotLeaderError('n2:7000')));
    expect(frame.kind).toBe('error');
    if (frame.kind !== 'error') return;
    expect(frame.callId).toBe(8);
    expect(frame.error).toBeInstanceOf(NotLeaderError);
    expect((frame.error as NotLeaderError).leaderId).toBe('n2:7000');
  });

  it('an UnknownGroupError keeps its group id; a plain Error becomes INTERNAL', () => {
    const unknown = decodeFrame(encodeErrorFrame(1, new UnknownGroupError('kv-3')));
    expect(unknown.kind === 'error' && (unknown.error as UnknownGroupError).groupId).toBe('kv-3');
    const plain = decodeFrame(encodeErrorFrame(2, new Error('disk on fire')));
    expect(plain.kind === 'error' && plain.error.code).toBe('INTERNAL');
    expect(plain.kind === 'error' && plain.error.message).toBe('disk on fire');
  });

  it('the hello carries the protocol version and the token', () => {
    expect(decodeFrame(encodeHello(PROTOCOL_VERSION, 's3cret'))).toEqual({
      kind: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      token: 's3cret',
    });
  });
});

describe('a bad envelope', () => {
  it('garbage bytes throw BadRequestError', () => {
    expect(() => decodeFrame(new Uint8Array([0x0a, 0xff, 0x01]))).toThrow(BadRequestError);
    expect(() => decodeFrame(new TextEncoder().encode('GET / HTTP/1.1\r\n'))).toThrow(
      BadRequestError,
    );
  });

  it('an unknown method is an invalid frame for that call only', () => {
    const bytes = wire.Envelope.encode({
      callId: 5n,
      method: 99 as wire.Method,
      timeoutMs: 0,
      body: {
        $case: 'timeoutNowRequest',
        value: { header: { groupId: 'g', from: 'a', to: 'b', term: 1n } },
      },
    }).finish();
    const frame = decodeFrame(bytes);
    expect(frame.kind).toBe('invalid');
    expect(frame.kind === 'invalid' && frame.callId).toBe(5);
    expect(frame.kind === 'invalid' && RaftError.is(frame.error, 'BAD_REQUEST')).toBe(true);
  });

  it('a body that belongs to another method is invalid', () => {
    const bytes = wire.Envelope.encode({
      callId: 6n,
      method: wire.Method.METHOD_APPEND_ENTRIES,
      timeoutMs: 0,
      body: {
        $case: 'timeoutNowRequest',
        value: { header: { groupId: 'g', from: 'a', to: 'b', term: 1n } },
      },
    }).finish();
    const frame = decodeFrame(bytes);
    expect(frame.kind === 'invalid' && frame.error.message).toMatch(
      /appendEntries carries a timeoutNowRequest/,
    );
  });

  it('an envelope without a body is invalid', () => {
    const frame = decodeFrame(new Uint8Array([0x08, 0x09]));
    expect(frame).toMatchObject({ kind: 'invalid', callId: 9 });
  });
});
