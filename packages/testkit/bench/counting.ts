import type {
  CallOptions,
  LogEntry,
  LogStorage,
  RpcHandler,
  RpcMethod,
  RpcRequest,
  RpcResponse,
  Transport,
} from '@kontiki/core';

/** What a {@link CountingTransport} saw leave its endpoint. */
export interface TransportCounts {
  /** AppendEntries that carried at least one entry. */
  appendEntriesWithEntries: number;
  /** Entries carried by those. */
  entriesSent: number;
  /** AppendEntries without entries (heartbeats, commit-index updates, probes). */
  emptyAppendEntries: number;
  /** Every call, of any method. */
  calls: number;
}

/** What a {@link CountingLogStorage} was asked to write. */
export interface StorageCounts {
  /** `append` calls. */
  appends: number;
  /** Entries in them. */
  entriesAppended: number;
  /** Every mutating call: appends and truncations. */
  writes: number;
}

export const zeroTransportCounts = (): TransportCounts => ({
  appendEntriesWithEntries: 0,
  entriesSent: 0,
  emptyAppendEntries: 0,
  calls: 0,
});

export const zeroStorageCounts = (): StorageCounts => ({
  appends: 0,
  entriesAppended: 0,
  writes: 0,
});

/**
 * A transport that counts what its node sends (messages and the entries in them) and passes
 * everything on unchanged: batching is measured from outside core, at the plugin boundary.
 */
export class CountingTransport implements Transport {
  readonly counts: TransportCounts = zeroTransportCounts();
  private readonly inner: Transport;

  constructor(inner: Transport) {
    this.inner = inner;
  }

  call<M extends RpcMethod>(
    method: M,
    request: RpcRequest<M>,
    options?: CallOptions,
  ): Promise<RpcResponse<M>> {
    this.counts.calls++;
    if (method === 'appendEntries') {
      const n = (request as RpcRequest<'appendEntries'>).entries.length;
      if (n > 0) {
        this.counts.appendEntriesWithEntries++;
        this.counts.entriesSent += n;
      } else {
        this.counts.emptyAppendEntries++;
      }
    }
    return this.inner.call(method, request, options);
  }

  serve(groupId: string, handler: RpcHandler): () => void {
    return this.inner.serve(groupId, handler);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A log storage that counts the writes its node asks for and passes them on unchanged. */
export class CountingLogStorage implements LogStorage {
  readonly counts: StorageCounts = zeroStorageCounts();
  private readonly inner: LogStorage;

  constructor(inner: LogStorage) {
    this.inner = inner;
  }

  firstIndex(): Promise<number> {
    return this.inner.firstIndex();
  }
  lastIndex(): Promise<number> {
    return this.inner.lastIndex();
  }
  entries(from: number, to: number, maxBytes?: number): Promise<LogEntry[]> {
    return this.inner.entries(from, to, maxBytes);
  }
  term(index: number): Promise<number | undefined> {
    return this.inner.term(index);
  }
  append(entries: readonly LogEntry[]): Promise<void> {
    this.counts.appends++;
    this.counts.writes++;
    this.counts.entriesAppended += entries.length;
    return this.inner.append(entries);
  }
  truncateSuffix(lastKept: number): Promise<void> {
    this.counts.writes++;
    return this.inner.truncateSuffix(lastKept);
  }
  truncatePrefix(firstKept: number): Promise<void> {
    this.counts.writes++;
    return this.inner.truncatePrefix(firstKept);
  }
  reset(nextIndex: number): Promise<void> {
    this.counts.writes++;
    return this.inner.reset(nextIndex);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
