import { type Client, Metadata, type ServiceError } from '@grpc/grpc-js';
import { PROTOCOL_VERSION, splitBatch } from '@kontiki/protocol';
import { ERROR_CODE_KEY, PROTOCOL_VERSION_KEY, TOKEN_KEY } from '../../src/index.js';

export const EXCHANGE_PATH = '/kontiki.raft.v1.RaftService/Exchange';
const asBuffer = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const identity = (bytes: Buffer) => bytes;

export interface RawOutcome {
  /** The envelopes that came back (a batch counts as the envelopes in it). */
  readonly frames: Uint8Array[];
  readonly status: { code: number; details: string; kontikiCode: string | undefined };
}

export interface RawExchangeOptions {
  /** The token to present; undefined sends none. */
  readonly token?: string | undefined;
  /** End our side once this many answers came back. */
  readonly endAfterFrames?: number;
  /** Deadline of the whole stream. Default 10 s. */
  readonly timeoutMs?: number;
}

/**
 * Opens an Exchange stream the way a hostile client would (no transport, raw bytes), writes
 * `messages`, and collects what comes back until the stream ends.
 */
export function rawExchange(
  client: Client,
  messages: readonly Uint8Array[],
  options: RawExchangeOptions = {},
): Promise<RawOutcome> {
  const metadata = new Metadata();
  metadata.set(PROTOCOL_VERSION_KEY, String(PROTOCOL_VERSION));
  if (options.token !== undefined) metadata.set(TOKEN_KEY, options.token);
  const stream = client.makeBidiStreamRequest<Buffer, Buffer>(
    EXCHANGE_PATH,
    identity,
    identity,
    metadata,
    { deadline: Date.now() + (options.timeoutMs ?? 10_000) },
  );
  const frames: Uint8Array[] = [];
  stream.on('data', (message: Buffer) => {
    const before = frames.length;
    frames.push(...splitBatch(new Uint8Array(message.buffer, message.byteOffset, message.length)));
    const end = options.endAfterFrames;
    if (end !== undefined && before < end && frames.length >= end) stream.end();
  });
  return new Promise((resolve) => {
    stream.on('error', (_error: ServiceError) => {});
    stream.on('status', (s) => {
      const code = s.metadata.get(ERROR_CODE_KEY)[0];
      resolve({
        frames,
        status: {
          code: s.code,
          details: s.details,
          kontikiCode: typeof code === 'string' ? code : undefined,
        },
      });
    });
    for (const m of messages) stream.write(asBuffer(m));
    if (options.endAfterFrames === 0) stream.end();
  });
}
