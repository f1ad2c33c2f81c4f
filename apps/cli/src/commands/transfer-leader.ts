import { KvClient, KvError, waitForLeader } from '@kontiki/kv-server';
import { CommandError, type Parsed } from '../args.js';
import { resolveEndpoints, resolveToken } from '../cluster-file.js';
import type { Output } from '../output.js';

/**
 * `kontiki transfer-leader [PEER]`: asks the leader to hand leadership to PEER (or to the
 * most up-to-date follower) and reports the new leader once a majority agrees on it.
 */
export async function transferLeaderCommand(args: Parsed, io: Output): Promise<number> {
  const [peer] = args.positionals;
  const endpoints = resolveEndpoints(args);
  const token = resolveToken(args);
  const client = new KvClient(endpoints, token === undefined ? {} : { token });
  try {
    const before = await waitForLeader(endpoints, { timeoutMs: 10_000 });
    const r = await client.transferLeader(peer);
    const after = await waitForLeader(endpoints, { timeoutMs: 10_000, afterTerm: before.term });
    if (args.flag('json')) io.out(JSON.stringify({ ...r, leaderId: after.id, term: after.term }));
    else io.out(`leadership moved from ${r.from} to ${after.id} (term ${after.term})`);
    return 0;
  } catch (error) {
    if (error instanceof KvError) throw new CommandError(`${error.code}: ${error.message}`);
    throw error;
  } finally {
    client.close();
  }
}
