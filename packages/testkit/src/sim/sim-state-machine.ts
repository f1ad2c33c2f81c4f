import type { CommittedEntry, SnapshotReader, SnapshotWriter, StateMachine } from '@kontiki/core';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export interface AppliedRecord {
  readonly index: number;
  readonly term: number;
  readonly key: string;
}

export interface SimStateMachineHooks {
  onApplied(record: AppliedRecord): void;
  onSnapshotLoaded(lastIncludedIndex: number, records: readonly AppliedRecord[]): void;
}

/**
 * The simulator's state machine: it remembers everything it applied (its whole state), answers
 * each entry with `index:payload`, and snapshots that list in small chunks.
 */
export class SimStateMachine implements StateMachine<string> {
  /** Cleared when the node crashes: a dead process applies nothing more. */
  alive = true;
  applied: AppliedRecord[] = [];

  constructor(private readonly hooks: SimStateMachineHooks) {}

  onApply(entries: readonly CommittedEntry[]): readonly string[] | undefined {
    if (!this.alive) return undefined;
    const out: string[] = [];
    for (const e of entries) {
      const key = decoder.decode(e.data);
      const record = { index: e.index, term: e.term, key };
      this.applied.push(record);
      this.hooks.onApplied(record);
      out.push(`${e.index}:${key}`);
    }
    return out;
  }

  async onSnapshotSave(writer: SnapshotWriter): Promise<void> {
    const bytes = encoder.encode(JSON.stringify(this.applied));
    // Small chunks, so that snapshots cross the network in several InstallSnapshot calls.
    for (let offset = 0; offset < bytes.byteLength; offset += 4096) {
      await writer.write(bytes.subarray(offset, offset + 4096));
    }
  }

  async onSnapshotLoad(reader: SnapshotReader): Promise<void> {
    const parts: Uint8Array[] = [];
    for (let offset = 0; offset < reader.size; ) {
      const chunk = await reader.read(offset, 1000);
      if (chunk.byteLength === 0) break;
      parts.push(chunk);
      offset += chunk.byteLength;
    }
    const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.byteLength;
    }
    const records = (all.byteLength > 0 ? JSON.parse(decoder.decode(all)) : []) as AppliedRecord[];
    if (!this.alive) return;
    this.applied = records;
    this.hooks.onSnapshotLoaded(reader.meta.lastIncludedIndex, records);
  }

  /** The payloads applied, in order. */
  keys(): string[] {
    return this.applied.map((a) => a.key);
  }
}
