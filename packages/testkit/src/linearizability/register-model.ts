import type { CompletedOperation, IndefiniteOperation, KvValue } from './history.js';

/** A model state or a value: an interned KvValue. */
export type ValueId = number;

/** What `step` answers when an operation cannot take effect in a state. */
export const REJECTED = -1;

/** A value in an operation that does not constrain anything (no `prev` reported). */
const ANY = -2;
/** The state "absent". */
const ABSENT: ValueId = 0;
/** Every value that no operation compares the state with (see below). */
const UNOBSERVED: ValueId = 1;

const READ = 0;
const WRITE = 1;
const CAS = 2;

/**
 * One register (the operations of one key) as the search sees it: every value interned to a
 * small integer, so that a state is a number and a step is a few comparisons.
 *
 * The sequential specification, for an operation taking effect in state s:
 * - read returning v: allowed iff s = v; the state stays s.
 * - write(v), delete (a write of "absent"): allowed iff its reported `prev` (if any) is s;
 *   the state becomes v.
 * - cas(e → v) that succeeded: allowed iff s = e (and `prev`, if any, is s); becomes v.
 * - cas(e → v) that failed: allowed iff s ≠ e (and `prev`, if any, is s); stays s.
 * - an indefinite write or delete: always allowed; becomes v. An indefinite cas: allowed;
 *   becomes v if s = e, else stays s (whether it happened at all is the search's choice:
 *   it may leave the operation out).
 *
 * **Unobserved values are one state.** A step only ever compares the state with values
 * that operations name: what a read returned, a reported `prev`, a CAS's expected value.
 * Values that none names (typically those of writes that timed out and were never read)
 * are therefore indistinguishable, and all map to UNOBSERVED. This is exact, and it is what
 * makes indefinite writes of such values interchangeable (see `symmetryClass`).
 */
export class RegisterModel {
  private readonly ids = new Map<KvValue, ValueId>([[null, ABSENT]]);
  private readonly values: Array<KvValue | undefined> = [null, undefined];
  private readonly kind: Int8Array;
  /** Read: the value returned; write/cas: the value written. */
  private readonly arg: Int32Array;
  /** cas: the expected value. */
  private readonly expected: Int32Array;
  /** The reported `prev`, or ANY. */
  private readonly prev: Int32Array;
  /** cas: 1 succeeded, 0 failed, -1 unknown. */
  private readonly succeeded: Int8Array;
  readonly initial: ValueId;
  /** The use index (see `clearUses`): states some enabled operation would use. */
  private readonly usedExactly = new Set<ValueId>();
  /** Expected values of enabled failed CAS without `prev`: they use any other state. */
  private usedUnless: ValueId = REJECTED;
  private usedByAny = false;

  /**
   * `distinguishCompletedWrites`: keep the values of completed writes apart even when no
   * operation observes them (slower; for explanations, which name the states).
   */
  constructor(
    private readonly ops: ReadonlyArray<CompletedOperation | IndefiniteOperation>,
    initial: KvValue,
    distinguishCompletedWrites = false,
  ) {
    const n = ops.length;
    this.kind = new Int8Array(n);
    this.arg = new Int32Array(n);
    this.expected = new Int32Array(n);
    this.prev = new Int32Array(n).fill(ANY);
    this.succeeded = new Int8Array(n).fill(-1);
    // First every value an operation compares the state with, so that the others can share
    // one id.
    for (const op of ops) {
      const out = op.outcome === 'completed' ? op.output : undefined;
      if (out?.op === 'read') this.observe(out.value);
      if (out !== undefined && 'prev' in out && out.prev !== undefined) this.observe(out.prev);
      if (op.call.op === 'cas') this.observe(op.call.expected);
      if (distinguishCompletedWrites && out !== undefined) {
        if (op.call.op === 'write' || op.call.op === 'cas') this.observe(op.call.value);
      }
    }
    this.initial = this.idOf(initial);
    ops.forEach((op, i) => {
      const call = op.call;
      const out = op.outcome === 'completed' ? op.output : undefined;
      switch (call.op) {
        case 'read':
          if (out?.op !== 'read') throw new Error('an indefinite read cannot be checked');
          this.kind[i] = READ;
          this.arg[i] = this.idOf(out.value);
          break;
        case 'write':
        case 'delete':
          this.kind[i] = WRITE;
          this.arg[i] = this.idOf(call.op === 'write' ? call.value : null);
          break;
        case 'cas':
          this.kind[i] = CAS;
          this.arg[i] = this.idOf(call.value);
          this.expected[i] = this.idOf(call.expected);
          if (out?.op === 'cas') this.succeeded[i] = out.succeeded ? 1 : 0;
      }
      if (out !== undefined && 'prev' in out && out.prev !== undefined) {
        this.prev[i] = this.idOf(out.prev);
      }
    });
  }

  /** The state after operation `op` takes effect in `state`, or REJECTED. */
  step(state: ValueId, op: number): ValueId {
    const prev = this.prev[op] as number;
    if (prev !== ANY && prev !== state) return REJECTED;
    const arg = this.arg[op] as number;
    switch (this.kind[op]) {
      case READ:
        return arg === state ? state : REJECTED;
      case WRITE:
        return arg;
      default: {
        const matches = this.expected[op] === state;
        const succeeded = this.succeeded[op];
        if (succeeded === 1) return matches ? arg : REJECTED;
        if (succeeded === 0) return matches ? REJECTED : state;
        return matches ? arg : state;
      }
    }
  }

  /**
   * Whether `op` is completed and leaves every state it fits unchanged: a read, a failed
   * CAS, or a write that reported the value it wrote as `prev`.
   */
  isObserver(op: number): boolean {
    if (this.ops[op]?.outcome !== 'completed') return false;
    const kind = this.kind[op];
    if (kind === READ) return true;
    if (kind === CAS && this.succeeded[op] === 0) return true;
    return this.prev[op] === this.arg[op];
  }

  /**
   * The use index, for the search's rule that an indefinite operation is placed only right
   * before an operation that uses its effect. `clearUses`, then `addUse` for each operation
   * that could come next; `uses(state)` then says whether one of them would take effect in
   * `state` and depends on it: not a write that ignores the state (a blind write or delete,
   * which would make the indefinite operation before it pointless), nor an indefinite CAS
   * without effect there.
   */
  clearUses(): void {
    this.usedExactly.clear();
    this.usedUnless = REJECTED;
    this.usedByAny = false;
  }

  addUse(op: number): void {
    const completed = this.ops[op]?.outcome === 'completed';
    const prev = this.prev[op] as number;
    if (prev !== ANY) {
      this.usedExactly.add(prev);
      return;
    }
    switch (this.kind[op]) {
      case READ:
        this.usedExactly.add(this.arg[op] as number);
        return;
      case WRITE:
        return;
      default: {
        const expected = this.expected[op] as number;
        if (!completed) {
          if (expected !== this.arg[op]) this.usedExactly.add(expected);
        } else if (this.succeeded[op] === 1) {
          this.usedExactly.add(expected);
        } else if (this.usedUnless === REJECTED || this.usedUnless === expected) {
          this.usedUnless = expected;
        } else {
          // Two failed CAS expecting different values: every state fits one of them.
          this.usedByAny = true;
        }
      }
    }
  }

  uses(state: ValueId): boolean {
    if (this.usedByAny || this.usedExactly.has(state)) return true;
    return this.usedUnless !== REJECTED && this.usedUnless !== state;
  }

  /**
   * For an indefinite operation, a name shared exactly by the indefinite operations with the
   * same step function (same kind, same interned values): any two such can swap places in a
   * linearization. For a completed one, undefined (its return time sets it apart).
   */
  symmetryClass(op: number): string | undefined {
    if (this.ops[op]?.outcome !== 'indefinite') return undefined;
    return `${this.kind[op]}:${this.arg[op]}:${this.expected[op]}`;
  }

  /** The value a state stands for; undefined for "a value no operation observed". */
  valueOf(id: ValueId): KvValue | undefined {
    if (id < 0 || id >= this.values.length) throw new RangeError(`no value ${id}`);
    return this.values[id];
  }

  private observe(value: KvValue): void {
    if (!this.ids.has(value)) {
      this.ids.set(value, this.values.length);
      this.values.push(value);
    }
  }

  private idOf(value: KvValue): ValueId {
    return this.ids.get(value) ?? UNOBSERVED;
  }
}
