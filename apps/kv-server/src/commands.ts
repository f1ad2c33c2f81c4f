import type { PeerAddress } from './config.js';

/**
 * The commands the key-value state machine applies, and their encoding in log entries:
 * compact JSON (`{"op":"put","k":"a","v":"1"}`), UTF-8. JSON keeps the log readable with
 * any SQLite browser and costs little next to a Raft round trip.
 */
export type KvCommand =
  /**
   * Records where members listen (Raft and HTTP), by peer id, for every node: how a node
   * that joins later becomes reachable by the others. Merged into what is known.
   */
  | { readonly op: 'peers'; readonly peers: Readonly<Record<string, PeerAddress>> }
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  /** Sets `value` if the key's current value is `expected` (`null`: the key must be absent). */
  | {
      readonly op: 'cas';
      readonly key: string;
      readonly expected: string | null;
      readonly value: string;
    };

/** What applying a command returns to its proposer. `prev` is the value before the command. */
export type KvResult =
  | { readonly op: 'peers' }
  | { readonly op: 'put'; readonly prev: string | null }
  | { readonly op: 'delete'; readonly prev: string | null }
  | { readonly op: 'cas'; readonly succeeded: boolean; readonly prev: string | null }
  /** An entry that does not decode (a log written by another program): applied as a no-op. */
  | { readonly op: 'invalid'; readonly reason: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Wire shape of a command in the log: short field names, nothing optional left undefined. */
type Encoded =
  | { op: 'peers'; p: Record<string, { r: string; h?: string }> }
  | { op: 'put'; k: string; v: string }
  | { op: 'delete'; k: string }
  | { op: 'cas'; k: string; e: string | null; v: string };

export function encodeCommand(command: KvCommand): Uint8Array {
  let wire: Encoded;
  switch (command.op) {
    case 'peers': {
      const p: Record<string, { r: string; h?: string }> = {};
      for (const [id, a] of Object.entries(command.peers)) {
        p[id] = a.http === undefined ? { r: a.raft } : { r: a.raft, h: a.http };
      }
      wire = { op: 'peers', p };
      break;
    }
    case 'put':
      wire = { op: 'put', k: command.key, v: command.value };
      break;
    case 'delete':
      wire = { op: 'delete', k: command.key };
      break;
    case 'cas':
      wire = { op: 'cas', k: command.key, e: command.expected, v: command.value };
      break;
  }
  return encoder.encode(JSON.stringify(wire));
}

/** Decodes a log entry's data; a string saying what is wrong when it is not a command. */
export function decodeCommand(data: Uint8Array): KvCommand | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    return 'not UTF-8 JSON';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'not an object';
  const o = parsed as Record<string, unknown>;
  if (o.op === 'peers') return decodePeers(o.p);
  if (typeof o.k !== 'string') return 'no key';
  switch (o.op) {
    case 'put':
      return typeof o.v === 'string' ? { op: 'put', key: o.k, value: o.v } : 'put without value';
    case 'delete':
      return { op: 'delete', key: o.k };
    case 'cas':
      if (typeof o.v !== 'string') return 'cas without value';
      if (o.e !== null && typeof o.e !== 'string') return 'cas without expected value';
      return { op: 'cas', key: o.k, expected: o.e, value: o.v };
    default:
      return `unknown op ${JSON.stringify(o.op)}`;
  }
}

function decodePeers(p: unknown): KvCommand | string {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return 'peers without a map';
  const peers: Record<string, PeerAddress> = {};
  for (const [id, value] of Object.entries(p)) {
    const v = value as { r?: unknown; h?: unknown } | null;
    if (typeof v?.r !== 'string') return `peer ${JSON.stringify(id)} without a Raft address`;
    if (v.h !== undefined && typeof v.h !== 'string')
      return `peer ${JSON.stringify(id)}: bad HTTP address`;
    peers[id] = typeof v.h === 'string' ? { raft: v.r, http: v.h } : { raft: v.r };
  }
  return { op: 'peers', peers };
}

/**
 * A put command whose encoding is exactly `bytes` long (at least 32), for benchmarks that
 * propose fixed-size payloads through the real state machine.
 */
export function paddedPutCommand(key: string, bytes: number): Uint8Array {
  const empty = encodeCommand({ op: 'put', key, value: '' }).byteLength;
  if (bytes < empty) throw new RangeError(`a put of key ${key} needs at least ${empty} bytes`);
  return encodeCommand({ op: 'put', key, value: 'x'.repeat(bytes - empty) });
}
