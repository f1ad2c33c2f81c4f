import type { Transport } from '@kontiki/core';
import { MemoryNetwork } from '@kontiki/transport-memory';
import { type TransportEndpoint, transportSuite } from '../src/conformance/transport.js';

transportSuite({
  name: 'memory',
  async create() {
    const network = new MemoryNetwork();
    const opened: Transport[] = [];
    const open = (peerId: string): TransportEndpoint => {
      const transport = network.endpoint(peerId);
      opened.push(transport);
      return { peerId, transport };
    };
    const endpoints = ['n1', 'n2', 'n3'].map(open);
    return {
      endpoints,
      async restart(index, whileDown) {
        const endpoint = endpoints[index];
        if (!endpoint) throw new Error(`no endpoint ${index}`);
        await endpoint.transport.close();
        await whileDown();
        return open(endpoint.peerId).transport;
      },
      async cleanup() {
        await Promise.all(opened.map((t) => t.close()));
      },
    };
  },
});
