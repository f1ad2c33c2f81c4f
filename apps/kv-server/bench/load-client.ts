// A closed-loop load generator for etcd's v3 API, in its own process (so that its CPU is not
// the servers'): N loops, each sending a Put and waiting for its answer before the next one,
// to ONE endpoint (the leader), over one gRPC channel, with the generated client the
// kv-server itself uses. Speaks to etcd and to Kontiki's kv-server alike.
//
//   tsx bench/load-client.ts --endpoint 127.0.0.1:2379 --concurrency 64 \
//       [--warmup-ms 1000] [--duration-ms 3000] [--value-bytes 100] [--keys 10000]
//
// stdout: one JSON line `{"event":"measuring"}` when the warm-up ends (the caller samples the
// servers' CPU then), and one `{"event":"done",...}` line with the result when the window
// closes (sampled again). Progress and errors go to stderr.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { bytes, EtcdClient } from '../src/etcd/etcd-client.js';
import { PutRequest } from '../src/gen/etcdserverpb/rpc.js';
import { groupIndexOf } from '../src/groups.js';
import { int } from './cli-args.js';
import { type LatencySummary, summarize } from './latency.js';
import { grpcFrame, RawGrpcChannel } from './raw-grpc.js';

export interface LoadResult {
  readonly event: 'done';
  readonly endpoint: string;
  readonly concurrency: number;
  readonly valueBytes: number;
  readonly seconds: number;
  /** Puts acknowledged within the measured window (by when they completed). */
  readonly acked: number;
  /** Puts acknowledged in the whole run, warm-up included. */
  readonly totalAcked: number;
  readonly perSecond: number;
  /** Of the puts that started and completed within the window. */
  readonly latencyMs: LatencySummary;
  /** Puts that failed within the window (none, on a healthy cluster). */
  readonly errors: number;
  readonly firstError?: string;
  /** CPU (user + system) this load client used over the measured window, in seconds. */
  readonly clientCpuSeconds: number;
}

const PUT_PATH = '/etcdserverpb.KV/Put';

const { values } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    concurrency: { type: 'string', default: '1' },
    'warmup-ms': { type: 'string', default: '1000' },
    'duration-ms': { type: 'string', default: '3000' },
    'value-bytes': { type: 'string', default: '100' },
    keys: { type: 'string', default: '10000' },
    // A sharded kv-server: the endpoint that leads each group (JSON array, group i's at i).
    // Every Put then goes to its key's group leader, as a client of a sharded store does.
    routes: { type: 'string' },
    // `grpc-js` (the generated client the kv-server itself uses) or `raw` (bench/raw-grpc.ts:
    // one HTTP/2 stream per Put on Node's http2, requests encoded beforehand: far less CPU).
    client: { type: 'string', default: 'grpc-js' },
  },
});

async function main(): Promise<void> {
  const endpoint = values.endpoint;
  if (endpoint === undefined) throw new Error('--endpoint HOST:PORT is required');
  const concurrency = int('concurrency', values.concurrency, 1, 4096);
  const warmupMs = int('warmup-ms', values['warmup-ms'], 0, 600_000);
  const durationMs = int('duration-ms', values['duration-ms'], 1, 600_000);
  const valueBytes = int('value-bytes', values['value-bytes'], 0, 1024 * 1024);
  const keys = int('keys', values.keys, 1, 10_000_000);

  // Several endpoints (comma-separated): the loops are spread over them, one channel each
  // (a sharded cluster, where every node leads some groups and forwards the other writes).
  const clients = endpoint.split(',').map(
    (e) =>
      new EtcdClient(e, {
        callTimeoutMs: 10_000,
        channelOptions: { 'grpc.max_send_message_length': 8 * 1024 * 1024 },
      }),
  );
  await Promise.all(clients.map((c) => c.connect(5000)));
  const value = bytes('v'.repeat(valueBytes));
  // Requests built once: the loop measures the servers, not request construction.
  const requests = Array.from({ length: Math.min(keys, 100_000) }, (_, i) =>
    PutRequest.fromPartial({ key: bytes(`bench/${String(i).padStart(6, '0')}`), value }),
  );
  const routes = values.routes === undefined ? undefined : (JSON.parse(values.routes) as string[]);
  const byEndpoint = new Map<string, EtcdClient>();
  if (routes !== undefined) {
    for (const e of new Set(routes)) {
      const c = new EtcdClient(e, {
        callTimeoutMs: 10_000,
        channelOptions: { 'grpc.max_send_message_length': 8 * 1024 * 1024 },
      });
      await c.connect(5000);
      byEndpoint.set(e, c);
      clients.push(c);
    }
  }
  // Each request's client, chosen once: by its key's group leader when routing.
  const clientOf = requests.map((req) =>
    routes === undefined
      ? undefined
      : byEndpoint.get(routes[groupIndexOf(req.key, routes.length)] as string),
  );
  const raw = values.client === 'raw';
  if (!raw && values.client !== 'grpc-js') throw new Error('--client must be grpc-js or raw');
  // The raw client: one HTTP/2 session per endpoint, each request framed once.
  const rawChannels = new Map<EtcdClient, RawGrpcChannel>();
  const frames = raw ? requests.map((r) => grpcFrame(PutRequest.encode(r).finish())) : [];
  if (raw) {
    for (const c of clients) {
      const channel = new RawGrpcChannel(c.endpoint);
      await channel.connect(5000);
      rawChannels.set(c, channel);
    }
  }
  const put = (client: EtcdClient, req: PutRequest, i: number): Promise<void> =>
    raw
      ? (rawChannels.get(client) as RawGrpcChannel).unary(PUT_PATH, frames[i] as Buffer)
      : new Promise((resolve, reject) => {
          client.kv.put(req, (error) => (error ? reject(error) : resolve()));
        });

  const start = performance.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  const latencies: number[] = [];
  let acked = 0;
  let totalAcked = 0;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let cpuAtEnd: NodeJS.CpuUsage | undefined;
  const marker = setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ event: 'measuring' })}\n`);
  }, warmupMs);
  const endMarker = setTimeout(() => {
    cpuAtEnd = process.cpuUsage(cpuAtStart);
  }, warmupMs + durationMs);

  const loop = async (_: unknown, loopIndex: number): Promise<void> => {
    const client = clients[loopIndex % clients.length] as EtcdClient;
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      const i = next++ % requests.length;
      const req = requests[i] as PutRequest;
      try {
        await put(clientOf[i] ?? client, req, i);
      } catch (error) {
        const t = performance.now();
        if (t >= measureFrom && t <= end) {
          errors++;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
        continue;
      }
      const t1 = performance.now();
      totalAcked++;
      if (t1 >= measureFrom && t1 <= end) acked++;
      if (t0 >= measureFrom && t1 <= end) latencies.push(t1 - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  clearTimeout(marker);
  clearTimeout(endMarker);
  cpuAtEnd ??= process.cpuUsage(cpuAtStart);
  const seconds = durationMs / 1000;
  const result: LoadResult = {
    event: 'done',
    endpoint,
    concurrency,
    valueBytes,
    seconds,
    acked,
    totalAcked,
    perSecond: Math.round(acked / seconds),
    latencyMs: summarize(latencies),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    clientCpuSeconds: Math.round((cpuAtEnd.user + cpuAtEnd.system) / 1000) / 1000,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  for (const c of clients) c.close();
  for (const c of rawChannels.values()) c.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`load-client: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
