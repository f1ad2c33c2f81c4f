import {
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  BadRequestError,
  EntryType,
} from '@kontiki/core';
import { appendEntriesRequestFromRaw, type RawAppendEntries } from './convert.js';
import type { Frame } from './frame.js';

/**
 * A hand-written encoder for the two messages a leader sends and receives most:
 * AppendEntries requests and responses, each in its Envelope. The bytes are exactly what the
 * generated encoder writes (same fields, same order, defaults left out: a test compares
 * them), but sizes are computed first and everything is written once into one buffer of the
 * exact size. The generated encoder copies every entry's data once per level of nesting
 * (entry, request, envelope: three times) and goes through BigInt for every uint64; for a
 * 1 MiB AppendEntries that was milliseconds.
 */

// Field tags: (field number << 3) | wire type.
const ENVELOPE_CALL_ID = 0x08;
const ENVELOPE_METHOD = 0x10;
const ENVELOPE_TIMEOUT = 0x18;
const ENVELOPE_AE_REQUEST = 0x62; // field 12, length-delimited
const ENVELOPE_AE_RESPONSE = 0x6a; // field 13, length-delimited
const METHOD_APPEND_ENTRIES = 2;

const REQ_HEADER = 0x0a;
const REQ_PREV_INDEX = 0x10;
const REQ_PREV_TERM = 0x18;
const REQ_ENTRY = 0x22;
const REQ_LEADER_COMMIT = 0x28;

const HEADER_GROUP = 0x0a;
const HEADER_FROM = 0x12;
const HEADER_TO = 0x1a;
const HEADER_TERM = 0x20;

const ENTRY_INDEX = 0x08;
const ENTRY_TERM = 0x10;
const ENTRY_TYPE = 0x18;
const ENTRY_DATA = 0x22;

const RESP_TERM = 0x08;
const RESP_SUCCESS = 0x10;
const RESP_LAST_INDEX = 0x18;
const RESP_CONFLICT_TERM = 0x20;
const RESP_CONFLICT_INDEX = 0x28;

const encoder = new TextEncoder();
/** UTF-8 of the ids a node sends again and again (its group, itself, its peers). */
const utf8Cache = new Map<string, Uint8Array>();
const UTF8_CACHE_KEPT = 4096;

function utf8(s: string): Uint8Array {
  let bytes = utf8Cache.get(s);
  if (bytes === undefined) {
    bytes = encoder.encode(s);
    if (utf8Cache.size >= UTF8_CACHE_KEPT) utf8Cache.clear();
    utf8Cache.set(s, bytes);
  }
  return bytes;
}

/** A uint64 from core: a non-negative safe integer (as `toUint64` checks). */
function uint(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new BadRequestError(`${field} must be a non-negative safe integer, got ${value}`);
  }
  return value;
}

function varintSize(value: number): number {
  let size = 1;
  // Division, not shifts: values go up to 2^53, beyond 32-bit bitwise operators.
  for (let v = value; v >= 128; v = Math.floor(v / 128)) size++;
  return size;
}

function entryType(type: number): number {
  if (type === EntryType.Data) return 1;
  if (type === EntryType.Configuration) return 2;
  throw new BadRequestError(`unknown entry type ${String(type)}`);
}

class Writer {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  varint(value: number): void {
    let v = value;
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  /** A uint field, left out when 0 (proto3's default). */
  uintField(tag: number, value: number): void {
    if (value === 0) return;
    this.buf[this.pos++] = tag;
    this.varint(value);
  }

  bytesField(tag: number, bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.buf[this.pos++] = tag;
    this.varint(bytes.byteLength);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.byteLength;
  }
}

const uintFieldSize = (value: number) => (value === 0 ? 0 : 1 + varintSize(value));
const bytesFieldSize = (length: number) => (length === 0 ? 0 : 1 + varintSize(length) + length);
const messageFieldSize = (length: number) => 1 + varintSize(length) + length;

function envelopeHeadSize(callId: number, timeoutMs: number): number {
  return uintFieldSize(callId) + uintFieldSize(METHOD_APPEND_ENTRIES) + uintFieldSize(timeoutMs);
}

function writeEnvelopeHead(w: Writer, callId: number, timeoutMs: number): void {
  w.uintField(ENVELOPE_CALL_ID, callId);
  w.uintField(ENVELOPE_METHOD, METHOD_APPEND_ENTRIES);
  w.uintField(ENVELOPE_TIMEOUT, timeoutMs);
}

/** The envelope's deadline as the generated path writes it (uint32, whole milliseconds). */
export function wireTimeout(timeoutMs: number): number {
  return Math.min(Math.max(0, Math.ceil(timeoutMs)), 0xffff_ffff);
}

/** An AppendEntries request in its envelope; throws BadRequestError as the generated path would. */
export function encodeAppendEntriesRequestFrame(
  callId: number,
  request: AppendEntriesRequest,
  timeoutMs: number,
): Uint8Array {
  const timeout = wireTimeout(timeoutMs);
  uint(callId, 'call id');
  const group = utf8(request.groupId);
  const from = utf8(request.from);
  const to = utf8(request.to);
  const term = uint(request.term, 'term');
  const prevLogIndex = uint(request.prevLogIndex, 'prevLogIndex');
  const prevLogTerm = uint(request.prevLogTerm, 'prevLogTerm');
  const leaderCommit = uint(request.leaderCommit, 'leaderCommit');
  const headerSize =
    bytesFieldSize(group.byteLength) +
    bytesFieldSize(from.byteLength) +
    bytesFieldSize(to.byteLength) +
    uintFieldSize(term);
  const entries = request.entries;
  // Each entry's encoded size, kept for the second pass.
  const entrySizes = new Array<number>(entries.length);
  let entriesSize = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e === undefined) throw new BadRequestError(`entry ${i} is missing`);
    const size =
      uintFieldSize(uint(e.index, 'entry index')) +
      uintFieldSize(uint(e.term, 'entry term')) +
      uintFieldSize(entryType(e.type)) +
      bytesFieldSize(e.data.byteLength);
    entrySizes[i] = size;
    entriesSize += messageFieldSize(size);
  }
  const requestSize =
    messageFieldSize(headerSize) +
    uintFieldSize(prevLogIndex) +
    uintFieldSize(prevLogTerm) +
    entriesSize +
    uintFieldSize(leaderCommit);
  const total = envelopeHeadSize(callId, timeout) + messageFieldSize(requestSize);
  const w = new Writer(new Uint8Array(total));
  writeEnvelopeHead(w, callId, timeout);
  w.buf[w.pos++] = ENVELOPE_AE_REQUEST;
  w.varint(requestSize);
  w.buf[w.pos++] = REQ_HEADER;
  w.varint(headerSize);
  w.bytesField(HEADER_GROUP, group);
  w.bytesField(HEADER_FROM, from);
  w.bytesField(HEADER_TO, to);
  w.uintField(HEADER_TERM, term);
  w.uintField(REQ_PREV_INDEX, prevLogIndex);
  w.uintField(REQ_PREV_TERM, prevLogTerm);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as (typeof entries)[number];
    w.buf[w.pos++] = REQ_ENTRY;
    w.varint(entrySizes[i] as number);
    w.uintField(ENTRY_INDEX, e.index);
    w.uintField(ENTRY_TERM, e.term);
    w.uintField(ENTRY_TYPE, entryType(e.type));
    w.bytesField(ENTRY_DATA, e.data);
  }
  w.uintField(REQ_LEADER_COMMIT, leaderCommit);
  return w.buf;
}

/** An AppendEntries response in its envelope. */
export function encodeAppendEntriesResponseFrame(
  callId: number,
  response: AppendEntriesResponse,
): Uint8Array {
  uint(callId, 'call id');
  const term = uint(response.term, 'term');
  const lastLogIndex = uint(response.lastLogIndex, 'lastLogIndex');
  const conflictTerm =
    response.conflictTerm === undefined ? undefined : uint(response.conflictTerm, 'conflictTerm');
  const conflictIndex =
    response.conflictIndex === undefined
      ? undefined
      : uint(response.conflictIndex, 'conflictIndex');
  // `optional` fields are written when present, even when 0.
  const size =
    uintFieldSize(term) +
    (response.success ? 2 : 0) +
    uintFieldSize(lastLogIndex) +
    (conflictTerm === undefined ? 0 : 1 + varintSize(conflictTerm)) +
    (conflictIndex === undefined ? 0 : 1 + varintSize(conflictIndex));
  const total = envelopeHeadSize(callId, 0) + messageFieldSize(size);
  const w = new Writer(new Uint8Array(total));
  writeEnvelopeHead(w, callId, 0);
  w.buf[w.pos++] = ENVELOPE_AE_RESPONSE;
  w.varint(size);
  w.uintField(RESP_TERM, term);
  if (response.success) {
    w.buf[w.pos++] = RESP_SUCCESS;
    w.buf[w.pos++] = 1;
  }
  w.uintField(RESP_LAST_INDEX, lastLogIndex);
  if (conflictTerm !== undefined) {
    w.buf[w.pos++] = RESP_CONFLICT_TERM;
    w.varint(conflictTerm);
  }
  if (conflictIndex !== undefined) {
    w.buf[w.pos++] = RESP_CONFLICT_INDEX;
    w.varint(conflictIndex);
  }
  return w.buf;
}

/**
 * The fast path of `decodeFrame` for an AppendEntries request: reads an envelope laid out as
 * any protobuf encoder lays out a plain one, with numbers (no BigInt) and entry data as views
 * of `bytes`, then applies exactly the generated path's checks. Anything unusual (an unknown
 * or repeated field, a number beyond 2^53, a truncated field, another message) returns
 * undefined, and the generated decoder takes over: odd input keeps its one interpretation.
 */
export function decodeAppendEntriesRequestFrame(bytes: Uint8Array): Frame | undefined {
  const r = new Reader(bytes);
  let callId = 0;
  let method = 0;
  let timeoutMs = 0;
  let body: [number, number] | undefined;
  let seen = 0;
  while (r.pos < r.end) {
    const tag = r.buf[r.pos++] as number;
    let bit: number;
    switch (tag) {
      case ENVELOPE_CALL_ID:
        bit = 1;
        callId = r.varint();
        break;
      case ENVELOPE_METHOD:
        bit = 2;
        method = r.varint();
        break;
      case ENVELOPE_TIMEOUT:
        bit = 4;
        timeoutMs = r.varint();
        if (timeoutMs > 0xffff_ffff) return undefined;
        break;
      case ENVELOPE_AE_REQUEST:
        bit = 8;
        body = r.span();
        break;
      default:
        return undefined;
    }
    if (r.failed || seen & bit) return undefined;
    seen |= bit;
  }
  if (body === undefined || method !== METHOD_APPEND_ENTRIES) return undefined;
  const raw = readRequest(r, body[0], body[1]);
  if (raw === undefined) return undefined;
  try {
    return {
      kind: 'request',
      callId,
      method: 'appendEntries',
      timeoutMs,
      request: appendEntriesRequestFromRaw(raw),
    };
  } catch (error) {
    if (error instanceof BadRequestError) return { kind: 'invalid', callId, error };
    throw error;
  }
}

const decoder = new TextDecoder();
const decodeUtf8 = (buf: Uint8Array, start: number, end: number) =>
  decoder.decode(buf.subarray(start, end));

/**
 * Ids (group, sender, receiver) are short and the same in every message: they are looked up
 * by their bytes instead of being decoded again (TextDecoder costs microseconds per call on
 * short strings, and a fresh string is garbage a moment later).
 */
const SHORT_STRING = 64;
const stringCache = new Map<number, { readonly bytes: Uint8Array; readonly text: string }>();
const STRING_CACHE_KEPT = 4096;

function shortString(buf: Uint8Array, start: number, end: number): string {
  // FNV-1a over the bytes.
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ (buf[i] as number), 0x01000193);
  const hit = stringCache.get(hash);
  if (hit !== undefined && hit.bytes.byteLength === end - start) {
    let same = true;
    for (let i = start; i < end; i++) {
      if (hit.bytes[i - start] !== buf[i]) {
        same = false;
        break;
      }
    }
    if (same) return hit.text;
  }
  const text = decodeUtf8(buf, start, end);
  if (stringCache.size >= STRING_CACHE_KEPT) stringCache.clear();
  stringCache.set(hash, { bytes: buf.slice(start, end), text });
  return text;
}

function readRequest(r: Reader, start: number, end: number): RawAppendEntries | undefined {
  r.pos = start;
  r.end = end;
  let header: { groupId: string; from: string; to: string; term: number } | undefined;
  let prevLogIndex = 0;
  let prevLogTerm = 0;
  let leaderCommit = 0;
  const entries: RawAppendEntries['entries'][number][] = [];
  let seen = 0;
  while (r.pos < r.end) {
    const tag = r.buf[r.pos++] as number;
    let bit = 0;
    switch (tag) {
      case REQ_HEADER: {
        bit = 1;
        const span = r.span();
        if (r.failed) return undefined;
        const outer = r.end;
        header = readHeader(r, span[0], span[1]);
        r.pos = span[1];
        r.end = outer;
        if (header === undefined) return undefined;
        break;
      }
      case REQ_PREV_INDEX:
        bit = 2;
        prevLogIndex = r.varint();
        break;
      case REQ_PREV_TERM:
        bit = 4;
        prevLogTerm = r.varint();
        break;
      case REQ_LEADER_COMMIT:
        bit = 8;
        leaderCommit = r.varint();
        break;
      case REQ_ENTRY: {
        const span = r.span();
        if (r.failed) return undefined;
        const outer = r.end;
        const entry = readEntry(r, span[0], span[1]);
        r.pos = span[1];
        r.end = outer;
        if (entry === undefined) return undefined;
        entries.push(entry);
        break;
      }
      default:
        return undefined;
    }
    if (r.failed || seen & bit) return undefined;
    seen |= bit;
  }
  if (header === undefined) return undefined;
  return {
    groupId: header.groupId,
    from: header.from,
    to: header.to,
    term: header.term,
    prevLogIndex,
    prevLogTerm,
    entries,
    leaderCommit,
  };
}

function readHeader(
  r: Reader,
  start: number,
  end: number,
): { groupId: string; from: string; to: string; term: number } | undefined {
  r.pos = start;
  r.end = end;
  let groupId = '';
  let from = '';
  let to = '';
  let term = 0;
  let seen = 0;
  while (r.pos < r.end) {
    const tag = r.buf[r.pos++] as number;
    let bit: number;
    switch (tag) {
      case HEADER_GROUP:
        bit = 1;
        groupId = r.string();
        break;
      case HEADER_FROM:
        bit = 2;
        from = r.string();
        break;
      case HEADER_TO:
        bit = 4;
        to = r.string();
        break;
      case HEADER_TERM:
        bit = 8;
        term = r.varint();
        break;
      default:
        return undefined;
    }
    if (r.failed || seen & bit) return undefined;
    seen |= bit;
  }
  return { groupId, from, to, term };
}

function readEntry(
  r: Reader,
  start: number,
  end: number,
): RawAppendEntries['entries'][number] | undefined {
  r.pos = start;
  r.end = end;
  let index = 0;
  let term = 0;
  let type = 0;
  let data: Uint8Array = EMPTY;
  let seen = 0;
  while (r.pos < r.end) {
    const tag = r.buf[r.pos++] as number;
    let bit: number;
    switch (tag) {
      case ENTRY_INDEX:
        bit = 1;
        index = r.varint();
        break;
      case ENTRY_TERM:
        bit = 2;
        term = r.varint();
        break;
      case ENTRY_TYPE:
        bit = 4;
        type = r.varint();
        break;
      case ENTRY_DATA: {
        bit = 8;
        const span = r.span();
        data = r.buf.subarray(span[0], span[1]);
        r.pos = span[1];
        break;
      }
      default:
        return undefined;
    }
    if (r.failed || seen & bit) return undefined;
    seen |= bit;
  }
  // Other types are refused by the generated path, with its message.
  if (type !== 1 && type !== 2) return undefined;
  return {
    index,
    term,
    type: type === 1 ? EntryType.Data : EntryType.Configuration,
    data,
  };
}

const EMPTY: Uint8Array = new Uint8Array(0);

/** Reads varints as numbers; sets `failed` on anything it will not read exactly. */
class Reader {
  pos = 0;
  end: number;
  failed = false;

  constructor(readonly buf: Uint8Array) {
    this.end = buf.byteLength;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    // At most 8 bytes (56 bits): beyond, or past 2^53, the generated path decides.
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) break;
      const b = this.buf[this.pos++] as number;
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) break;
        return value;
      }
      scale *= 128;
    }
    this.failed = true;
    return 0;
  }

  /** A length-delimited field's [start, end) within the current bounds; moves past it. */
  span(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    if (this.failed || length > this.end - start) {
      this.failed = true;
      return [start, start];
    }
    this.pos = start + length;
    return [start, this.pos];
  }

  string(): string {
    const [start, end] = this.span();
    if (this.failed) return '';
    return end - start <= SHORT_STRING
      ? shortString(this.buf, start, end)
      : decodeUtf8(this.buf, start, end);
  }
}
