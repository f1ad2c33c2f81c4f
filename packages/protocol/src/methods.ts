import { BadRequestError, type RpcMethod, type RpcRequest, type RpcResponse } from '@kontiki/core';
import * as c from './convert.js';
import * as pb from './gen/kontiki/raft/v1/raft.js';

/** The body of an envelope: one request, response, error or hello. */
export type EnvelopeBody = NonNullable<pb.Envelope['body']>;
type BodyCase = EnvelopeBody['$case'];
type BodyValue<K extends BodyCase> = Extract<EnvelopeBody, { $case: K }>['value'];

/** How one core message type travels: alone (encode/decode) or inside an envelope (body). */
export interface MessageCodec<T> {
  readonly name: string;
  encode(message: T): Uint8Array;
  decode(bytes: Uint8Array): T;
  toBody(message: T): EnvelopeBody;
  /** The message when `body` holds this type, undefined when it holds another. */
  fromBody(body: EnvelopeBody): T | undefined;
}

/** Decodes protobuf bytes; whatever the reader throws becomes a BadRequestError. */
export function decodeWire<W>(fns: pb.MessageFns<W>, bytes: Uint8Array, name: string): W {
  if (!(bytes instanceof Uint8Array)) throw new BadRequestError(`${name}: not bytes`);
  try {
    return fns.decode(bytes);
  } catch (error) {
    throw new BadRequestError(
      `malformed ${name}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function codec<T, K extends BodyCase>(
  bodyCase: K,
  name: string,
  fns: pb.MessageFns<BodyValue<K>>,
  toProto: (message: T) => BodyValue<K>,
  fromProto: (wire: BodyValue<K>) => T,
): MessageCodec<T> {
  return {
    name,
    encode: (message) => fns.encode(toProto(message)).finish(),
    decode: (bytes) => fromProto(decodeWire(fns, bytes, name)),
    // The cast is sound: bodyCase and the value's type come from the same K.
    toBody: (message) => ({ $case: bodyCase, value: toProto(message) }) as EnvelopeBody,
    fromBody: (body) =>
      body.$case === bodyCase ? fromProto(body.value as BodyValue<K>) : undefined,
  };
}

/** What the wire needs to know about one RPC method. */
export interface MethodSpec<M extends RpcMethod> {
  readonly method: M;
  readonly wire: pb.Method;
  readonly request: MessageCodec<RpcRequest<M>>;
  readonly response: MessageCodec<RpcResponse<M>>;
}

/** Every RPC of core, with its wire enum value and its codecs. */
export const METHOD_SPECS: { readonly [M in RpcMethod]: MethodSpec<M> } = {
  requestVote: {
    method: 'requestVote',
    wire: pb.Method.METHOD_REQUEST_VOTE,
    request: codec(
      'requestVoteRequest',
      'RequestVoteRequest',
      pb.RequestVoteRequest,
      c.requestVoteRequestToProto,
      c.requestVoteRequestFromProto,
    ),
    response: codec(
      'requestVoteResponse',
      'RequestVoteResponse',
      pb.RequestVoteResponse,
      c.requestVoteResponseToProto,
      c.requestVoteResponseFromProto,
    ),
  },
  appendEntries: {
    method: 'appendEntries',
    wire: pb.Method.METHOD_APPEND_ENTRIES,
    request: codec(
      'appendEntriesRequest',
      'AppendEntriesRequest',
      pb.AppendEntriesRequest,
      c.appendEntriesRequestToProto,
      c.appendEntriesRequestFromProto,
    ),
    response: codec(
      'appendEntriesResponse',
      'AppendEntriesResponse',
      pb.AppendEntriesResponse,
      c.appendEntriesResponseToProto,
      c.appendEntriesResponseFromProto,
    ),
  },
  installSnapshot: {
    method: 'installSnapshot',
    wire: pb.Method.METHOD_INSTALL_SNAPSHOT,
    request: codec(
      'installSnapshotRequest',
      'InstallSnapshotRequest',
      pb.InstallSnapshotRequest,
      c.installSnapshotRequestToProto,
      c.installSnapshotRequestFromProto,
    ),
    response: codec(
      'installSnapshotResponse',
      'InstallSnapshotResponse',
      pb.InstallSnapshotResponse,
      c.installSnapshotResponseToProto,
      c.installSnapshotResponseFromProto,
    ),
  },
  timeoutNow: {
    method: 'timeoutNow',
    wire: pb.Method.METHOD_TIMEOUT_NOW,
    request: codec(
      'timeoutNowRequest',
      'TimeoutNowRequest',
      pb.TimeoutNowRequest,
      c.timeoutNowRequestToProto,
      c.timeoutNowRequestFromProto,
    ),
    response: codec(
      'timeoutNowResponse',
      'TimeoutNowResponse',
      pb.TimeoutNowResponse,
      c.timeoutNowResponseToProto,
      c.timeoutNowResponseFromProto,
    ),
  },
  readIndex: {
    method: 'readIndex',
    wire: pb.Method.METHOD_READ_INDEX,
    request: codec(
      'readIndexRequest',
      'ReadIndexRequest',
      pb.ReadIndexRequest,
      c.readIndexRequestToProto,
      c.readIndexRequestFromProto,
    ),
    response: codec(
      'readIndexResponse',
      'ReadIndexResponse',
      pb.ReadIndexResponse,
      c.readIndexResponseToProto,
      c.readIndexResponseFromProto,
    ),
  },
  hostHeartbeat: {
    method: 'hostHeartbeat',
    wire: pb.Method.METHOD_HOST_HEARTBEAT,
    request: codec(
      'hostHeartbeatRequest',
      'HostHeartbeatRequest',
      pb.HostHeartbeatRequest,
      c.hostHeartbeatRequestToProto,
      c.hostHeartbeatRequestFromProto,
    ),
    response: codec(
      'hostHeartbeatResponse',
      'HostHeartbeatResponse',
      pb.HostHeartbeatResponse,
      c.hostHeartbeatResponseToProto,
      c.hostHeartbeatResponseFromProto,
    ),
  },
};

/** The core method of a wire enum value; undefined for 0 and for values this version lacks. */
export function methodFromWire(wire: number): RpcMethod | undefined {
  for (const spec of Object.values(METHOD_SPECS)) if (spec.wire === wire) return spec.method;
  return undefined;
}

/** Encodes one request of `method` as bare protobuf bytes (no envelope). */
export function encodeRequest<M extends RpcMethod>(method: M, request: RpcRequest<M>): Uint8Array {
  return spec(method).request.encode(request);
}

/** Decodes one request of `method`; malformed or out-of-range input throws BadRequestError. */
export function decodeRequest<M extends RpcMethod>(method: M, bytes: Uint8Array): RpcRequest<M> {
  return spec(method).request.decode(bytes);
}

export function encodeResponse<M extends RpcMethod>(
  method: M,
  response: RpcResponse<M>,
): Uint8Array {
  return spec(method).response.encode(response);
}

export function decodeResponse<M extends RpcMethod>(method: M, bytes: Uint8Array): RpcResponse<M> {
  return spec(method).response.decode(bytes);
}

/** The spec of `method`, refusing names that are not RPCs (a caller's typo, or `__proto__`). */
export function spec<M extends RpcMethod>(method: M): MethodSpec<M> {
  if (!Object.hasOwn(METHOD_SPECS, method)) {
    throw new BadRequestError(`unknown method ${String(method)}`);
  }
  return METHOD_SPECS[method];
}
