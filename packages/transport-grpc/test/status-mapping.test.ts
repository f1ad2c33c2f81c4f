import { Metadata, status } from '@grpc/grpc-js';
import { ErrorCode, errorFromCode, NotLeaderError, RaftError } from '@kontiki/core';
import { describe, expect, it } from 'vitest';
import { errorOfGrpcStatus, grpcStatusCodeOf, grpcStatusOf } from '../src/index.js';

describe('RaftError codes and gRPC statuses map both ways', () => {
  for (const code of Object.values(ErrorCode)) {
    it(`${code} survives the trip through a gRPC status and its metadata`, () => {
      const original = errorFromCode(code, `a ${code} error`);
      const s = grpcStatusOf(original);
      expect(s.code).toBe(grpcStatusCodeOf(code));
      const back = errorOfGrpcStatus(s, 'peer');
      expect(back.code).toBe(code);
      expect(back.message).toBe(`a ${code} error`);
    });
  }

  it("NOT_LEADER keeps the leader's id and becomes FAILED_PRECONDITION", () => {
    const s = grpcStatusOf(new NotLeaderError('10.0.0.3:7000'));
    expect(s.code).toBe(status.FAILED_PRECONDITION);
    const back = errorOfGrpcStatus(s, 'peer');
    expect(back).toBeInstanceOf(NotLeaderError);
    expect((back as NotLeaderError).leaderId).toBe('10.0.0.3:7000');
  });

  it('statuses from grpc-js itself (no Kontiki metadata) map to the nearest code', () => {
    const cases: [status, string][] = [
      [status.UNAVAILABLE, 'UNREACHABLE'],
      [status.CANCELLED, 'UNREACHABLE'],
      [status.DEADLINE_EXCEEDED, 'TIMEOUT'],
      [status.RESOURCE_EXHAUSTED, 'BAD_REQUEST'],
      [status.INVALID_ARGUMENT, 'BAD_REQUEST'],
      [status.UNIMPLEMENTED, 'BAD_REQUEST'],
      [status.UNAUTHENTICATED, 'UNAUTHENTICATED'],
      [status.PERMISSION_DENIED, 'UNAUTHENTICATED'],
      [status.ABORTED, 'ABORTED'],
      [status.INTERNAL, 'INTERNAL'],
      [status.UNKNOWN, 'INTERNAL'],
    ];
    for (const [code, expected] of cases) {
      const error = errorOfGrpcStatus({ code, details: 'x', metadata: new Metadata() }, 'peer');
      expect(RaftError.is(error), status[code]).toBe(true);
      expect(error.code, status[code]).toBe(expected);
    }
  });

  it('an unknown code in the metadata becomes INTERNAL', () => {
    const metadata = new Metadata();
    metadata.set('kontiki-error-code', 'FROM_THE_FUTURE');
    expect(errorOfGrpcStatus({ code: status.UNKNOWN, details: 'x', metadata }, 'p').code).toBe(
      'INTERNAL',
    );
  });
});
