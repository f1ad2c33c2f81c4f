// `pnpm bench` in this package: round-trip latency and throughput of this transport on
// 127.0.0.1, next to the memory transport in the same run. Prints ONE JSON value on stdout;
// progress goes to stderr. Usage: tsx bench/transport-bench.ts [--quick]
import { runTransportBench, serveBench } from '@kontiki/testkit/transport-tools';
import { grpcTransport } from '../src/index.js';

const results = await runTransportBench(
  'grpc',
  async () => {
    const server = await grpcTransport({ listen: '127.0.0.1:0' });
    const caller = await grpcTransport({});
    serveBench(server);
    return {
      caller,
      to: server.address ?? '',
      close: async () => void (await Promise.all([caller.close(), server.close()])),
    };
  },
  { quick: process.argv.includes('--quick') },
);
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
