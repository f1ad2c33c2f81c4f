import { type KvClient, KvError } from '../../src/kv-client.js';

/** A put whose outcome was unknown is sent again: a put of the same value is idempotent. */
export async function putSurely(client: KvClient, key: string, value: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.put(key, value);
      return;
    } catch (error) {
      if (!(error instanceof KvError) || attempt >= 20) throw error;
    }
  }
}

/** Runs `work(i)` for i in [0, count) with `concurrency` of them in flight. */
export async function inParallel(
  count: number,
  concurrency: number,
  work: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await work(next++);
    }),
  );
}
