import { OpSet } from './op-set.js';
import { REJECTED } from './register-model.js';
import { VisitedCache } from './visited-cache.js';

/**
 * Which states the operations that could come next would use (see the search's third rule).
 * `clearUses`, then `addUse` for each such operation; `uses(state)` then says whether one of
 * them takes effect in `state` and depends on it (not a write that ignores the state, nor
 * an indefinite operation that would have no effect there).
 */
export interface UseIndex {
  clearUses(): void;
  addUse(op: number): void;
  uses(state: number): boolean;
}

/** One object's history, as the search needs it. */
export interface SearchInput {
  readonly invokedAt: readonly number[];
  /** Infinity for an indefinite operation: it may take effect any time after its invocation. */
  readonly returnedAt: readonly number[];
  readonly initial: number;
  /** The state after `op` takes effect in `state`, or REJECTED. */
  step(state: number, op: number): number;
  /**
   * Per operation, whether it is an observer: completed, and leaving the state as it is in
   * every state it fits (a read, a failed compare-and-set).
   */
  readonly observers?: readonly boolean[];
  /**
   * Per indefinite operation, a class number: operations of one class have the same step
   * function. Default: a class of its own for each.
   */
  readonly classes?: readonly number[];
  /** Default: every state counts as used. */
  readonly uses?: UseIndex;
}

export interface SearchLimits {
  /** Iterations of the search loop before it gives up with "unknown". */
  readonly maxSteps: number;
  /** 32-bit words the memoization cache may hold before the search gives up. */
  readonly maxCacheWords: number;
}

export interface SearchOptions extends SearchLimits {
  /** An operation whose tries to record: the states it was tried in, rejected or accepted. */
  readonly watch?: number;
}

export interface WatchedTries {
  readonly rejectedIn: readonly number[];
  readonly acceptedIn: readonly number[];
}

export type SearchResult =
  | { readonly verdict: 'linearizable'; readonly steps: number }
  | { readonly verdict: 'not-linearizable'; readonly steps: number; readonly watched: WatchedTries }
  | { readonly verdict: 'unknown'; readonly steps: number; readonly reason: string };

const NIL = -1;
/** States recorded per watched operation: enough to explain, bounded. */
const WATCH_LIMIT = 16;

/** One choice on the search's stack, and where to resume the choices after it. */
interface Frame {
  readonly op: number;
  /** The state before the choice. */
  readonly state: number;
  /** Completed operations: its call event. Indefinite ones: -1. */
  readonly call: number;
  /** Indefinite ones: the candidates of the configuration it was chosen in, and its place. */
  readonly candidates: readonly number[];
  readonly at: number;
}

/**
 * Wing & Gong's linearizability search (1993) with Lowe's memoization (2017), the search of
 * Knossos' "linear" checker and of Porcupine, with three reductions added here (below).
 *
 * The completed operations form a doubly linked list of call and return events in time
 * order (at equal times calls come first: operations that touch in time are treated as
 * concurrent, which can only accept more). Walking the list from its head, the search tries
 * to linearize each operation whose call it meets: if the model accepts it in the current
 * state, and the configuration (linearized set, new state) was never reached before, it
 * pushes the operation on a stack, lifts its call and return out of the list, and starts
 * again from the head. At the first return event the walk stops: the operation returned
 * before anything after it in the list was invoked, so it must come before all of those.
 * There the search tries the indefinite operations (below), and then undoes the last choice
 * (pop, put the events back) and tries the next alternative to it. The history is
 * linearizable when the list is empty; it is not when the stack is empty at a return.
 *
 * Indefinite operations (no return: "infinity") are kept out of the list: in a
 * configuration, one may be linearized if it was invoked before the first pending return.
 *
 * 1. **Symmetry.** Indefinite operations of one class (same effect in every state) can swap
 *    places in any linearization: none has a return that orders it, so the one invoked
 *    first can always take the earlier place. The search linearizes a class's members only
 *    in invocation order, so the linearized members of a class are a prefix of it: k pending
 *    timeouts of one kind cost k + 1 configurations instead of 2^k.
 * 2. **Observers go first.** An observer that fits the current state can be linearized right
 *    now without losing any linearization: its call was reached, so everything that
 *    returned before its invocation is already linearized; it changes nothing, so whatever
 *    came between now and a later place it could take sees the same states. So once the
 *    search has linearized an observer here and failed, this configuration fails too:
 *    backtracking pops the observer together with the choice before it (without this, k
 *    concurrent reads of one value cost 2^k configurations).
 * 3. **Indefinite operations only where they matter.** If there is a linearization, there is
 *    one in which every indefinite operation that took effect changed the state and is
 *    followed at once by an operation that depends on the new state: one with no effect can
 *    be dropped (it never happened), as can one followed by a write that ignores the state
 *    (the write hides it) or one at the very end. Dropping moves no other operation, so this
 *    combines with rules 1 and 2 (a class's members can be renamed into invocation order
 *    afterwards). The search therefore places an indefinite operation only if it changes the
 *    state and an operation that could come next uses the new state. Without this, every
 *    pending timeout would be tried at every point of the history after its invocation.
 */
export function searchLinearization(input: SearchInput, options: SearchOptions): SearchResult {
  const n = input.invokedAt.length;
  if (input.returnedAt.length !== n) throw new Error('invokedAt and returnedAt differ in length');
  const indefinite = (op: number): boolean => input.returnedAt[op] === Number.POSITIVE_INFINITY;

  // Event e: the call (even) or return (odd) of operation e >> 1. Slot 2n is the head.
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  const timeOf = (e: number): number =>
    (e & 1) === 0 ? (input.invokedAt[e >> 1] as number) : (input.returnedAt[e >> 1] as number);
  const events: number[] = [];
  for (let op = 0; op < n; op++) if (!indefinite(op)) events.push(2 * op, 2 * op + 1);
  events.sort((a, b) => timeOf(a) - timeOf(b) || (a & 1) - (b & 1) || a - b);
  let last = head;
  for (const e of events) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  next[last] = NIL;
  const lift = (call: number): void => {
    const ret = call + 1;
    next[prev[call] as number] = next[call] as number;
    if (next[call] !== NIL) prev[next[call] as number] = prev[call] as number;
    next[prev[ret] as number] = next[ret] as number;
    if (next[ret] !== NIL) prev[next[ret] as number] = prev[ret] as number;
  };
  // The exact reverse of lift (dancing links): valid because undoes happen in LIFO order.
  const unlift = (call: number): void => {
    const ret = call + 1;
    next[prev[ret] as number] = ret;
    if (next[ret] !== NIL) prev[next[ret] as number] = ret;
    next[prev[call] as number] = call;
    if (next[call] !== NIL) prev[next[call] as number] = call;
  };

  // Classes of indefinite operations, each in invocation order; `taken[c]` of them are
  // linearized (always the first ones: rule 1).
  const classes: number[][] = [];
  {
    const byNumber = new Map<number, number[]>();
    for (let op = 0; op < n; op++) {
      if (!indefinite(op)) continue;
      const given = input.classes?.[op] ?? -1;
      const c = given >= 0 ? given : -1 - op;
      const members = byNumber.get(c) ?? [];
      members.push(op);
      byNumber.set(c, members);
    }
    for (const members of byNumber.values()) {
      members.sort(
        (a, b) => (input.invokedAt[a] as number) - (input.invokedAt[b] as number) || a - b,
      );
      classes.push(members);
    }
  }
  const classOf = new Int32Array(n).fill(-1);
  classes.forEach((members, c) => {
    for (const op of members) classOf[op] = c;
  });
  const taken = new Int32Array(classes.length);

  const observers = input.observers ?? [];
  // Bit positions: completed operations by invocation, then indefinite ones (see OpSet).
  const byInvocation = Array.from({ length: n }, (_, op) => op).sort(
    (a, b) =>
      Number(indefinite(a)) - Number(indefinite(b)) ||
      (input.invokedAt[a] as number) - (input.invokedAt[b] as number) ||
      a - b,
  );
  const positions = new Int32Array(n);
  byInvocation.forEach((op, bit) => {
    positions[op] = bit;
  });
  const linearized = new OpSet(n, positions);
  const cache = new VisitedCache();
  const stack: Frame[] = [];
  let state = input.initial;
  let steps = 0;
  /** Walking the list (at `entry`), or going through `candidates` (at `at`). */
  let entry = next[head] as number;
  let candidates: readonly number[] = [];
  let at = -1;
  const rejectedIn = new Set<number>();
  const acceptedIn = new Set<number>();
  const notLinearizable = (): SearchResult => ({
    verdict: 'not-linearizable',
    steps,
    watched: { rejectedIn: [...rejectedIn], acceptedIn: [...acceptedIn] },
  });

  /**
   * The indefinite operations worth trying in this configuration, whose first pending
   * return is `firstReturn`: the next member of each class, if invoked by then, when it
   * changes the state to one that an operation able to come next uses (rule 3).
   */
  const indefiniteCandidates = (firstReturn: number): number[] => {
    const enabled: number[] = [];
    for (let c = 0; c < classes.length; c++) {
      const op = (classes[c] as number[])[taken[c] as number];
      if (op !== undefined && (input.invokedAt[op] as number) <= firstReturn) enabled.push(op);
    }
    const uses = input.uses;
    if (uses !== undefined) {
      uses.clearUses();
      for (let e = next[head] as number; e !== NIL && (e & 1) === 0; e = next[e] as number) {
        uses.addUse(e >> 1);
      }
      for (const op of enabled) uses.addUse(op);
    }
    return enabled.filter((op) => {
      const after = input.step(state, op);
      return after !== REJECTED && after !== state && (uses === undefined || uses.uses(after));
    });
  };

  /**
   * Undoes choices back to the last one whose alternatives are still open (an observer's
   * never are: rule 2) and positions the search on its next alternative. False when none
   * is left.
   */
  const backtrack = (): boolean => {
    for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
      state = frame.state;
      linearized.toggle(frame.op);
      if (frame.call < 0) {
        const c = classOf[frame.op] as number;
        taken[c] = (taken[c] as number) - 1;
        candidates = frame.candidates;
        at = frame.at + 1;
        entry = NIL;
        return true;
      }
      unlift(frame.call);
      if (observers[frame.op] !== true) {
        entry = next[frame.call] as number;
        at = -1;
        return true;
      }
    }
    return false;
  };

  /** Linearizes `op` if its configuration is new; false if it was already explored. */
  const choose = (op: number, after: number, frame: Frame): boolean | 'too-big' => {
    linearized.toggle(op);
    if (!cache.add(linearized, after)) {
      linearized.toggle(op);
      return false;
    }
    if (cache.words > options.maxCacheWords) return 'too-big';
    stack.push(frame);
    state = after;
    return true;
  };

  for (;;) {
    if (++steps > options.maxSteps) {
      return { verdict: 'unknown', steps, reason: `more than ${options.maxSteps} search steps` };
    }
    const tooBig = (): SearchResult => ({
      verdict: 'unknown',
      steps,
      reason: `the search cache outgrew ${options.maxCacheWords} words`,
    });

    if (at < 0) {
      // Walking the list of completed operations.
      if (entry === NIL) break;
      if ((entry & 1) === 1) {
        candidates = indefiniteCandidates(timeOf(entry));
        at = 0;
        continue;
      }
      const op = entry >> 1;
      const after = input.step(state, op);
      if (op === options.watch) {
        const seen = after === REJECTED ? rejectedIn : acceptedIn;
        if (seen.size < WATCH_LIMIT) seen.add(state);
      }
      if (after === REJECTED) {
        entry = next[entry] as number;
        continue;
      }
      const chosen = choose(op, after, { op, state, call: entry, candidates: [], at: -1 });
      if (chosen === 'too-big') return tooBig();
      if (chosen) {
        lift(entry);
        entry = next[head] as number;
      } else if (observers[op] === true) {
        // An observer that fits here but whose configuration is known to fail: rule 2 says
        // this one fails too.
        if (!backtrack()) return notLinearizable();
      } else {
        entry = next[entry] as number;
      }
      continue;
    }

    // Going through the indefinite candidates of this configuration.
    const op = candidates[at];
    if (op === undefined) {
      if (!backtrack()) return notLinearizable();
      continue;
    }
    const chosen = choose(op, input.step(state, op), {
      op,
      state,
      call: -1,
      candidates,
      at,
    });
    if (chosen === 'too-big') return tooBig();
    if (chosen) {
      const c = classOf[op] as number;
      taken[c] = (taken[c] as number) + 1;
      entry = next[head] as number;
      at = -1;
    } else {
      at++;
    }
  }
  return { verdict: 'linearizable', steps };
}
