import { createHash } from 'node:crypto';
import type { CommittedEntry, SnapshotReader, SnapshotWriter, StateMachine } from '@kontiki/core';
import { decodeCommand, type KvCommand, type KvResult } from './commands.js';
import type { PeerAddress } from './config.js';
import { readSnapshot, writeSnapshot } from './snapshot-codec.js';

/** What `digest()` returns: enough to compare the state of two nodes. */
export interface KvDigest {
  readonly keys: number;
  /**
   * SHA-256 (hex) over every key and value, in key order, then (when any were recorded)
   * every peer address, in id order.
   */
  readonly sha256: string;
}

/**
 * The replicated state: a map from string keys to string values, and the addresses of the
 * group's members that were recorded through the log (how the nodes learn where a node
 * that joins later listens). Deterministic (the same entries in the same order give the
 * same state and results on every node) and synchronous, so that the state and the node's
 * applied index are consistent within one event-loop turn.
 *
 * Snapshots stream the state in the format of `snapshot-codec.ts`; core calls save and
 * load between apply batches, so the maps do not change while they run.
 */
export class KvStateMachine implements StateMachine<KvResult> {
  private data = new Map<string, string>();
  private peerBook = new Map<string, PeerAddress>();

  onApply(entries: readonly CommittedEntry[]): readonly KvResult[] {
    return entries.map((entry) => {
      const command = decodeCommand(entry.data);
      // A bad entry must not stop the node (every node would stop at the same index): it
      // applies as a no-op and its proposer, if any, learns why.
      if (typeof command === 'string') return { op: 'invalid', reason: command };
      return this.execute(command);
    });
  }

  async onSnapshotSave(writer: SnapshotWriter): Promise<void> {
    await writeSnapshot(writer, { data: this.data, peers: this.peerBook });
  }

  async onSnapshotLoad(reader: SnapshotReader): Promise<void> {
    // Read whole before replacing anything: a damaged snapshot leaves the state as it was.
    const content = await readSnapshot(reader);
    this.data = content.data;
    this.peerBook = content.peers;
  }

  get(key: string): string | undefined {
    return this.data.get(key);
  }

  get size(): number {
    return this.data.size;
  }

  /** The addresses recorded through the log, by peer id. */
  get peers(): ReadonlyMap<string, PeerAddress> {
    return this.peerBook;
  }

  digest(): KvDigest {
    const hash = createHash('sha256');
    const keys = [...this.data.keys()].sort();
    for (const key of keys) {
      // JSON of the pair: unambiguous whatever the key and value contain.
      hash.update(JSON.stringify([key, this.data.get(key)]));
      hash.update('\n');
    }
    // Only when there are any, so that the digest of a plain map stays what it always was.
    for (const id of [...this.peerBook.keys()].sort()) {
      hash.update(JSON.stringify(['peer', id, this.peerBook.get(id)]));
      hash.update('\n');
    }
    return { keys: keys.length, sha256: hash.digest('hex') };
  }

  private execute(command: KvCommand): KvResult {
    if (command.op === 'peers') {
      for (const [id, address] of Object.entries(command.peers)) this.peerBook.set(id, address);
      return { op: 'peers' };
    }
    const prev = this.data.get(command.key) ?? null;
    switch (command.op) {
      case 'put':
        this.data.set(command.key, command.value);
        return { op: 'put', prev };
      case 'delete':
        this.data.delete(command.key);
        return { op: 'delete', prev };
      case 'cas': {
        const succeeded = prev === command.expected;
        if (succeeded) this.data.set(command.key, command.value);
        return { op: 'cas', succeeded, prev };
      }
    }
  }
}
