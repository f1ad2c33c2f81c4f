import type { Transport } from '@kontiki/core';
import { transportSuite } from '@kontiki/testkit/transport';
import { type GrpcTransport, grpcTransport } from '../src/index.js';

transportSuite({
  name: 'gRPC',
  controlLane: true,
  async create() {
    const opened: Transport[] = [];
    const open = async (listen: string): Promise<GrpcTransport> => {
      const transport = await grpcTransport({ listen, defaultTimeoutMs: 10_000 });
      opened.push(transport);
      return transport;
    };
    const endpoints = await Promise.all(
      [0, 1, 2].map(async () => {
        const transport = await open('127.0.0.1:0');
        return { peerId: transport.address ?? '', transport };
      }),
    );
    return {
      endpoints,
      async restart(index, whileDown) {
        const endpoint = endpoints[index];
        if (!endpoint) throw new Error(`no endpoint ${index}`);
        await endpoint.transport.close();
        await whileDown();
        // Same address as before: the caller's channel must find it again by itself.
        return open(endpoint.peerId);
      },
      async cleanup() {
        await Promise.all(opened.map((t) => t.close()));
      },
    };
  },
});
