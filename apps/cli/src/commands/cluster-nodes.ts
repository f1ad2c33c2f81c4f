import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { requestJson, TransportFailure } from '@kontiki/kv-server';
import { CommandError, type Parsed } from '../args.js';
import type { AddNodeResult, RemoveNodeResult } from '../cluster-control.js';
import { clusterFilePath, DEFAULT_DATA_DIR, isAlive, readClusterFile } from '../cluster-file.js';
import type { Output } from '../output.js';

/**
 * Sends a request to the control endpoint of the `kontiki cluster start` running in DIR.
 * `membership`: the request adds or removes a node, which a sharded cluster refuses (stopping
 * it is fine).
 */
async function control(
  dataDir: string,
  path: string,
  body: unknown,
  timeoutMs: number,
  membership: boolean,
): Promise<unknown> {
  const file = readClusterFile(dataDir);
  if (file === undefined || !isAlive(file.pid)) {
    throw new CommandError(
      `no running \`kontiki cluster start\` in ${dataDir} (no live ${clusterFilePath(dataDir)}); start one, or pass --data-dir`,
    );
  }
  if (membership && (file.groups ?? 1) > 1) {
    throw new CommandError(
      `the cluster in ${dataDir} shards keys over ${file.groups} Raft groups: adding and removing nodes is not supported with --groups > 1`,
    );
  }
  if (file.control === undefined) {
    throw new CommandError(`the cluster in ${dataDir} was started by a kontiki without add-node`);
  }
  let res: Awaited<ReturnType<typeof requestJson>>;
  try {
    res = await requestJson('POST', `http://${file.control.http}${path}`, {
      body,
      timeoutMs,
      headers: { authorization: `Bearer ${file.control.token}` },
    });
  } catch (error) {
    if (error instanceof TransportFailure) throw new CommandError(error.message);
    throw error;
  }
  if (res.status !== 200) {
    const message = (res.body as { error?: { message?: string } } | undefined)?.error?.message;
    throw new CommandError(message ?? `HTTP ${res.status}`);
  }
  return res.body;
}

function votersLine(conf: { voters: readonly string[]; learners?: readonly string[] }): string {
  const learners = conf.learners ?? [];
  return `voters ${conf.voters.join(', ')}${learners.length > 0 ? `; learners ${learners.join(', ')}` : ''}`;
}

/**
 * `kontiki cluster add-node [--id ID] [--learner]`: the running `kontiki cluster start`
 * starts a new kv-server with --join (no initial configuration), then asks the leader to
 * add it with its addresses; it catches up (log or snapshot) before it counts as a voter.
 */
export async function clusterAddNodeCommand(args: Parsed, io: Output): Promise<number> {
  const dataDir = resolve(args.string('data-dir') ?? DEFAULT_DATA_DIR);
  const timeoutMs = args.integer('timeout-ms', 60_000, 1, 600_000);
  const id = args.string('id');
  const r = (await control(
    dataDir,
    '/add-node',
    { ...(id === undefined ? {} : { id }), learner: args.flag('learner') },
    timeoutMs,
    true,
  )) as AddNodeResult;
  if (args.flag('json')) io.out(JSON.stringify(r));
  else {
    io.out(
      `added ${r.member.id} as a ${r.learner ? 'learner' : 'voter'} (pid ${r.member.pid}, http ${r.member.http}, raft ${r.member.raft}); ${votersLine(r.configuration)}`,
    );
  }
  return 0;
}

/**
 * `kontiki cluster remove-node ID`: the leader removes ID from the membership (a leader
 * that removes itself steps down once that is committed), then the node is stopped and its
 * data directory renamed to ID.removed-TIME.
 */
export async function clusterRemoveNodeCommand(args: Parsed, io: Output): Promise<number> {
  const [id] = args.positionals as [string];
  const dataDir = resolve(args.string('data-dir') ?? DEFAULT_DATA_DIR);
  const timeoutMs = args.integer('timeout-ms', 60_000, 1, 600_000);
  const r = (await control(dataDir, '/remove-node', { id }, timeoutMs, true)) as RemoveNodeResult;
  if (args.flag('json')) io.out(JSON.stringify(r));
  else {
    io.out(
      `${r.wasMember ? 'removed' : 'stopped (it was not a member)'} ${r.id}; ${votersLine(r.configuration)}`,
    );
  }
  return 0;
}

/**
 * `kontiki cluster stop`: asks the `kontiki cluster start` running in DIR to stop its nodes
 * (as Ctrl-C would), and waits until that process has exited.
 */
export async function clusterStopCommand(args: Parsed, io: Output): Promise<number> {
  const dataDir = resolve(args.string('data-dir') ?? DEFAULT_DATA_DIR);
  const timeoutMs = args.integer('timeout-ms', 60_000, 1, 600_000);
  const file = readClusterFile(dataDir);
  const { pid } = (await control(dataDir, '/stop', {}, timeoutMs, false)) as { pid: number };
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      throw new CommandError(`kontiki pid ${pid} is still running after ${timeoutMs} ms`);
    }
    await sleep(50);
  }
  const nodes = file?.nodes.map((n) => n.id).join(', ') ?? '';
  if (args.flag('json')) io.out(JSON.stringify({ stopped: true, pid, nodes: file?.nodes ?? [] }));
  else io.out(`stopped the cluster in ${dataDir} (kontiki pid ${pid}): ${nodes}`);
  return 0;
}
