/**
 * CRC32C (Castagnoli), the checksum every stored record carries. Computed in JS with
 * slicing-by-8 tables: Node 20 has no built-in CRC32C, and a native addon for it would
 * be one more thing to compile.
 */

const POLY = 0x82f63b78;
const TABLES = buildTables();

function buildTables(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n] as number;
    for (let k = 1; k < 8; k++) {
      c = (t[c & 0xff] as number) ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
}

/** Continues a CRC32C over `bytes`; start with `crc = 0`. Returns an unsigned 32-bit value. */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const t = TABLES;
  let c = ~crc;
  let i = 0;
  const n = bytes.length;
  const end8 = n - (n % 8);
  while (i < end8) {
    c ^=
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24);
    c =
      (t[1792 + (c & 0xff)] as number) ^
      (t[1536 + ((c >>> 8) & 0xff)] as number) ^
      (t[1280 + ((c >>> 16) & 0xff)] as number) ^
      (t[1024 + (c >>> 24)] as number) ^
      (t[768 + (bytes[i + 4] as number)] as number) ^
      (t[512 + (bytes[i + 5] as number)] as number) ^
      (t[256 + (bytes[i + 6] as number)] as number) ^
      (t[bytes[i + 7] as number] as number);
    i += 8;
  }
  while (i < n) {
    c = (t[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
    i++;
  }
  return ~c >>> 0;
}

// Scratch space for the fixed-size part of a record, reused so a checksum allocates nothing.
const header = new Uint8Array(17);
const headerView = new DataView(header.buffer);

function putU64(offset: number, value: number): void {
  // Safe integers only (below 2^53): split into two 32-bit halves, little-endian.
  headerView.setUint32(offset, value % 0x1_0000_0000, true);
  headerView.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

/** The checksum of a log entry: over its index, term, type and data. */
export function entryChecksum(index: number, term: number, type: number, data: Uint8Array): number {
  putU64(0, index);
  putU64(8, term);
  header[16] = type & 0xff;
  return crc32c(data, crc32c(header));
}

const encoder = new TextEncoder();

/** The checksum of a row of scalar fields (numbers, strings, null), in order. */
export function fieldsChecksum(fields: readonly (number | string | null)[]): number {
  let crc = 0;
  for (const f of fields) {
    if (f === null) {
      header[0] = 0;
      crc = crc32c(header.subarray(0, 1), crc);
    } else if (typeof f === 'number') {
      header[0] = 1;
      crc = crc32c(header.subarray(0, 1), crc);
      headerView.setFloat64(0, f, true);
      crc = crc32c(header.subarray(0, 8), crc);
    } else {
      const bytes = encoder.encode(f);
      header[0] = 2;
      headerView.setUint32(1, bytes.length, true);
      crc = crc32c(header.subarray(0, 5), crc);
      crc = crc32c(bytes, crc);
    }
  }
  return crc;
}

/** The checksum of a group's row: its name and first log index. */
export function groupChecksum(name: string, firstIndex: number): number {
  return fieldsChecksum([name, firstIndex]);
}

/** The checksum of a group's term and vote. */
export function metaChecksum(term: number, votedFor: string | null): number {
  return fieldsChecksum([term, votedFor]);
}

/** The checksum of a published snapshot's description. */
export function snapshotChecksum(
  lastIndex: number,
  lastTerm: number,
  configuration: string,
  size: number,
): number {
  return fieldsChecksum([lastIndex, lastTerm, configuration, size]);
}
