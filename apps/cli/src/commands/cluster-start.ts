import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fetchStatus, LocalCluster, waitForLeader } from '@kontiki/kv-server';
import { CommandError, type Parsed } from '../args.js';
import { ClusterMembership, type ControlAddress, startControlServer } from '../cluster-control.js';
import {
  clusterFilePath,
  DEFAULT_DATA_DIR,
  isAlive,
  nodesFilePath,
  readClusterFile,
  readNodesFile,
  removeClusterFile,
  writeClusterFile,
  writeNodesFile,
} from '../cluster-file.js';
import type { Output } from '../output.js';
import { SERVER_SCRIPT } from '../server-script.js';
import { untilSignal } from '../signals.js';
import { statusLines } from './status.js';

/** Polls every node's status until each knows a leader for all `groups`; false on timeout. */
async function waitForAllGroupsLed(
  endpoints: readonly string[],
  groups: number,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const all = await Promise.all(endpoints.map((e) => fetchStatus(e, 2000)));
    if (all.every((s) => s?.groups?.withLeader === groups)) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

/**
 * `kontiki cluster start`: runs a local cluster of kv-server processes in the foreground,
 * prints where they listen and each change of leader, and stops them all on Ctrl-C.
 * `kontiki cluster add-node` and `remove-node` ask it (through a control endpoint named in
 * cluster.json) to start a node and add it to the group, or to remove one and stop it.
 */
export async function clusterStartCommand(args: Parsed, io: Output): Promise<number> {
  const nodes = args.integer('nodes', 3, 1, 9);
  const transport = args.choice('transport', 'grpc', ['grpc', 'ws'] as const);
  const storage = args.choice('storage', 'sqlite', ['sqlite', 'memory'] as const);
  const dataDir = resolve(args.string('data-dir') ?? DEFAULT_DATA_DIR);
  const basePort =
    args.string('base-port') === undefined ? undefined : args.integer('base-port', 0, 1, 65_000);
  const electionTimeoutMs = args.integer('election-timeout-ms', 1000, 20, 600_000);
  const snapshotIntervalS = args.integer('snapshot-interval-s', 3600, 0, 315_360_000);
  const snapshotLogMargin = args.integer('snapshot-log-margin', 1000, 0, 1_000_000_000);
  const givenGroups =
    args.string('groups') === undefined ? undefined : args.integer('groups', 1, 1, 100_000);

  const running = readClusterFile(dataDir);
  if (running !== undefined && isAlive(running.pid)) {
    throw new CommandError(
      `a cluster already runs from ${dataDir} (kontiki pid ${running.pid}); stop it first, or use another --data-dir`,
    );
  }
  mkdirSync(dataDir, { recursive: true });
  // SQLite data outlives a run: the nodes of the last run (added ones included) come back.
  const previous = storage === 'sqlite' ? readNodesFile(dataDir) : undefined;
  const members =
    previous?.nodes ??
    Array.from({ length: nodes }, (_, i) => ({ id: `n${i + 1}`, joined: false }));
  // The key to group mapping depends on the count: data written with one is kept with it.
  const groups = givenGroups ?? previous?.groups ?? 1;
  if (
    previous !== undefined &&
    givenGroups !== undefined &&
    givenGroups !== (previous.groups ?? 1)
  ) {
    throw new CommandError(
      `${dataDir} holds data sharded over ${previous.groups ?? 1} group(s): start it with --groups ${previous.groups ?? 1} (or without --groups), or use another --data-dir`,
    );
  }
  if (previous !== undefined) {
    io.out(
      `found ${nodesFilePath(dataDir)}: starting its nodes (${members.map((m) => m.id).join(', ')})`,
    );
  }

  io.out(
    `starting ${members.length} kv-server processes: ${transport} transport, ${storage} storage${storage === 'sqlite' ? ` in ${dataDir}` : ''}${groups > 1 ? `, keys sharded over ${groups} Raft groups` : ''}`,
  );
  // Ctrl-C, SIGTERM or `kontiki cluster stop` (through the control endpoint) end the run.
  let requestStop: (why: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => {
    requestStop = resolve;
  });
  const signal = Promise.race([untilSignal(), stopRequested]);
  const cluster = await LocalCluster.start({
    serverScript: SERVER_SCRIPT,
    members,
    transport,
    storage,
    dataDir,
    electionTimeoutMs,
    snapshotIntervalS,
    snapshotLogMargin,
    groups,
    ...(basePort === undefined ? {} : { basePort }),
    stderr: 'inherit',
    onEvent: (e) => {
      // With several groups a node reports the first group's changes only.
      if (e.event === 'role' && e.role === 'leader')
        io.out(`${e.id} became leader${groups > 1 ? ' of the first group' : ''} (term ${e.term})`);
    },
    onUnexpectedExit: (id, code, sig) => {
      io.err(`${id} exited (${sig ?? `code ${code}`}); it stays down until the cluster restarts`);
    },
  });
  let control: { address: ControlAddress; close(): Promise<void> } | undefined;
  try {
    const endpoints = cluster.httpEndpoints();
    const startedAt = new Date().toISOString();
    const writeFiles = (): void => {
      const all = cluster.members();
      writeClusterFile(dataDir, {
        pid: process.pid,
        startedAt,
        transport,
        storage,
        ...(groups > 1 ? { groups } : {}),
        nodes: all.map((m) => ({
          id: m.id,
          http: m.http,
          raft: m.raft,
          pid: m.pid,
          joined: m.joined,
        })),
        ...(control ? { control: control.address } : {}),
      });
      if (storage === 'sqlite') {
        writeNodesFile(dataDir, {
          nodes: all.map((m) => ({ id: m.id, joined: m.joined })),
          ...(groups > 1 ? { groups } : {}),
        });
      }
    };
    const membership = new ClusterMembership(cluster, {
      onChange: (what) => {
        writeFiles();
        const m = cluster.members().find((x) => what.startsWith(`${x.id} `));
        io.out(m ? `${what}: pid ${m.pid}  http ${m.http}  raft ${m.raft}` : what);
      },
      onRemoved: (id) => {
        // No longer a member: its data must not come back under its id (nor be lost).
        const dir = join(dataDir, id);
        if (storage === 'sqlite' && existsSync(dir))
          renameSync(dir, `${dir}.removed-${Date.now()}`);
      },
    });
    control = await startControlServer(membership, () => requestStop('cluster stop'));
    writeFiles();
    for (const m of cluster.members()) {
      io.out(
        `  ${m.id}  pid ${m.pid}  http ${m.http}  raft ${m.raft}${m.etcd ? `  etcd ${m.etcd}` : ''}`,
      );
    }
    const leader = await Promise.race([
      waitForLeader(endpoints, { timeoutMs: 10 * electionTimeoutMs + 10_000 }),
      signal,
    ]);
    let stopped = typeof leader === 'string';
    if (!stopped && groups > 1) {
      const waitMs = 10 * electionTimeoutMs + 60_000;
      const since = Date.now();
      const led = await Promise.race([waitForAllGroupsLed(endpoints, groups, waitMs), signal]);
      if (typeof led === 'string') stopped = true;
      else if (led)
        io.out(`all ${groups} groups have a leader (${Date.now() - since} ms after the first)`);
      else io.out(`not every group has a leader after ${waitMs} ms: see kontiki status`);
    }
    if (typeof leader !== 'string' && !stopped) {
      const statuses = await Promise.all(endpoints.map((e) => fetchStatus(e, 2000)));
      for (const line of statusLines(endpoints, statuses)) io.out(line);
      io.out('');
      io.out(`live page:  http://${leader.http}/`);
      io.out(`cluster file: ${clusterFilePath(dataDir)} (other kontiki commands read it)`);
      if (cluster.tokenFile !== undefined) {
        io.out(`secret:     ${cluster.tokenFile} (mode 0600; admin commands and peers need it)`);
      }
      const where = args.string('data-dir') === undefined ? '' : ` --data-dir ${dataDir}`;
      io.out(`try:        kontiki put greeting hello${where} && kontiki get greeting${where}`);
      const etcd = cluster.etcdEndpoints();
      if (etcd.length > 0)
        io.out(`etcd v3 API: etcdctl --endpoints=${etcd.join(',')} get greeting`);
      io.out(`stop:       kontiki cluster stop${where}`);
      io.out('Ctrl-C stops the cluster.');
      await signal;
    }
    io.out('stopping...');
    return 0;
  } finally {
    await control?.close();
    await cluster.stop();
    removeClusterFile(dataDir);
    io.out('all nodes stopped');
  }
}
