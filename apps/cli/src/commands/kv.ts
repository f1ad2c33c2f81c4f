import { KvClient, KvError } from '@kontiki/kv-server';
import { CommandError, type Parsed, UsageError } from '../args.js';
import { resolveEndpoints } from '../cluster-file.js';
import type { Output } from '../output.js';

function clientFor(args: Parsed): KvClient {
  const timeout = args.integer('timeout-ms', 10_000, 1, 600_000);
  return new KvClient(resolveEndpoints(args), { requestTimeoutMs: timeout, retryForMs: timeout });
}

/** A KvError as the CLI reports it: what failed and, for a write, whether it may have happened. */
function describe(error: unknown): Error {
  if (!(error instanceof KvError)) return error instanceof Error ? error : new Error(String(error));
  const outcome =
    error.outcome === 'unknown'
      ? ' (the write may still have been applied)'
      : error.outcome === 'not-applied'
        ? ' (nothing was written)'
        : '';
  return new CommandError(`${error.code}: ${error.message}${outcome}`);
}

async function withClient<T>(args: Parsed, run: (client: KvClient) => Promise<T>): Promise<T> {
  const client = clientFor(args);
  try {
    return await run(client);
  } catch (error) {
    throw describe(error);
  } finally {
    client.close();
  }
}

/** `kontiki get KEY`: prints the value (linearizable read); exit 1 if the key does not exist. */
export async function getCommand(args: Parsed, io: Output): Promise<number> {
  const [key] = args.positionals as [string];
  const got = await withClient(args, (c) => c.get(key));
  if (args.flag('json')) {
    io.out(JSON.stringify(got));
    return got === null ? 1 : 0;
  }
  if (got === null) {
    io.err(`${key}: not found`);
    return 1;
  }
  io.out(got.value);
  return 0;
}

/** `kontiki put KEY VALUE`. */
export async function putCommand(args: Parsed, io: Output): Promise<number> {
  const [key, value] = args.positionals as [string, string];
  const r = await withClient(args, (c) => c.put(key, value));
  io.out(
    args.flag('json')
      ? JSON.stringify(r)
      : `OK ${key} (index ${r.index}, term ${r.term}${r.prev === null ? ', new key' : ''})`,
  );
  return 0;
}

/** `kontiki delete KEY`: exit 1 if there was no such key. */
export async function deleteCommand(args: Parsed, io: Output): Promise<number> {
  const [key] = args.positionals as [string];
  const r = await withClient(args, (c) => c.delete(key));
  if (args.flag('json')) io.out(JSON.stringify(r));
  else if (r.deleted) io.out(`deleted ${key} (index ${r.index}, term ${r.term})`);
  else io.err(`${key}: not found (nothing deleted)`);
  return r.deleted ? 0 : 1;
}

/**
 * `kontiki cas KEY NEW --expect OLD` or `--expect-absent`: sets NEW only if the key holds
 * OLD (or does not exist); exit 1 when the comparison fails.
 */
export async function casCommand(args: Parsed, io: Output): Promise<number> {
  const [key, value] = args.positionals as [string, string];
  const expected = args.string('expect');
  const absent = args.flag('expect-absent');
  if ((expected === undefined) === !absent) {
    throw new UsageError('give exactly one of --expect OLD and --expect-absent');
  }
  const r = await withClient(args, (c) => c.cas(key, absent ? null : (expected as string), value));
  if (args.flag('json')) io.out(JSON.stringify(r));
  else if (r.succeeded) io.out(`swapped ${key} (index ${r.index}, term ${r.term})`);
  else {
    io.err(
      `not swapped: ${key} ${r.prev === null ? 'does not exist' : `holds ${JSON.stringify(r.prev)}`}`,
    );
  }
  return r.succeeded ? 0 : 1;
}
