import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fetchStatus, LocalCluster, waitForLeader } from '@kontiki/kv-server';
import { CommandError, parse, positionals } from '../args.js';
import {
  clusterFilePath,
  DEFAULT_DATA_DIR,
  isAlive,
  readClusterFile,
  removeClusterFile,
  writeClusterFile,
} from '../cluster-file.js';
import type { Output } from '../output.js';
import { SERVER_SCRIPT } from '../server-script.js';
import { untilSignal } from '../signals.js';
import { statusRows, table } from './status.js';

/**
 * `kontiki cluster start`: runs a local cluster of kv-server processes in the foreground,
 * prints where they listen and each change of leader, and stops them all on Ctrl-C.
 */
export async function clusterStartCommand(argv: readonly string[], io: Output): Promise<number> {
  const args = parse(argv, {
    nodes: { type: 'string', short: 'n' },
    transport: { type: 'string' },
    storage: { type: 'string' },
    'data-dir': { type: 'string' },
    'base-port': { type: 'string' },
    'election-timeout-ms': { type: 'string' },
  });
  positionals(args, []);
  const nodes = args.integer('nodes', 3, 1, 9);
  const transport = args.choice('transport', 'grpc', ['grpc', 'ws'] as const);
  const storage = args.choice('storage', 'sqlite', ['sqlite', 'memory'] as const);
  const dataDir = resolve(args.string('data-dir') ?? DEFAULT_DATA_DIR);
  const basePort =
    args.string('base-port') === undefined ? undefined : args.integer('base-port', 0, 1, 65_000);
  const electionTimeoutMs = args.integer('election-timeout-ms', 1000, 20, 600_000);

  const running = readClusterFile(dataDir);
  if (running !== undefined && isAlive(running.pid)) {
    throw new CommandError(
      `a cluster already runs from ${dataDir} (kontiki pid ${running.pid}); stop it first, or use another --data-dir`,
    );
  }
  mkdirSync(dataDir, { recursive: true });

  io.out(
    `starting ${nodes} kv-server processes: ${transport} transport, ${storage} storage${storage === 'sqlite' ? ` in ${dataDir}` : ''}`,
  );
  const signal = untilSignal();
  const cluster = await LocalCluster.start({
    serverScript: SERVER_SCRIPT,
    nodes,
    transport,
    storage,
    dataDir,
    electionTimeoutMs,
    ...(basePort === undefined ? {} : { basePort }),
    stderr: 'inherit',
    onEvent: (e) => {
      if (e.event === 'role' && e.role === 'leader')
        io.out(`${e.id} became leader (term ${e.term})`);
    },
    onUnexpectedExit: (id, code, sig) => {
      io.err(`${id} exited (${sig ?? `code ${code}`}); it stays down until the cluster restarts`);
    },
  });
  try {
    const endpoints = cluster.httpEndpoints();
    writeClusterFile(dataDir, {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      transport,
      storage,
      nodes: cluster.members().map((m) => ({ id: m.id, http: m.http, raft: m.raft, pid: m.pid })),
    });
    for (const m of cluster.members()) {
      io.out(`  ${m.id}  pid ${m.pid}  http ${m.http}  raft ${m.raft}`);
    }
    const leader = await Promise.race([
      waitForLeader(endpoints, { timeoutMs: 10 * electionTimeoutMs + 10_000 }),
      signal,
    ]);
    if (typeof leader !== 'string') {
      const statuses = await Promise.all(endpoints.map((e) => fetchStatus(e, 2000)));
      for (const line of table(statusRows(endpoints, statuses))) io.out(line);
      io.out('');
      io.out(`live page:  http://${leader.http}/`);
      io.out(`cluster file: ${clusterFilePath(dataDir)} (other kontiki commands read it)`);
      const where = args.string('data-dir') === undefined ? '' : ` --data-dir ${dataDir}`;
      io.out(`try:        kontiki put greeting hello${where} && kontiki get greeting${where}`);
      io.out('Ctrl-C stops the cluster.');
      await signal;
    }
    io.out('stopping...');
    return 0;
  } finally {
    await cluster.stop();
    removeClusterFile(dataDir);
    io.out('all nodes stopped');
  }
}
