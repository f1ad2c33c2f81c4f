import type { Transport } from '@kontiki/core';
import { RaftError } from '@kontiki/core';
import { transportSuite } from '@kontiki/testkit/transport';
import { throwawayCa } from '@kontiki/testkit/transport-tools';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type GrpcTlsOptions, type GrpcTransport, grpcTransport } from '../src/index.js';

const ca = throwawayCa();
const node = ca.issue('node');
const rogueCa = throwawayCa('rogue-ca');
const rogue = rogueCa.issue('rogue');
afterAll(() => {
  ca.dispose();
  rogueCa.dispose();
});

const tls: GrpcTlsOptions = { ca: ca.ca, ...node };
const mtls: GrpcTlsOptions = { ...tls, mutual: true };

// Under mutual TLS each request's `from` must be a name of the caller's certificate: each
// endpoint's certificate names its peer id (CN), and the suite's caller also speaks as "caller".
const names = ['n0', 'n1', 'n2'];
const endpointCerts = names.map((name, i) =>
  ca.issue(name, { altNames: i === 0 ? ['DNS:caller'] : [] }),
);

transportSuite({
  name: 'gRPC with mutual TLS',
  controlLane: true,
  async create() {
    const opened: Transport[] = [];
    const addresses = new Map<string, string>();
    const open = async (index: number, listen: string): Promise<GrpcTransport> => {
      const transport = await grpcTransport({
        listen,
        tls: { ...mtls, ...endpointCerts[index] },
        peers: (id) => addresses.get(id),
      });
      addresses.set(names[index] ?? '', transport.address ?? '');
      opened.push(transport);
      return transport;
    };
    const endpoints = await Promise.all(
      names.map(async (peerId, index) => ({ peerId, transport: await open(index, '127.0.0.1:0') })),
    );
    return {
      endpoints,
      async restart(index, whileDown) {
        const endpoint = endpoints[index];
        if (!endpoint) throw new Error(`no endpoint ${index}`);
        await endpoint.transport.close();
        await whileDown();
        return open(index, addresses.get(endpoint.peerId) ?? '');
      },
      async cleanup() {
        await Promise.all(opened.map((t) => t.close()));
      },
    };
  },
});

const handler = {
  requestVote: async () => ({ term: 1, granted: true }),
  appendEntries: async () => ({ term: 1, success: true, lastLogIndex: 0 }),
  installSnapshot: async () => ({ term: 1, success: true }),
  timeoutNow: async () => ({ term: 1, success: true }),
  readIndex: async () => ({ term: 1, success: true, readIndex: 1 }),
};

describe('who may connect to a TLS endpoint', () => {
  const opened: Transport[] = [];
  const open = async (options: Parameters<typeof grpcTransport>[0]) => {
    const transport = await grpcTransport(options);
    opened.push(transport);
    return transport;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.close()));
  });

  async function serverWith(options: GrpcTlsOptions): Promise<string> {
    const server = await open({ listen: '127.0.0.1:0', tls: options });
    server.serve('g', handler);
    return server.address ?? '';
  }

  // The client speaks as "node", the name its certificate gives (checked under mutual TLS).
  const request = (to: string) => ({ groupId: 'g', from: 'node', to, term: 1 });

  async function outcome(client: Transport, to: string): Promise<string> {
    try {
      await client.call('timeoutNow', request(to), { timeoutMs: 5000 });
      return 'ok';
    } catch (error) {
      expect(RaftError.is(error)).toBe(true);
      return (error as RaftError).code;
    }
  }

  it('a client that trusts the CA reaches a TLS server', async () => {
    const to = await serverWith(tls);
    expect(await outcome(await open({ tls }), to)).toBe('ok');
  });

  it('a plaintext client cannot talk to a TLS server', async () => {
    const to = await serverWith(tls);
    expect(await outcome(await open({}), to)).toBe('UNREACHABLE');
  });

  it('a client that does not trust the CA refuses the server', async () => {
    const to = await serverWith(tls);
    const client = await open({ tls: { ca: rogueCa.ca, ...rogue } });
    expect(await outcome(client, to)).toBe('UNREACHABLE');
  });

  it('a mutual-TLS server admits a client with a certificate from its CA', async () => {
    const to = await serverWith(mtls);
    expect(await outcome(await open({ tls: mtls }), to)).toBe('ok');
  });

  it('a mutual-TLS server turns away a client without a certificate', async () => {
    const to = await serverWith(mtls);
    expect(await outcome(await open({ tls }), to)).toBe('UNREACHABLE');
  });

  it('a mutual-TLS server turns away a client whose certificate another CA signed', async () => {
    const to = await serverWith(mtls);
    const client = await open({ tls: { ca: ca.ca, ...rogue, mutual: true } });
    expect(await outcome(client, to)).toBe('UNREACHABLE');
  });
});
