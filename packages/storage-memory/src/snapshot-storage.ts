import {
  BadRequestError,
  type SnapshotMeta,
  type SnapshotReader,
  type SnapshotStorage,
  type SnapshotWriter,
} from '@kontiki/core';

interface Stored {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

function reader(s: Stored): SnapshotReader {
  return {
    meta: s.meta,
    size: s.data.byteLength,
    read: async (offset, maxBytes) => s.data.slice(offset, offset + Math.max(0, maxBytes)),
    close: async () => {},
  };
}

/** Snapshots in memory; the latest published one is kept. */
export class MemorySnapshotStorage implements SnapshotStorage {
  private latest: Stored | undefined;

  async create(meta: SnapshotMeta): Promise<SnapshotWriter> {
    if (!Number.isSafeInteger(meta.lastIncludedIndex) || meta.lastIncludedIndex < 0) {
      throw new BadRequestError('snapshot lastIncludedIndex must be a non-negative integer');
    }
    const chunks: Uint8Array[] = [];
    let state: 'open' | 'committed' | 'aborted' = 'open';
    const check = () => {
      if (state !== 'open') throw new BadRequestError(`snapshot writer is ${state}`);
    };
    const joined = () => {
      let size = 0;
      for (const c of chunks) size += c.byteLength;
      const data = new Uint8Array(size);
      let offset = 0;
      for (const c of chunks) {
        data.set(c, offset);
        offset += c.byteLength;
      }
      return data;
    };
    return {
      meta,
      write: async (chunk) => {
        check();
        chunks.push(chunk.slice());
      },
      openReader: async () => {
        check();
        return reader({ meta, data: joined() });
      },
      commit: async () => {
        check();
        state = 'committed';
        this.latest = { meta, data: joined() };
      },
      abort: async () => {
        if (state === 'open') state = 'aborted';
      },
    };
  }

  async openLatest(): Promise<SnapshotReader | null> {
    const s = this.latest;
    return s ? reader(s) : null;
  }

  async close(): Promise<void> {}
}
