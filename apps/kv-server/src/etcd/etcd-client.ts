import {
  type CallOptions,
  type ChannelOptions,
  type Client,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import type { WriteOutcome } from '../error-mapping.js';
import {
  ClusterClient,
  type Compare,
  DeleteRangeRequest,
  type DeleteRangeResponse,
  KVClient,
  MaintenanceClient,
  type MemberListResponse,
  PutRequest,
  type PutResponse,
  RangeRequest,
  type RangeResponse,
  type RequestOp,
  type StatusResponse,
  type TxnResponse,
} from '../gen/etcdserverpb/rpc.js';
import { OUTCOME_TRAILER } from './etcd-errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** UTF-8 bytes of a string (keys and values of the etcd API are bytes). */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A UTF-8 string from bytes. */
export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

/** The range end that makes [prefix, end) every key that starts with `prefix` (etcd's rule). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let i = end.byteLength - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.slice(0, i + 1);
    }
  }
  // Every byte is 0xff: no key is above the prefix, so the range runs to the end.
  return new Uint8Array([0]);
}

/**
 * A failed call: the gRPC status, and for writes whether it may still take effect, from the
 * server's `kontiki-outcome` trailer; without one (an etcd server, a lost connection), unknown,
 * unless the call never left this process (no connection could be made).
 */
export class EtcdCallError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
    readonly outcome: WriteOutcome,
  ) {
    super(`${status[code] ?? code}: ${details}`);
    this.name = 'EtcdCallError';
  }

  static from(error: ServiceError): EtcdCallError {
    const trailer = error.metadata?.get(OUTCOME_TRAILER)[0];
    const outcome: WriteOutcome =
      trailer === 'not-applied' || trailer === 'unknown'
        ? trailer
        : error.code === status.UNAVAILABLE && error.details.startsWith('No connection established')
          ? 'not-applied'
          : 'unknown';
    return new EtcdCallError(error.code, error.details, outcome);
  }
}

export interface EtcdClientOptions {
  /** Deadline of each call. Default 5000 ms. */
  readonly callTimeoutMs?: number;
  readonly channelOptions?: ChannelOptions;
}

type Unary<Req, Res> = (
  req: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, res: Res) => void,
) => unknown;

/**
 * A small promise-based client of the etcd v3 API (one endpoint, one channel), over the same
 * generated code the server uses: for Kontiki's tests, its Jepsen-style workload and its
 * benchmark's load generator. It talks to etcd itself just as well.
 */
export class EtcdClient {
  readonly kv: KVClient;
  private readonly cluster: ClusterClient;
  private readonly maintenance: MaintenanceClient;
  private readonly timeoutMs: number;

  constructor(
    readonly endpoint: string,
    options: EtcdClientOptions = {},
  ) {
    this.timeoutMs = options.callTimeoutMs ?? 5000;
    const channelOptions: ChannelOptions = {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      ...options.channelOptions,
    };
    this.kv = new KVClient(endpoint, credentials.createInsecure(), channelOptions);
    const shared = { ...channelOptions, channelOverride: this.kv.getChannel() };
    this.cluster = new ClusterClient(endpoint, credentials.createInsecure(), shared);
    this.maintenance = new MaintenanceClient(endpoint, credentials.createInsecure(), shared);
  }

  /** Resolves once connected; rejects (outcome not-applied) if that takes `timeoutMs`. */
  connect(timeoutMs = this.timeoutMs): Promise<void> {
    return new Promise((resolve, reject) => {
      this.kv.waitForReady(Date.now() + timeoutMs, (error) => {
        if (error === undefined || error === null) resolve();
        else
          reject(
            new EtcdCallError(
              status.UNAVAILABLE,
              `cannot connect to ${this.endpoint}: ${error.message}`,
              'not-applied',
            ),
          );
      });
    });
  }

  put(
    key: string,
    value: string | Uint8Array,
    opts: { prevKv?: boolean } = {},
  ): Promise<PutResponse> {
    const req = PutRequest.fromPartial({
      key: bytes(key),
      value: typeof value === 'string' ? bytes(value) : value,
      prevKv: opts.prevKv ?? false,
    });
    return this.call(this.kv, this.kv.put, req);
  }

  /** One key, or with `prefix` every key that starts with it. Linearizable unless `serializable`. */
  get(
    key: string,
    opts: { prefix?: boolean; serializable?: boolean; limit?: number; keysOnly?: boolean } = {},
  ): Promise<RangeResponse> {
    const k = bytes(key);
    const req = RangeRequest.fromPartial({
      key: k,
      rangeEnd: opts.prefix === true ? prefixEnd(k) : new Uint8Array(0),
      serializable: opts.serializable ?? false,
      limit: BigInt(opts.limit ?? 0),
      keysOnly: opts.keysOnly ?? false,
    });
    return this.call(this.kv, this.kv.range, req);
  }

  delete(
    key: string,
    opts: { prefix?: boolean; prevKv?: boolean } = {},
  ): Promise<DeleteRangeResponse> {
    const k = bytes(key);
    const req = DeleteRangeRequest.fromPartial({
      key: k,
      rangeEnd: opts.prefix === true ? prefixEnd(k) : new Uint8Array(0),
      prevKv: opts.prevKv ?? false,
    });
    return this.call(this.kv, this.kv.deleteRange, req);
  }

  txn(compare: Compare[], success: RequestOp[], failure: RequestOp[] = []): Promise<TxnResponse> {
    return this.call(this.kv, this.kv.txn, { compare, success, failure });
  }

  memberList(): Promise<MemberListResponse> {
    return this.call(this.cluster, this.cluster.memberList, { linearizable: false });
  }

  status(): Promise<StatusResponse> {
    return this.call(this.maintenance, this.maintenance.status, {});
  }

  close(): void {
    this.cluster.close();
    this.maintenance.close();
    this.kv.close();
  }

  private call<Req, Res>(client: Client, method: Unary<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(
        client,
        req,
        new Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (error, res) => {
          if (error !== null) reject(EtcdCallError.from(error));
          else resolve(res);
        },
      );
    });
  }
}
