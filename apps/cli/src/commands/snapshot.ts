import { fetchStatus, KvClient, KvError, type SnapshotBody } from '@kontiki/kv-server';
import { CommandError, type Parsed } from '../args.js';
import { resolveEndpoints, resolveToken } from '../cluster-file.js';
import type { Output } from '../output.js';

/**
 * `kontiki snapshot [--node ID]`: each node (or only ID) takes a snapshot of its state now
 * and compacts its log behind it. Exit 1 if a node could not.
 */
export async function snapshotCommand(args: Parsed, io: Output): Promise<number> {
  const endpoints = resolveEndpoints(args);
  const node = args.string('node');
  const statuses = await Promise.all(endpoints.map((e) => fetchStatus(e, 2000)));
  const targets = endpoints.flatMap((e, i) => {
    const s = statuses[i];
    return s !== undefined && (node === undefined || s.id === node) ? [{ id: s.id, http: e }] : [];
  });
  if (targets.length === 0) {
    throw new CommandError(
      node === undefined
        ? `no node answered at ${endpoints.join(', ')}`
        : `no node ${node} answered at ${endpoints.join(', ')}`,
    );
  }
  const timeout = args.integer('timeout-ms', 60_000, 1, 600_000);
  const token = resolveToken(args);
  const client = new KvClient(endpoints, {
    requestTimeoutMs: timeout,
    retryForMs: timeout,
    ...(token === undefined ? {} : { token }),
  });
  const results: SnapshotBody[] = [];
  let failed = 0;
  try {
    for (const t of targets) {
      try {
        const r = await client.snapshot(t.http);
        results.push(r);
        if (args.flag('json')) continue;
        io.out(
          r.meta === null
            ? `${r.id}: nothing applied since the snapshot at index ${r.snapshotIndex}`
            : `${r.id}: snapshot at index ${r.meta.lastIncludedIndex} (term ${r.meta.lastIncludedTerm}); the log now holds ${r.firstLogIndex}..${r.lastLogIndex}`,
        );
      } catch (error) {
        failed++;
        const why = error instanceof KvError ? `${error.code}: ${error.message}` : String(error);
        io.err(`${t.id}: ${why}`);
      }
    }
  } finally {
    client.close();
  }
  if (args.flag('json')) io.out(JSON.stringify(results));
  return failed === 0 ? 0 : 1;
}
