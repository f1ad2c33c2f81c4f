import type { ChannelOptions } from '@grpc/grpc-js';
import { InvalidOptionError, type Logger, type PeerId } from '@kontiki/core';

/** PEM-encoded key material, as a string or as bytes. */
export type Pem = string | Uint8Array;

/**
 * TLS for both sides of the endpoint. The server presents `cert`/`key`; the client checks
 * the peer's certificate against `ca`. With `mutual`, the server also demands a client
 * certificate signed by `ca`, and the client presents `cert`/`key`.
 */
export interface GrpcTlsOptions {
  /** The CA (or bundle) that signs every peer's certificate. */
  readonly ca: Pem;
  /** This endpoint's certificate chain. */
  readonly cert: Pem;
  /** This endpoint's private key. */
  readonly key: Pem;
  /** Require and verify client certificates (mutual TLS). Default false. */
  readonly mutual?: boolean;
  /** Verify peers' certificates against this name instead of the address's host. */
  readonly serverName?: string;
  /**
   * With `mutual`: every request's `from` must be one of the names in the caller's
   * certificate (a URI or DNS subject alternative name, or the subject's CN), else the
   * stream is refused with UNAUTHENTICATED; a member's certificate cannot speak for
   * another member. Default true.
   */
  readonly verifyPeerId?: boolean;
}

/** Maps a peer id to the "host:port" it listens on; undefined when the peer is unknown. */
export type PeerResolver =
  | ReadonlyMap<PeerId, string>
  | Readonly<Record<PeerId, string>>
  | ((peerId: PeerId) => string | undefined);

export interface GrpcTransportOptions {
  /**
   * "host:port" to serve on; port 0 picks a free one (see `address`). Without it the
   * endpoint only calls out (a client that hosts no group).
   */
  readonly listen?: string;
  /** Where each peer listens. Default: a peer id is its own "host:port". */
  readonly peers?: PeerResolver;
  /** TLS, or mutual TLS. Default: plaintext (fit for a trusted network only). */
  readonly tls?: GrpcTlsOptions;
  /**
   * The cluster's shared secret. Sent with every stream this endpoint opens; when set, a
   * stream that does not present it is refused (UNAUTHENTICATED) before any message on it
   * is read. Every member needs the same one. Without TLS it crosses the network in clear.
   */
  readonly token?: string;
  /**
   * Accept listening beyond loopback without authentication (no token, no mutual TLS).
   * Without it such a `listen` fails with INVALID_OPTION: anyone who reaches the port could
   * rewrite this node's log.
   * @defaultValue `false`
   */
  readonly allowInsecure?: boolean;
  /** Where the endpoint's warnings go (an endpoint without authentication warns). Default: `process.emitWarning`. */
  readonly logger?: Logger;
  /**
   * Largest message sent or accepted, in bytes.
   * @defaultValue `64 * 1024 * 1024` (64 MiB)
   */
  readonly maxMessageBytes?: number;
  /**
   * Deadline in ms of a call whose caller gives no `timeoutMs`.
   * @defaultValue `10_000`
   */
  readonly defaultTimeoutMs?: number;
  /**
   * A connection to a peer that carried no call for this long is closed (a peer removed
   * from every group served here is forgotten). In ms.
   * @defaultValue `300_000` (5 minutes)
   */
  readonly idleTimeoutMs?: number;
  /**
   * Calls to one peer waiting for their answer (caller side), and requests of one calling
   * peer being handled at once (server side); one more fails with BUSY.
   * @defaultValue `10_000`
   */
  readonly maxPendingCalls?: number;
  /**
   * Bytes written to one peer but not yet taken by the socket; beyond, calls fail with BUSY.
   * @defaultValue `64 * 1024 * 1024` (64 MiB)
   */
  readonly maxBufferedBytes?: number;
  /**
   * Interval in ms of HTTP/2 keep-alive pings, which detect a dead peer.
   * @defaultValue `10_000`
   */
  readonly keepaliveMs?: number;
  /**
   * How long in ms a ping may go unanswered before the connection is dropped.
   * @defaultValue `5_000`
   */
  readonly keepaliveTimeoutMs?: number;
  /**
   * Reconnect back-off after a failed connection attempt: first and longest wait, in ms.
   * @defaultValue `{ initialMs: 100, maxMs: 5_000 }`
   */
  readonly reconnectBackoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Extra grpc-js channel/server options, applied last (an escape hatch; prefer the options above). */
  readonly channelOptions?: ChannelOptions;
}

/** The options with every default filled in and checked. */
export interface ResolvedGrpcOptions {
  readonly listen: string | undefined;
  readonly resolve: (peerId: PeerId) => string | undefined;
  readonly tls: GrpcTlsOptions | undefined;
  /** '' when the endpoint has no token. */
  readonly token: string;
  /** Check each request's `from` against the caller's certificate (mutual TLS only). */
  readonly verifyPeerId: boolean;
  readonly allowInsecure: boolean;
  readonly logger: Logger | undefined;
  readonly maxMessageBytes: number;
  readonly defaultTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxPendingCalls: number;
  readonly maxBufferedBytes: number;
  readonly channelOptions: ChannelOptions;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) {
    throw new InvalidOptionError(name, `must be a positive number, got ${String(value)}`);
  }
  return value;
}

function resolverOf(peers: PeerResolver | undefined): (peerId: PeerId) => string | undefined {
  if (peers === undefined) return (peerId) => peerId;
  if (typeof peers === 'function') return peers;
  if (peers instanceof Map) return (peerId) => peers.get(peerId);
  const record = peers as Readonly<Record<PeerId, string>>;
  return (peerId) => (Object.hasOwn(record, peerId) ? record[peerId] : undefined);
}

export function resolveOptions(options: GrpcTransportOptions): ResolvedGrpcOptions {
  if (options.listen !== undefined && !/^.+:\d+$/.test(options.listen)) {
    throw new InvalidOptionError(
      'listen',
      `expected "host:port", got ${JSON.stringify(options.listen)}`,
    );
  }
  if (options.tls !== undefined) {
    for (const key of ['ca', 'cert', 'key'] as const) {
      if (options.tls[key] === undefined) throw new InvalidOptionError(`tls.${key}`, 'is required');
    }
  }
  const maxMessageBytes = positive('maxMessageBytes', options.maxMessageBytes, 64 * 1024 * 1024);
  const keepaliveMs = positive('keepaliveMs', options.keepaliveMs, 10_000);
  const keepaliveTimeoutMs = positive('keepaliveTimeoutMs', options.keepaliveTimeoutMs, 5_000);
  const initialBackoff = positive(
    'reconnectBackoff.initialMs',
    options.reconnectBackoff?.initialMs,
    100,
  );
  const maxBackoff = positive('reconnectBackoff.maxMs', options.reconnectBackoff?.maxMs, 5_000);
  if (maxBackoff < initialBackoff) {
    throw new InvalidOptionError('reconnectBackoff', 'maxMs must be at least initialMs');
  }
  if (options.token !== undefined && typeof options.token !== 'string') {
    throw new InvalidOptionError('token', 'must be a string');
  }
  return {
    listen: options.listen,
    resolve: resolverOf(options.peers),
    tls: options.tls,
    token: options.token ?? '',
    verifyPeerId: options.tls?.mutual === true && options.tls.verifyPeerId !== false,
    allowInsecure: options.allowInsecure === true,
    logger: options.logger,
    maxMessageBytes,
    defaultTimeoutMs: positive('defaultTimeoutMs', options.defaultTimeoutMs, 10_000),
    idleTimeoutMs: positive('idleTimeoutMs', options.idleTimeoutMs, 300_000),
    maxPendingCalls: Math.floor(positive('maxPendingCalls', options.maxPendingCalls, 10_000)),
    maxBufferedBytes: positive('maxBufferedBytes', options.maxBufferedBytes, 64 * 1024 * 1024),
    channelOptions: {
      'grpc.max_send_message_length': maxMessageBytes,
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.keepalive_time_ms': keepaliveMs,
      'grpc.keepalive_timeout_ms': keepaliveTimeoutMs,
      // A Raft peer is often idle between heartbeats: keep probing it anyway.
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': initialBackoff,
      'grpc.max_reconnect_backoff_ms': maxBackoff,
      // Each endpoint owns its connections: closing one endpoint must not drop another's
      // (grpc-js otherwise shares subchannels across clients of one process).
      'grpc.use_local_subchannel_pool': 1,
      // Channelz keeps statistics for every call and message: a cost per Raft message that
      // nothing here reads. A user who wants it turns it on in channelOptions.
      'grpc.enable_channelz': 0,
      ...(options.tls?.serverName === undefined
        ? {}
        : { 'grpc.ssl_target_name_override': options.tls.serverName }),
      ...options.channelOptions,
    },
  };
}
