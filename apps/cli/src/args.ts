/** A mistake in how the command was called: one line and a hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A command that ran and failed: printed as is, exit code 1. */
export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandError';
  }
}

/** A command's arguments as commander parsed them, with typed, range-checked reads. */
export interface Parsed {
  readonly positionals: readonly string[];
  string(name: string): string | undefined;
  flag(name: string): boolean;
  integer(name: string, fallback: number, min: number, max: number): number;
  choice<T extends string>(name: string, fallback: T, choices: readonly T[]): T;
}

/** commander's name for an option's value: `--data-dir` is `dataDir`. */
function key(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Wraps commander's option values (keyed by camelCase name) and positional arguments. */
export function parsed(values: Record<string, unknown>, positionals: readonly string[]): Parsed {
  const string = (name: string): string | undefined => {
    const v = values[key(name)];
    return typeof v === 'string' ? v : undefined;
  };
  return {
    positionals,
    string,
    flag: (name) => values[key(name)] === true,
    integer: (name, fallback, min, max) => {
      const raw = string(name);
      if (raw === undefined) return fallback;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min || n > max) {
        throw new UsageError(`--${name}: expected an integer from ${min} to ${max}, got "${raw}"`);
      }
      return n;
    },
    choice: (name, fallback, choices) => {
      const raw = string(name);
      if (raw === undefined) return fallback;
      const found = choices.find((c) => c === raw);
      if (found === undefined) {
        throw new UsageError(`--${name}: expected one of ${choices.join(', ')}, got "${raw}"`);
      }
      return found;
    },
  };
}
