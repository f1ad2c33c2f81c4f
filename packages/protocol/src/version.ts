/**
 * The version of Kontiki's wire protocol. Connections carry it (the WebSocket hello, a gRPC
 * metadata entry) and refuse a peer that speaks another one: two nodes of different
 * protocol versions fail loudly instead of misreading each other's messages.
 */
// 2: a message of a stream may be a Batch of envelopes.
export const PROTOCOL_VERSION = 2;
