import { createHash } from 'node:crypto';
import type { CommittedEntry, StateMachine } from '@kontiki/core';
import { decodeCommand, type KvCommand, type KvResult } from './commands.js';

/** What `digest()` returns: enough to compare the state of two nodes. */
export interface KvDigest {
  readonly keys: number;
  /** SHA-256 (hex) over every key and value, in key order. */
  readonly sha256: string;
}

/**
 * The replicated state: a map from string keys to string values. Deterministic (the same
 * entries in the same order give the same map and results on every node) and synchronous,
 * so that the map and the node's applied index are consistent within one event-loop turn.
 */
export class KvStateMachine implements StateMachine<KvResult> {
  private readonly data = new Map<string, string>();

  onApply(entries: readonly CommittedEntry[]): readonly KvResult[] {
    return entries.map((entry) => {
      const command = decodeCommand(entry.data);
      // A bad entry must not stop the node (every node would stop at the same index): it
      // applies as a no-op and its proposer, if any, learns why.
      if (typeof command === 'string') return { op: 'invalid', reason: command };
      return this.execute(command);
    });
  }

  get(key: string): string | undefined {
    return this.data.get(key);
  }

  get size(): number {
    return this.data.size;
  }

  digest(): KvDigest {
    const hash = createHash('sha256');
    const keys = [...this.data.keys()].sort();
    for (const key of keys) {
      // JSON of the pair: unambiguous whatever the key and value contain.
      hash.update(JSON.stringify([key, this.data.get(key)]));
      hash.update('\n');
    }
    return { keys: keys.length, sha256: hash.digest('hex') };
  }

  private execute(command: KvCommand): KvResult {
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
