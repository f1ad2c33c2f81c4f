// A lean gRPC client for one unary method, on Node's own http2 module: each call is one
// HTTP/2 stream with a request encoded once beforehand (the 5-byte gRPC prefix and the
// protobuf message), and the answer is judged by its grpc-status. For the load client
// (`--client raw`): grpc-js costs the load process ~200 µs of CPU per call at thousands of
// calls a second, which on a 2-core machine is CPU the servers under test do not get.
import { type ClientHttp2Session, connect, constants } from 'node:http2';

/** A unary gRPC request body: compression flag 0, big-endian length, the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.byteLength);
  frame[0] = 0;
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

export class RawGrpcChannel {
  private readonly session: ClientHttp2Session;

  constructor(endpoint: string) {
    // Node's default session memory (10 MB) is less than 256 Puts of 64 KiB in flight: past it
    // nghttp2 resets streams with ENHANCE_YOUR_CALM, which read as failed Puts of the server.
    this.session = connect(`http://${endpoint}`, { maxSessionMemory: 1024 });
    this.session.on('error', () => {});
  }

  /** Resolves once the HTTP/2 session is up (rejects after `timeoutMs`). */
  connect(timeoutMs: number): Promise<void> {
    if (this.session.connecting === false) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('raw gRPC: connect timed out')), timeoutMs);
      this.session.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      this.session.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** One unary call of `path` with a pre-framed request; rejects unless grpc-status is 0. */
  unary(path: string, frame: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = this.session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: path,
        [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
        te: 'trailers',
      });
      let grpcStatus: string | undefined;
      let message = '';
      const judge = (headers: Record<string, unknown>) => {
        const s = headers['grpc-status'];
        if (s !== undefined) grpcStatus = String(s);
        const m = headers['grpc-message'];
        if (m !== undefined) message = decodeURIComponent(String(m));
      };
      stream.on('response', judge); // a trailers-only answer carries the status here
      stream.on('trailers', judge);
      stream.on('data', () => {});
      stream.on('error', reject);
      stream.on('close', () => {
        if (grpcStatus === '0') resolve();
        else
          reject(new Error(`grpc-status ${grpcStatus ?? 'none'}${message ? `: ${message}` : ''}`));
      });
      stream.end(frame);
    });
  }

  close(): void {
    this.session.close();
  }
}
