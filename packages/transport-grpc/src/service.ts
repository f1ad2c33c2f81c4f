import type { ServiceDefinition } from '@grpc/grpc-js';
import { RaftServiceService } from '@kontiki/protocol/grpc';

/** Metadata a client sends when it opens its stream: the protocol version it speaks. */
export const PROTOCOL_VERSION_KEY = 'kontiki-protocol-version';

/** Metadata a client sends when it opens its stream: the cluster's shared secret, if any. */
export const TOKEN_KEY = 'kontiki-token';

/** A Uint8Array as a Buffer without copying its bytes (grpc-js wants Buffers). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A received Buffer as a plain Uint8Array view (no copy): the messages handed to handlers
 * then hold plain Uint8Arrays, as they would in a browser or over the memory transport.
 */
const asUint8Array = (bytes: Buffer): Uint8Array =>
  new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * The generated `RaftService.Exchange` method with raw-bytes (de)serializers: the transport
 * decodes each envelope itself, so that a malformed one becomes a typed BAD_REQUEST answer
 * (or closes only that stream) instead of grpc-js's generic INTERNAL, and so that no
 * message is copied on its way in or out.
 */
export const exchangeMethod = {
  path: RaftServiceService.exchange.path,
  requestStream: true,
  responseStream: true,
  requestSerialize: asBuffer,
  requestDeserialize: asUint8Array,
  responseSerialize: asBuffer,
  responseDeserialize: asUint8Array,
  originalName: 'exchange',
} as const;

export const rawRaftService: ServiceDefinition = { exchange: exchangeMethod };
