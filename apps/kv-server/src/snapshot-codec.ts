import { createHash, type Hash } from 'node:crypto';
import type { SnapshotReader, SnapshotWriter } from '@kontiki/core';
import type { PeerAddress } from './config.js';
import type { KvEntry } from './kv-entry.js';

/**
 * The key-value state in a snapshot: a compact, versioned binary stream, written and read
 * in chunks so that neither side ever holds the whole encoding in memory.
 *
 * ```
 * header   "KVSN" (4 bytes), version (1 byte, = 2)
 * records  0x01 pair: varint n, key (n bytes UTF-8), varint m, value (m bytes UTF-8),
 *               varint create revision, varint mod revision, varint version
 *          0x02 peer: varint n, id, varint m, raft address, varint h, HTTP address (h = 0: none),
 *               varint e, etcd API address (e = 0: none)
 *          0x03 pair whose key or value is not well-formed UTF-16 (a lone surrogate, which
 *               JSON can carry): the strings as JSON text, so that nothing is lost; then the
 *               revisions as in 0x01
 * trailer  0xFF, varint pair count, varint peer count, varint store revision,
 *          SHA-256 (32 bytes) of every byte before it
 * ```
 *
 * Varints are unsigned LEB128. The counts and the checksum catch a truncated or damaged
 * snapshot at load; the version lets a later format be told apart. Version 1 (before
 * revisions) is refused with a clear error rather than migrated: revisions invented at load
 * would differ from those of a node that replays the log, and a compare on a revision would
 * then decide differently on different nodes.
 */
export const SNAPSHOT_MAGIC = new Uint8Array([0x4b, 0x56, 0x53, 0x4e]); // "KVSN"
export const SNAPSHOT_VERSION = 2;

const TAG_PAIR = 0x01;
const TAG_PEER = 0x02;
const TAG_PAIR_JSON = 0x03;
const TAG_END = 0xff;
const CHECKSUM_BYTES = 32;
/** Strings are at most this long in a snapshot (values are limited far below it). */
const MAX_STRING_BYTES = 2 ** 31;

/** Size of the chunks handed to the snapshot writer (the last one may be smaller). */
export const WRITE_CHUNK_BYTES = 64 * 1024;
/** Chunks written but not yet acknowledged by the storage: lets a store batch them. */
const WRITES_IN_FLIGHT = 8;
/** How much is asked of the reader at a time (more when one record needs more). */
export const READ_CHUNK_BYTES = 256 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A lone surrogate: TextEncoder would turn it into U+FFFD, changing the string. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What a snapshot holds: the map, the store's revision and the peers' addresses known to the group. */
export interface SnapshotContent {
  readonly data: Map<string, KvEntry>;
  readonly peers: Map<string, PeerAddress>;
  readonly revision: number;
}

/** A snapshot that cannot be read back: wrong format, version, truncated or damaged. */
export class SnapshotFormatError extends Error {
  constructor(message: string) {
    super(`key-value snapshot: ${message}`);
    this.name = 'SnapshotFormatError';
  }
}

/**
 * Buffers encoded bytes into chunks of WRITE_CHUNK_BYTES and hands them to the writer, a
 * few at a time in flight; hashes everything it sends.
 */
class ChunkedOutput {
  private buf = new Uint8Array(WRITE_CHUNK_BYTES);
  private pos = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly inFlight: Array<Promise<void>> = [];

  constructor(private readonly writer: SnapshotWriter) {}

  async byte(b: number): Promise<void> {
    if (this.pos === this.buf.byteLength) await this.flush();
    this.buf[this.pos++] = b;
  }

  async varint(n: number): Promise<void> {
    if (this.buf.byteLength - this.pos < 8) await this.flush();
    let v = n;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  async bytes(data: Uint8Array): Promise<void> {
    if (data.byteLength <= this.buf.byteLength - this.pos) {
      this.buf.set(data, this.pos);
      this.pos += data.byteLength;
      return;
    }
    // Fill the current chunk, then go on chunk by chunk (a large value never sits whole in
    // the buffer; `data` itself is the caller's).
    let off = 0;
    while (off < data.byteLength) {
      if (this.pos === this.buf.byteLength) await this.flush();
      const n = Math.min(this.buf.byteLength - this.pos, data.byteLength - off);
      this.buf.set(data.subarray(off, off + n), this.pos);
      this.pos += n;
      off += n;
    }
  }

  async string(s: string): Promise<void> {
    const b = encoder.encode(s);
    await this.varint(b.byteLength);
    await this.bytes(b);
  }

  /** Writes the checksum of everything so far, then waits for every chunk to be stored. */
  async finish(): Promise<void> {
    await this.flush();
    await this.send(new Uint8Array(this.hash.digest()));
    await this.drain();
  }

  /** Waits for the writes in flight (on failure: all of them, then the first error). */
  async drain(): Promise<void> {
    const pending = this.inFlight.splice(0);
    const results = await Promise.allSettled(pending);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async flush(): Promise<void> {
    if (this.pos === 0) return;
    const chunk = this.buf.subarray(0, this.pos);
    this.hash.update(chunk);
    // The writer may keep the chunk (a memory store does): a new buffer for the next one.
    this.buf = new Uint8Array(WRITE_CHUNK_BYTES);
    this.pos = 0;
    await this.send(chunk);
  }

  private async send(chunk: Uint8Array): Promise<void> {
    if (this.inFlight.length >= WRITES_IN_FLIGHT) {
      const oldest = this.inFlight.shift() as Promise<void>;
      try {
        await oldest;
      } catch (error) {
        await this.drain().catch(() => {});
        throw error;
      }
    }
    // Writes are issued in order (the writer takes offsets at call time) and awaited in
    // order above or in drain(); a rejection is never left unobserved.
    const p = this.writer.write(chunk);
    p.catch(() => {});
    this.inFlight.push(p);
  }
}

/** Writes `content` to `writer` in the format above (does not commit: core does). */
export async function writeSnapshot(
  writer: SnapshotWriter,
  content: SnapshotContent,
): Promise<void> {
  const out = new ChunkedOutput(writer);
  try {
    await out.bytes(SNAPSHOT_MAGIC);
    await out.byte(SNAPSHOT_VERSION);
    for (const [key, entry] of content.data) {
      const value = entry.value;
      if (LONE_SURROGATE.test(key) || LONE_SURROGATE.test(value)) {
        await out.byte(TAG_PAIR_JSON);
        await out.string(JSON.stringify(key));
        await out.string(JSON.stringify(value));
      } else {
        await out.byte(TAG_PAIR);
        await out.string(key);
        await out.string(value);
      }
      await out.varint(entry.createRevision);
      await out.varint(entry.modRevision);
      await out.varint(entry.version);
    }
    for (const [id, address] of content.peers) {
      await out.byte(TAG_PEER);
      await out.string(id);
      await out.string(address.raft);
      await out.string(address.http ?? '');
      await out.string(address.etcd ?? '');
    }
    await out.byte(TAG_END);
    await out.varint(content.data.size);
    await out.varint(content.peers.size);
    await out.varint(content.revision);
    await out.finish();
  } catch (error) {
    await out.drain().catch(() => {});
    throw error;
  }
}

type Step =
  | { readonly kind: 'pair'; readonly key: string; readonly entry: KvEntry; readonly end: number }
  | {
      readonly kind: 'peer';
      readonly id: string;
      readonly address: PeerAddress;
      readonly end: number;
    }
  | {
      readonly kind: 'end';
      readonly pairs: number;
      readonly peers: number;
      readonly revision: number;
      readonly end: number;
    }
  /** The record is not complete in the buffer: at least this many bytes from its start. */
  | { readonly kind: 'more'; readonly atLeast: number };

/** A varint at `pos`: its value and the position after it; undefined if incomplete. */
function readVarint(buf: Uint8Array, pos: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = pos; i < buf.byteLength; i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return { value, next: i + 1 };
    scale *= 128;
    if (i - pos >= 7) throw new SnapshotFormatError('a length is too long');
  }
  return undefined;
}

/** `count` varints from `pos`; undefined if incomplete. */
function readVarints(
  buf: Uint8Array,
  pos: number,
  count: number,
): { values: number[]; next: number } | undefined {
  const values: number[] = [];
  let p = pos;
  for (let i = 0; i < count; i++) {
    const v = readVarint(buf, p);
    if (v === undefined) return undefined;
    values.push(v.value);
    p = v.next;
  }
  return { values, next: p };
}

/** Reads `count` length-prefixed strings from `pos`; 'more' with the bytes needed if incomplete. */
function readStrings(
  buf: Uint8Array,
  pos: number,
  count: number,
  start: number,
): { strings: string[]; next: number } | { kind: 'more'; atLeast: number } {
  const strings: string[] = [];
  let p = pos;
  for (let i = 0; i < count; i++) {
    const len = readVarint(buf, p);
    if (len === undefined) return { kind: 'more', atLeast: buf.byteLength - start + 1 };
    if (len.value > MAX_STRING_BYTES) throw new SnapshotFormatError('a string is too long');
    const end = len.next + len.value;
    // At least this string's end plus one byte per length still to come.
    if (end > buf.byteLength) return { kind: 'more', atLeast: end - start + (count - i - 1) };
    try {
      strings.push(decoder.decode(buf.subarray(len.next, end)));
    } catch {
      throw new SnapshotFormatError('a string is not UTF-8');
    }
    p = end;
  }
  return { strings, next: p };
}

function parseJsonString(text: string): string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new SnapshotFormatError('a JSON-encoded string does not parse');
  }
  if (typeof v !== 'string') throw new SnapshotFormatError('a JSON-encoded string is not a string');
  return v;
}

/** Parses the record at `pos` if `buf` holds all of it. */
function step(buf: Uint8Array, pos: number): Step {
  if (pos >= buf.byteLength) return { kind: 'more', atLeast: 1 };
  const tag = buf[pos] as number;
  switch (tag) {
    case TAG_PAIR:
    case TAG_PAIR_JSON: {
      const r = readStrings(buf, pos + 1, 2, pos);
      if ('kind' in r) return r;
      const revisions = readVarints(buf, r.next, 3);
      if (revisions === undefined) return { kind: 'more', atLeast: buf.byteLength - pos + 1 };
      const [k, v] = r.strings as [string, string];
      const [createRevision, modRevision, version] = revisions.values as [number, number, number];
      const value = tag === TAG_PAIR ? v : parseJsonString(v);
      return {
        kind: 'pair',
        key: tag === TAG_PAIR ? k : parseJsonString(k),
        entry: { value, createRevision, modRevision, version },
        end: revisions.next,
      };
    }
    case TAG_PEER: {
      const r = readStrings(buf, pos + 1, 4, pos);
      if ('kind' in r) return r;
      const [id, raft, http, etcd] = r.strings as [string, string, string, string];
      const address: { raft: string; http?: string; etcd?: string } = { raft };
      if (http !== '') address.http = http;
      if (etcd !== '') address.etcd = etcd;
      return { kind: 'peer', id, address, end: r.next };
    }
    case TAG_END: {
      const counts = readVarints(buf, pos + 1, 3);
      if (counts === undefined) return { kind: 'more', atLeast: buf.byteLength - pos + 1 };
      const [pairs, peers, revision] = counts.values as [number, number, number];
      return { kind: 'end', pairs, peers, revision, end: counts.next };
    }
    default:
      throw new SnapshotFormatError(`unknown record type 0x${tag.toString(16)}`);
  }
}

/**
 * Reads a snapshot written by `writeSnapshot`, chunk by chunk, into new maps. Throws
 * SnapshotFormatError if it is not one, is of another version, or is truncated or damaged.
 */
export async function readSnapshot(reader: SnapshotReader): Promise<SnapshotContent> {
  const hash = createHash('sha256');
  const data = new Map<string, KvEntry>();
  const peers = new Map<string, PeerAddress>();
  let revision = 0;
  let offset = 0;
  let buf = new Uint8Array(0);
  let pos = 0;

  /** Keeps what is not parsed yet and appends at least `atLeast` more bytes (if there are). */
  const fill = async (atLeast: number): Promise<boolean> => {
    const rest = buf.subarray(pos);
    const want = Math.max(READ_CHUNK_BYTES, atLeast - rest.byteLength);
    const parts: Uint8Array[] = [rest];
    let got = rest.byteLength;
    while (got - rest.byteLength < want && offset < reader.size) {
      const chunk = await reader.read(offset, want - (got - rest.byteLength));
      if (chunk.byteLength === 0) break;
      offset += chunk.byteLength;
      parts.push(chunk);
      got += chunk.byteLength;
    }
    if (got === rest.byteLength) return false;
    buf = Buffer.concat(parts, got);
    pos = 0;
    return true;
  };

  const header = SNAPSHOT_MAGIC.byteLength + 1;
  if (reader.size < header + 1 + 2 + CHECKSUM_BYTES) {
    throw new SnapshotFormatError(`too short (${reader.size} bytes)`);
  }
  await fill(header);
  for (let i = 0; i < SNAPSHOT_MAGIC.byteLength; i++) {
    if (buf[i] !== SNAPSHOT_MAGIC[i]) throw new SnapshotFormatError('not a key-value snapshot');
  }
  const version = buf[SNAPSHOT_MAGIC.byteLength];
  if (version === 1) {
    throw new SnapshotFormatError(
      'version 1 (written by a kv-server from before revisions) is not supported: this version needs the revisions of every key; start the node on a new data directory (or wipe this one) and let it catch up from the group',
    );
  }
  if (version !== SNAPSHOT_VERSION) {
    throw new SnapshotFormatError(`version ${version} is not supported (only ${SNAPSHOT_VERSION})`);
  }
  hash.update(buf.subarray(0, header));
  pos = header;

  for (;;) {
    const s = step(buf, pos);
    if (s.kind === 'more') {
      if (!(await fill(s.atLeast))) throw new SnapshotFormatError('truncated');
      continue;
    }
    hash.update(buf.subarray(pos, s.end));
    pos = s.end;
    if (s.kind === 'pair') data.set(s.key, s.entry);
    else if (s.kind === 'peer') peers.set(s.id, s.address);
    else {
      revision = s.revision;
      if (s.pairs !== data.size || s.peers !== peers.size) {
        throw new SnapshotFormatError(
          `the trailer counts ${s.pairs} pairs and ${s.peers} peers, the records ${data.size} and ${peers.size}`,
        );
      }
      break;
    }
  }
  if (buf.byteLength - pos < CHECKSUM_BYTES) await fill(CHECKSUM_BYTES);
  const checksum = buf.subarray(pos, pos + CHECKSUM_BYTES);
  if (checksum.byteLength < CHECKSUM_BYTES) throw new SnapshotFormatError('truncated');
  if (!Buffer.from(checksum).equals(hash.digest())) {
    throw new SnapshotFormatError('checksum mismatch (damaged)');
  }
  if (pos + CHECKSUM_BYTES !== buf.byteLength || offset !== reader.size) {
    throw new SnapshotFormatError('bytes after the checksum');
  }
  if (revision < 1) throw new SnapshotFormatError(`store revision ${revision} is below 1`);
  for (const e of data.values()) {
    if (e.modRevision > revision || e.createRevision > e.modRevision || e.version < 1) {
      throw new SnapshotFormatError('a key has revisions that do not fit the store revision');
    }
  }
  return { data, peers, revision };
}
