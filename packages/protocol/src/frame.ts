import {
  BadRequestError,
  type RaftError,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
} from '@kontiki/core';
import {
  decodeAppendEntriesRequestFrame,
  encodeAppendEntriesRequestFrame,
  encodeAppendEntriesResponseFrame,
  wireTimeout,
} from './append-entries-codec.js';
import * as pb from './gen/kontiki/raft/v1/raft.js';
import { WIRE_LIMITS } from './limits.js';
import { decodeWire, methodFromWire, spec } from './methods.js';
import { toSafeNumber } from './uint64.js';
import { errorFromProto, errorToProto } from './wire-error.js';

/** Call id 0 names the connection itself: a hello, or an error that ends the connection. */
export const CONNECTION_CALL_ID = 0;

/**
 * One decoded message of a stream. `invalid` is a well-formed envelope whose content is not
 * acceptable (unknown method, body of another method, out-of-range number): the receiver
 * answers that call with `error` and the connection carries on.
 */
export type Frame =
  | { readonly kind: 'hello'; readonly protocolVersion: number; readonly token: string }
  | {
      readonly kind: 'request';
      readonly callId: number;
      readonly method: RpcMethod;
      readonly timeoutMs: number;
      readonly request: RpcRequest<RpcMethod>;
    }
  | {
      readonly kind: 'response';
      readonly callId: number;
      readonly method: RpcMethod;
      readonly response: RpcResponse<RpcMethod>;
    }
  | { readonly kind: 'error'; readonly callId: number; readonly error: RaftError }
  | { readonly kind: 'invalid'; readonly callId: number; readonly error: BadRequestError };

function encodeEnvelope(envelope: pb.Envelope): Uint8Array {
  return pb.Envelope.encode(envelope).finish();
}

export function encodeHello(protocolVersion: number, token: string): Uint8Array {
  return encodeEnvelope({
    callId: 0n,
    method: pb.Method.METHOD_UNSPECIFIED,
    timeoutMs: 0,
    body: { $case: 'hello', value: { protocolVersion, token } },
  });
}

/** Encodes a request; throws BadRequestError when a number in it is not a safe uint64. */
export function encodeRequestFrame<M extends RpcMethod>(
  callId: number,
  method: M,
  request: RpcRequest<M>,
  timeoutMs = 0,
): Uint8Array {
  // The hot path: written in one pass into one buffer (append-entries-codec.ts).
  if (method === 'appendEntries') {
    return encodeAppendEntriesRequestFrame(
      callId,
      request as RpcRequest<'appendEntries'>,
      timeoutMs,
    );
  }
  const s = spec(method);
  return encodeEnvelope({
    callId: BigInt(callId),
    method: s.wire,
    // uint32 on the wire; a deadline beyond 49 days is as good as none.
    timeoutMs: wireTimeout(timeoutMs),
    body: s.request.toBody(request),
  });
}

export function encodeResponseFrame<M extends RpcMethod>(
  callId: number,
  method: M,
  response: RpcResponse<M>,
): Uint8Array {
  if (method === 'appendEntries') {
    return encodeAppendEntriesResponseFrame(callId, response as RpcResponse<'appendEntries'>);
  }
  const s = spec(method);
  return encodeEnvelope({
    callId: BigInt(callId),
    method: s.wire,
    timeoutMs: 0,
    body: s.response.toBody(response),
  });
}

/** An error answer to one call, or with call id 0 an error about the whole connection. */
export function encodeErrorFrame(callId: number, error: unknown): Uint8Array {
  return encodeEnvelope({
    callId: BigInt(callId),
    method: pb.Method.METHOD_UNSPECIFIED,
    timeoutMs: 0,
    body: { $case: 'error', value: errorToProto(error) },
  });
}

/**
 * Decodes one message of a stream. Bytes that are not an envelope at all throw
 * BadRequestError (the connection is beyond repair); an envelope with bad content comes
 * back as an `invalid` frame, so that only that call fails.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  // The hot path, without BigInt; undefined for anything but a plain AppendEntries request.
  if (bytes instanceof Uint8Array) {
    const fast = decodeAppendEntriesRequestFrame(bytes);
    if (fast !== undefined) return fast;
  }
  return decodeFrameGenerated(bytes);
}

/** `decodeFrame` through the generated decoder only (tests hold the fast path to it). */
export function decodeFrameGenerated(bytes: Uint8Array): Frame {
  const envelope = decodeWire(pb.Envelope, bytes, 'Envelope');
  const callId = toSafeNumber(envelope.callId, 'call id');
  try {
    return frameOf(envelope, callId);
  } catch (error) {
    if (error instanceof BadRequestError) return { kind: 'invalid', callId, error };
    throw error;
  }
}

function frameOf(envelope: pb.Envelope, callId: number): Frame {
  const body = envelope.body;
  if (body === undefined) throw new BadRequestError('envelope has no body');
  if (body.$case === 'hello') {
    if (body.value.token.length > WIRE_LIMITS.maxTokenLength) {
      throw new BadRequestError(`a token of ${body.value.token.length} characters is too long`);
    }
    return { kind: 'hello', protocolVersion: body.value.protocolVersion, token: body.value.token };
  }
  if (body.$case === 'error') return { kind: 'error', callId, error: errorFromProto(body.value) };
  const method = methodFromWire(envelope.method);
  if (method === undefined) throw new BadRequestError(`unknown method ${envelope.method}`);
  const s = spec(method);
  const request = s.request.fromBody(body);
  if (request !== undefined) {
    return { kind: 'request', callId, method, timeoutMs: envelope.timeoutMs, request };
  }
  const response = s.response.fromBody(body);
  if (response !== undefined) return { kind: 'response', callId, method, response };
  throw new BadRequestError(`envelope for ${method} carries a ${body.$case}`);
}

/**
 * The tag of `Batch.envelopes` (field 1, length-delimited). An Envelope never starts with
 * it (its field 1, the call id, is a varint), so a receiver tells a batch from a bare
 * envelope by the first byte.
 */
const BATCH_TAG = 0x0a;

function varintLength(n: number): number {
  let size = 1;
  for (let v = n; v >= 128; v = Math.floor(v / 128)) size++;
  return size;
}

/**
 * Several encoded envelopes as one message (`Batch` in raft.proto): what a connection has to
 * send at the end of an event-loop turn travels as one gRPC message or WebSocket frame.
 */
export function encodeBatch(envelopes: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const e of envelopes) size += 1 + varintLength(e.byteLength) + e.byteLength;
  const out = new Uint8Array(size);
  let pos = 0;
  for (const e of envelopes) {
    out[pos++] = BATCH_TAG;
    for (let v = e.byteLength; ; v = Math.floor(v / 128)) {
      if (v < 128) {
        out[pos++] = v;
        break;
      }
      out[pos++] = (v % 128) | 128;
    }
    out.set(e, pos);
    pos += e.byteLength;
  }
  return out;
}

/**
 * The envelopes of one received message: those of a batch (views, no copy), or the message
 * itself when it is a bare envelope. Throws BadRequestError when a batch is malformed.
 */
export function splitBatch(bytes: Uint8Array): Uint8Array[] {
  if (bytes.byteLength === 0 || bytes[0] !== BATCH_TAG) return [bytes];
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.byteLength) {
    if (bytes[pos++] !== BATCH_TAG) throw new BadRequestError('malformed batch: unknown field');
    let length = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      const b = bytes[pos++];
      if (b === undefined || i === 5) throw new BadRequestError('malformed batch: bad length');
      length += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
    }
    if (length > bytes.byteLength - pos) {
      throw new BadRequestError('malformed batch: an envelope runs past its end');
    }
    out.push(bytes.subarray(pos, pos + length));
    pos += length;
  }
  return out;
}
