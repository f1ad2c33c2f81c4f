/**
 * Runs a node's state changes and holds back what they raise — events and state-machine
 * callbacks — until the outermost change is complete, so that user code never sees (or acts
 * on) a half-changed node: a termChange listener must not find the node still leader in the
 * new term (the simulator caught exactly that: a listener that proposed appended an entry of
 * a term the node never led).
 */
export class Transitions {
  private deferred: Array<() => void> = [];
  private depth = 0;
  private flushing = false;

  /** `onThrow` hears of a callback that threw; the others still run. */
  constructor(private readonly onThrow: (error: unknown) => void) {}

  /** Runs a state change; what it defers runs when the outermost change is complete. */
  run<T>(fn: () => T): T {
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
      if (this.depth === 0 && !this.flushing) {
        this.flushing = true;
        try {
          for (let i = 0; i < this.deferred.length; i++) this.deferred[i]?.();
        } finally {
          this.deferred = [];
          this.flushing = false;
        }
      }
    }
  }

  /** Runs `fn` now, or once the change under way is complete. A throw is reported, not raised. */
  defer(fn: () => void): void {
    const guarded = () => {
      try {
        fn();
      } catch (error) {
        this.onThrow(error);
      }
    };
    if (this.depth > 0) this.deferred.push(guarded);
    else guarded();
  }
}
