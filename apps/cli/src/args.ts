import { parseArgs } from 'node:util';

/** A mistake in how the command was called: printed with the usage, exit code 2. */
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

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

export interface Parsed {
  readonly positionals: readonly string[];
  string(name: string): string | undefined;
  flag(name: string): boolean;
  integer(name: string, fallback: number, min: number, max: number): number;
  choice<T extends string>(name: string, fallback: T, choices: readonly T[]): T;
}

/** Parses a command's arguments strictly: an unknown flag is a UsageError, not ignored. */
export function parse(args: readonly string[], options: OptionSpec): Parsed {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...args],
      options,
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const string = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  return {
    positionals,
    string,
    flag: (name) => values[name] === true,
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

/** Exactly `count` positional arguments, named in `names` for the error message. */
export function positionals(parsed: Parsed, names: readonly string[], optional = 0): string[] {
  const got = parsed.positionals;
  const min = names.length - optional;
  if (got.length < min || got.length > names.length) {
    throw new UsageError(`expected ${names.map((n) => n.toUpperCase()).join(' ')}`);
  }
  return [...got];
}
