import { setTimeout as sleep } from 'node:timers/promises';
import type { WriteOutcome } from '../../src/error-mapping.js';
import { bytes, EtcdCallError, EtcdClient, text } from '../../src/etcd/etcd-client.js';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  RangeRequest,
} from '../../src/gen/etcdserverpb/rpc.js';
import { KvClient, KvError } from '../../src/kv-client.js';

/**
 * What the Jepsen-style workload does to the store, whatever API carries it: reads, puts,
 * deletes and compare-and-sets of one key. A failed write throws an error that
 * `WorkloadClient.outcomeOf` classifies.
 */
export interface WorkloadClient {
  get(key: string): Promise<string | null>;
  put(key: string, value: string): Promise<{ prev: string | null }>;
  delete(key: string): Promise<{ prev: string | null }>;
  /** Sets `value` if the key holds `expected` (null: the key is absent). */
  cas(
    key: string,
    expected: string | null,
    value: string,
  ): Promise<{ succeeded: boolean; prev: string | null }>;
  /** Whether a failed write certainly did not take effect; `undefined`: not a write error. */
  outcomeOf(error: unknown): WriteOutcome | undefined;
  /** A short name for the history (an error code). */
  nameOf(error: unknown): string;
  close(): void;
}

export interface WorkloadClientOptions {
  /** One request's deadline; a write that times out is indefinite. */
  readonly requestTimeoutMs: number;
  /** How long to go on trying other nodes with what certainly did not take effect. */
  readonly retryForMs: number;
}

/** The HTTP API, through KvClient (redirects to the leader, safe retries). */
export function httpWorkloadClient(
  endpoints: readonly string[],
  options: WorkloadClientOptions,
): WorkloadClient {
  const c = new KvClient(endpoints, {
    requestTimeoutMs: options.requestTimeoutMs,
    retryForMs: options.retryForMs,
  });
  return {
    get: async (key) => {
      const r = await c.get(key);
      return r === null ? null : r.value;
    },
    put: (key, value) => c.put(key, value),
    delete: (key) => c.delete(key),
    cas: (key, expected, value) => c.cas(key, expected, value),
    outcomeOf: (error) => (error instanceof KvError ? error.outcome : undefined),
    nameOf: (error) =>
      error instanceof KvError ? error.code : error instanceof Error ? error.name : String(error),
    close: () => c.close(),
  };
}

/**
 * etcd's v3 API, one gRPC channel per node: requests go to one node (a follower forwards
 * writes to its leader); what certainly did not take effect (`kontiki-outcome: not-applied`,
 * or no connection) is tried again on the next node until `retryForMs`, as KvClient does.
 * CAS is a Txn: compare the value (or version 0 for "absent"), put on success, get on failure.
 */
export function etcdWorkloadClient(
  endpoints: readonly string[],
  options: WorkloadClientOptions,
): WorkloadClient {
  const clients = endpoints.map(
    (e) => new EtcdClient(e, { callTimeoutMs: options.requestTimeoutMs }),
  );
  let current = 0;
  const attempt = async <T>(op: (c: EtcdClient) => Promise<T>): Promise<T> => {
    const deadline = Date.now() + options.retryForMs;
    // Bounded by the deadline and by a count.
    for (let i = 0; ; i++) {
      try {
        return await op(clients[current] as EtcdClient);
      } catch (error) {
        const retry =
          error instanceof EtcdCallError &&
          error.outcome === 'not-applied' &&
          Date.now() < deadline &&
          i < 200;
        if (!retry) throw error;
        current = (current + 1) % clients.length;
        if (current === 0) await sleep(50);
      }
    }
  };
  const firstValue = (kvs: ReadonlyArray<{ value: Uint8Array }>): string | null =>
    kvs[0] === undefined ? null : text(kvs[0].value);
  return {
    get: (key) => attempt(async (c) => firstValue((await c.get(key)).kvs)),
    put: (key, value) =>
      attempt(async (c) => {
        const r = await c.put(key, value, { prevKv: true });
        return { prev: r.prevKv === undefined ? null : text(r.prevKv.value) };
      }),
    delete: (key) =>
      attempt(async (c) => ({ prev: firstValue((await c.delete(key, { prevKv: true })).prevKvs) })),
    cas: (key, expected, value) =>
      attempt(async (c) => {
        const k = bytes(key);
        const compare =
          expected === null
            ? {
                result: Compare_CompareResult.EQUAL,
                target: Compare_CompareTarget.VERSION,
                key: k,
                targetUnion: { $case: 'version' as const, value: 0n },
                rangeEnd: new Uint8Array(0),
              }
            : {
                result: Compare_CompareResult.EQUAL,
                target: Compare_CompareTarget.VALUE,
                key: k,
                targetUnion: { $case: 'value' as const, value: bytes(expected) },
                rangeEnd: new Uint8Array(0),
              };
        const r = await c.txn(
          [compare],
          [
            {
              request: {
                $case: 'requestPut',
                value: {
                  key: k,
                  value: bytes(value),
                  lease: 0n,
                  prevKv: false,
                  ignoreValue: false,
                  ignoreLease: false,
                },
              },
            },
          ],
          [{ request: { $case: 'requestRange', value: RangeRequest.fromPartial({ key: k }) } }],
        );
        if (r.succeeded) return { succeeded: true, prev: expected };
        const range = r.responses[0]?.response;
        const prev = range?.$case === 'responseRange' ? firstValue(range.value.kvs) : null;
        return { succeeded: false, prev };
      }),
    outcomeOf: (error) => (error instanceof EtcdCallError ? error.outcome : undefined),
    nameOf: (error) =>
      error instanceof EtcdCallError
        ? `${error.code}:${error.details.slice(0, 40)}`
        : error instanceof Error
          ? error.name
          : String(error),
    close: () => {
      for (const c of clients) c.close();
    },
  };
}
