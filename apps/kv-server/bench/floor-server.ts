// The yardstick below every server in `bench:etcd` (system `node-floor`): a bare gRPC server
// on Node's own http2 module that answers each KV.Put with the same encoded PutResponse and
// does nothing else: no log, no disk, no replication, no grpc-js. What it costs per request
// is the floor of any Node server behind the etcd v3 API over HTTP/2 on this machine, and how
// fast the load client drives it is the client's own ceiling here.
//
//   tsx bench/floor-server.ts   prints {"endpoint":"127.0.0.1:PORT"} once it listens
import { constants, createServer } from 'node:http2';
import { PutResponse } from '../src/gen/etcdserverpb/rpc.js';
import { grpcFrame } from './raw-grpc.js';

const PUT_PATH = '/etcdserverpb.KV/Put';
const answer = grpcFrame(
  PutResponse.encode({
    header: { clusterId: 1n, memberId: 1n, revision: 1n, raftTerm: 1n },
    prevKv: undefined,
  }).finish(),
);

const server = createServer();
server.on('stream', (stream, headers) => {
  if (headers[constants.HTTP2_HEADER_PATH] !== PUT_PATH) {
    // Trailers-only: grpc-status 12, UNIMPLEMENTED.
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' },
      {
        endStream: true,
      },
    );
    return;
  }
  stream.on('data', () => {});
  stream.on('end', () => {
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc' },
      { waitForTrailers: true },
    );
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(answer);
  });
  stream.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  process.stdout.write(`${JSON.stringify({ endpoint: `127.0.0.1:${address.port}` })}\n`);
});
// Ends with its launcher (stdin closes) as the kv-server processes do.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
