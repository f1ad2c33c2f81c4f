import { ErrorCode, RaftError } from '@kontiki/core';
import { HttpError } from './http-io.js';

/**
 * For a write that failed: `not-applied` means it certainly did not and will not take
 * effect (safe to retry anything); `unknown` means it may still be committed (retry only
 * what is idempotent, e.g. a put of the same value).
 */
export type WriteOutcome = 'not-applied' | 'unknown';

export interface ErrorContext {
  /**
   * A write (the answer says whether it may have taken effect), a read (served by any node:
   * NOT_LEADER is retried, not redirected), or an admin request (redirected to the leader,
   * without a write outcome).
   */
  readonly kind: 'write' | 'read' | 'admin';
  /** The request's path and query, for the redirect to the leader. */
  readonly url: string;
  /** The HTTP address of a peer, when known. */
  httpOf(peerId: string): string | undefined;
}

const RETRY = { 'retry-after': '1' };

/**
 * Maps what `node.apply`, `node.readIndex` or `node.transferLeadership` threw to an HTTP
 * answer. A follower answers writes with 307 to the leader's HTTP address when it knows it
 * (the body names the leader too), and 503 NOT_LEADER when no leader is known.
 */
export function httpErrorOf(error: unknown, context: ErrorContext): HttpError {
  if (error instanceof HttpError) return error;
  if (!RaftError.is(error)) {
    return new HttpError(500, 'INTERNAL', error instanceof Error ? error.message : String(error));
  }
  const write = context.kind === 'write';
  const outcome = (o: WriteOutcome): Record<string, unknown> => (write ? { outcome: o } : {});
  switch (error.code) {
    case ErrorCode.NOT_LEADER: {
      // Read the field rather than `instanceof`: two installed copies of core still agree.
      const raw = (error as { leaderId?: unknown }).leaderId;
      const leaderId = typeof raw === 'string' && raw !== '' ? raw : undefined;
      const leaderHttp = leaderId === undefined ? undefined : context.httpOf(leaderId);
      // Reads are served by every node: NOT_LEADER on a read means the leader could not
      // confirm the read index just now (an election, a step-down). Retry, no redirect.
      if (context.kind === 'read') {
        return new HttpError(
          503,
          ErrorCode.NOT_LEADER,
          'the read could not be confirmed by a leader right now (an election may be under way); retry',
          { leaderId: leaderId ?? null },
          RETRY,
        );
      }
      if (leaderId !== undefined && leaderHttp !== undefined) {
        return new HttpError(
          307,
          ErrorCode.NOT_LEADER,
          `this node is not the leader; the leader is ${leaderId} at ${leaderHttp}`,
          { leaderId, leaderHttp, ...outcome('not-applied') },
          { location: `http://${leaderHttp}${context.url}` },
        );
      }
      return new HttpError(
        503,
        ErrorCode.NOT_LEADER,
        leaderId === undefined
          ? 'no leader is known yet (an election may be under way); retry'
          : `this node is not the leader; the leader is ${leaderId} (its HTTP address is unknown)`,
        { leaderId: leaderId ?? null, ...outcome('not-applied') },
        RETRY,
      );
    }
    case ErrorCode.TRANSFER_IN_PROGRESS:
    case ErrorCode.BUSY:
      return new HttpError(503, error.code, error.message, outcome('not-applied'), RETRY);
    case ErrorCode.LEADER_STEPPED_DOWN:
    case ErrorCode.SHUTDOWN:
    case ErrorCode.UNREACHABLE:
      return new HttpError(503, error.code, error.message, outcome('unknown'), RETRY);
    case ErrorCode.TIMEOUT:
    case ErrorCode.ABORTED:
      return new HttpError(
        504,
        ErrorCode.TIMEOUT,
        write
          ? 'the write was not applied in time; it may still be committed'
          : 'the read could not be confirmed in time; retry',
        outcome('unknown'),
      );
    case ErrorCode.BAD_REQUEST:
      return new HttpError(400, error.code, error.message);
    default:
      return new HttpError(500, error.code, error.message, outcome('unknown'));
  }
}
