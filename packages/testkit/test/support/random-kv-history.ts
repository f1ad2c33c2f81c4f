import type { KvCall, KvOperation, KvOutput, KvValue } from '../../src/linearizability/index.js';
import { Rng } from '../../src/sim/rng.js';

export interface RandomHistoryOptions {
  readonly seed: number;
  /** Clients running at once. */
  readonly processes: number;
  /** Operations invoked in all. */
  readonly operations: number;
  readonly keys: number;
  /** Chance that an operation's answer is lost (it becomes indefinite). */
  readonly indefiniteRate: number;
  /** Draw written values from this many ("a", "b", ...) instead of making each unique. */
  readonly valuePool?: number;
  /** Report `prev` on writes, deletes and CAS (as the kv-server does). Default true. */
  readonly reportPrev?: boolean;
}

interface Pending {
  readonly process: number;
  readonly key: string;
  readonly call: KvCall;
  readonly invokedAt: number;
  /** Set once it took effect on the register (its linearization point). */
  output: KvOutput | undefined;
}

/**
 * A history that is linearizable by construction: clients invoke operations on a simulated
 * sequential store; each operation takes effect atomically at a random moment between its
 * invocation and its return (its linearization point), and its output is what the store
 * answered then. Some answers are lost: such an operation is recorded as indefinite and
 * either already took effect, takes effect at a random later moment (even after its client
 * moved on), or never does. Time advances by one per event, so there are many overlaps.
 */
export function randomLinearizableHistory(options: RandomHistoryOptions): KvOperation[] {
  const rng = new Rng(options.seed);
  const store = new Map<string, string>();
  const written = new Map<string, string[]>();
  const keys = Array.from({ length: options.keys }, (_, i) => `k${i}`);
  const history: KvOperation[] = [];
  const running: Array<Pending | undefined> = Array.from({ length: options.processes });
  const processIds = Array.from({ length: options.processes }, (_, i) => i);
  /** Indefinite operations that have not taken effect yet, and may. */
  const zombies: Pending[] = [];
  let nextProcess = options.processes;
  let invoked = 0;
  let values = 0;
  let t = 0;

  const takeEffect = (p: Pending): KvOutput => {
    const out = effect(p);
    if (options.reportPrev !== false || out.op === 'read') return out;
    return out.op === 'cas' ? { op: 'cas', succeeded: out.succeeded } : { op: out.op };
  };
  const effect = (p: Pending): KvOutput => {
    const prev: KvValue = store.get(p.key) ?? null;
    const call = p.call;
    switch (call.op) {
      case 'read':
        return { op: 'read', value: prev };
      case 'write':
        store.set(p.key, call.value);
        return { op: 'write', prev };
      case 'delete':
        store.delete(p.key);
        return { op: 'delete', prev };
      case 'cas': {
        const succeeded = prev === call.expected;
        if (succeeded) store.set(p.key, call.value);
        return { op: 'cas', succeeded, prev };
      }
    }
  };

  const newCall = (key: string): KvCall => {
    const roll = rng.next();
    if (roll < 0.4) return { op: 'read' };
    if (roll < 0.5) return { op: 'delete' };
    const value =
      options.valuePool === undefined
        ? `v${values++}`
        : String.fromCharCode(97 + rng.int(0, options.valuePool - 1));
    const past = written.get(key) ?? [];
    written.set(key, past);
    if (roll < 0.75) {
      past.push(value);
      return { op: 'write', value };
    }
    // Expect the current value often, so that many succeed; else an older one, or absence.
    const expected: KvValue = rng.chance(0.6)
      ? (store.get(key) ?? null)
      : rng.chance(0.5) && past.length > 0
        ? rng.pick(past)
        : null;
    past.push(value);
    return { op: 'cas', expected, value };
  };

  // Bounded: an operation needs three events on its slot (invoke, take effect, return).
  for (let event = 0; event < 10 * options.operations + 100; event++) {
    t++;
    if (zombies.length > 0 && rng.chance(0.05)) {
      const z = zombies.splice(rng.int(0, zombies.length - 1), 1)[0];
      if (z !== undefined) takeEffect(z);
    }
    const slot = rng.int(0, options.processes - 1);
    const p = running[slot];
    if (p === undefined) {
      if (invoked >= options.operations) {
        if (running.every((r) => r === undefined)) break;
        continue;
      }
      const key = rng.pick(keys);
      running[slot] = {
        process: processIds[slot] as number,
        key,
        call: newCall(key),
        invokedAt: t,
        output: undefined,
      };
      invoked++;
    } else if (p.output === undefined && !rng.chance(options.indefiniteRate / 2)) {
      p.output = takeEffect(p);
    } else {
      const lost = p.output === undefined || rng.chance(options.indefiniteRate);
      const base = { process: p.process, key: p.key, call: p.call, invokedAt: p.invokedAt };
      if (lost || p.output === undefined) {
        history.push({ ...base, outcome: 'indefinite', reason: 'lost answer' });
        // A client whose answer was lost moves on under a new name (its operation may
        // still be in flight).
        processIds[slot] = nextProcess++;
        if (p.output === undefined && rng.chance(0.5)) zombies.push(p);
      } else {
        history.push({ ...base, outcome: 'completed', returnedAt: t, output: p.output });
      }
      running[slot] = undefined;
    }
  }
  // Whatever is still running when the events run out loses its answer.
  for (const p of running) {
    if (p === undefined) continue;
    const { process, key, call, invokedAt } = p;
    history.push({ process, key, call, invokedAt, outcome: 'indefinite', reason: 'cut off' });
  }
  return history;
}

/** Values some write of `key` in the history wrote, and when each such write was invoked. */
export function writesOf(history: readonly KvOperation[], key: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const op of history) {
    if (op.key !== key) continue;
    if (op.call.op === 'write' || op.call.op === 'cas') out.set(op.call.value, op.invokedAt);
  }
  return out;
}
