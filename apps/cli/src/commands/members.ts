import {
  type ConfigurationBody,
  fetchStatus,
  isAddress,
  KvClient,
  KvError,
  type MembershipRequest,
  type StatusBody,
  waitForLeader,
} from '@kontiki/kv-server';
import { CommandError, type Parsed, UsageError } from '../args.js';
import { resolveEndpoints, resolveToken } from '../cluster-file.js';
import type { Output } from '../output.js';
import { table } from './status.js';

function ids(name: string, value: string | undefined): string[] {
  if (value === undefined) return [];
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (new Set(list).size !== list.length) throw new UsageError(`--${name}: a peer is listed twice`);
  return list;
}

/** "n4=HOST:PORT,n5=HOST:PORT" */
function addresses(name: string, value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of ids(name, value)) {
    const eq = item.indexOf('=');
    const address = item.slice(eq + 1);
    if (eq <= 0 || !isAddress(address))
      throw new UsageError(`--${name}: expected ID=HOST:PORT, got "${item}"`);
    out.set(item.slice(0, eq), address);
  }
  return out;
}

function role(conf: ConfigurationBody, id: string): string {
  const now = conf.voters.includes(id);
  const old = conf.oldVoters?.includes(id) ?? false;
  if (now && (conf.oldVoters === undefined || old)) return 'voter';
  if (now) return 'voter (joining)';
  if (old) return 'voter (leaving)';
  return 'learner';
}

/** `kontiki members`: the group's configuration as its leader knows it, with addresses. */
export async function membersCommand(args: Parsed, io: Output): Promise<number> {
  const endpoints = resolveEndpoints(args);
  const timeout = args.integer('timeout-ms', 10_000, 1, 600_000);
  let status: StatusBody | undefined;
  try {
    const leader = await waitForLeader(endpoints, { timeoutMs: timeout });
    status = await fetchStatus(leader.http, 2000);
  } catch {
    // No leader: say what a node that answers knows, and that it may be out of date.
    const any = await Promise.all(endpoints.map((e) => fetchStatus(e, 2000)));
    status = any.find((s) => s !== undefined);
    if (status !== undefined)
      io.err(`no leader found: as ${status.id} knows it (maybe out of date)`);
  }
  if (status === undefined) throw new CommandError(`no node answered at ${endpoints.join(', ')}`);
  const conf = status.configuration;
  if (args.flag('json')) {
    io.out(
      JSON.stringify({
        leaderId: status.leaderId,
        term: status.term,
        configuration: conf,
        peers: status.peers,
      }),
    );
    return 0;
  }
  const members = [
    ...new Set([...conf.voters, ...(conf.oldVoters ?? []), ...(conf.learners ?? [])]),
  ];
  const rows = [['ID', 'MEMBER', 'RAFT', 'HTTP']];
  for (const id of members) {
    const p = status.peers.find((x) => x.id === id);
    rows.push([
      `${id}${id === status.leaderId ? ' *' : ''}`,
      role(conf, id),
      p?.raft ?? '?',
      p?.http ?? '?',
    ]);
  }
  for (const line of table(rows)) io.out(line);
  io.out(
    `leader ${status.leaderId ?? '-'} (term ${status.term})${conf.oldVoters ? '; a membership change is in progress (joint configuration)' : ''}`,
  );
  return 0;
}

/**
 * `kontiki members set --voters a,b,c [--learners d] [--peers ID=HOST:PORT,...]
 * [--peer-http ID=HOST:PORT,...]`: the leader changes the membership (joint consensus);
 * members the group does not know need their Raft address (and HTTP address, for redirects).
 */
export async function membersSetCommand(args: Parsed, io: Output): Promise<number> {
  const voters = ids('voters', args.string('voters'));
  if (voters.length === 0) throw new UsageError('--voters ID,... is required');
  const learners = ids('learners', args.string('learners'));
  const raft = addresses('peers', args.string('peers'));
  const http = addresses('peer-http', args.string('peer-http'));
  for (const id of http.keys()) {
    if (!raft.has(id)) throw new UsageError(`--peer-http: ${id} has no --peers address`);
  }
  const peers: Record<string, { raft: string; http?: string }> = {};
  for (const [id, r] of raft) {
    const h = http.get(id);
    peers[id] = h === undefined ? { raft: r } : { raft: r, http: h };
  }
  const timeout = args.integer('timeout-ms', 60_000, 1, 600_000);
  const request: MembershipRequest = {
    voters,
    ...(learners.length > 0 ? { learners } : {}),
    ...(raft.size > 0 ? { peers } : {}),
    timeoutMs: timeout,
  };
  const token = resolveToken(args);
  const client = new KvClient(resolveEndpoints(args), {
    retryForMs: timeout,
    ...(token === undefined ? {} : { token }),
  });
  try {
    const r = await client.setMembers(request);
    if (args.flag('json')) io.out(JSON.stringify(r));
    else {
      const learnersNow = r.configuration.learners ?? [];
      io.out(
        `membership changed by ${r.leaderId} (term ${r.term}): voters ${r.configuration.voters.join(', ')}${learnersNow.length > 0 ? `; learners ${learnersNow.join(', ')}` : ''}`,
      );
    }
    return 0;
  } catch (error) {
    if (error instanceof KvError) {
      const outcome =
        error.outcome === 'not-applied'
          ? ' (membership unchanged)'
          : error.outcome === 'unknown'
            ? ' (the change may still complete)'
            : '';
      throw new CommandError(`${error.code}: ${error.message}${outcome}`);
    }
    throw error;
  } finally {
    client.close();
  }
}
