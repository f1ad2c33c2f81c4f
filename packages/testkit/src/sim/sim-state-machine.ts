import type { CommittedEntry, StateMachine } from '@kontiki/core';

const decoder = new TextDecoder();

/** The simulator's state machine: it remembers what it applied and answers with `index:payload`. */
export class SimStateMachine implements StateMachine<string> {
  /** Cleared when the node crashes: a dead process applies nothing more. */
  alive = true;
  readonly applied: Array<{ index: number; term: number; key: string }> = [];

  constructor(
    private readonly onApplied: (entry: { index: number; term: number; key: string }) => void,
  ) {}

  onApply(entries: readonly CommittedEntry[]): readonly string[] | undefined {
    if (!this.alive) return undefined;
    const out: string[] = [];
    for (const e of entries) {
      const key = decoder.decode(e.data);
      const record = { index: e.index, term: e.term, key };
      this.applied.push(record);
      this.onApplied(record);
      out.push(`${e.index}:${key}`);
    }
    return out;
  }

  /** The payloads applied, in order. */
  keys(): string[] {
    return this.applied.map((a) => a.key);
  }
}
