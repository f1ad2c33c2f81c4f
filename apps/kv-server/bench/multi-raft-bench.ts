/**
 * Multi-raft at scale (issue 8's measurement): three processes on 127.0.0.1, one gRPC endpoint
 * and one SQLite file (synchronous=full) each, G Raft groups on all three. For each G:
 * - the time from start until every group has a leader (each process knows a leader for every
 *   group, and the processes lead G groups between them);
 * - idle: each process's CPU (share of one core, from /proc) and RSS over a window once
 *   elected, and how the leaders are split over the processes;
 * - failover: the process leading most groups is SIGKILLed; the time until the two others
 *   lead every group between them.
 *
 * `pnpm run bench:multi-raft [--groups 100,1000] [--idle-seconds 10] [--timeout-seconds 90]
 * [--election-timeout-ms 1000] [--host on|off] [--settle-seconds 10] [--heap-growing-percent N]`: with `--host on` (the default)
 * each process runs its groups on one RaftHost (shared scheduler, node-level heartbeats,
 * quiescence), and the idle window starts `--settle-seconds` after every group is elected. Prints one JSON value on stdout; progress on stderr.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defaultHeapGrowingPercent } from '../src/heap-pacing.js';
import { cpuSharesOver, loadAverage, machineOf } from './proc-stat.js';

const NODE_SCRIPT = fileURLToPath(new URL('./multi-raft-node.ts', import.meta.url));

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const levels = arg('groups', '100,1000').split(',').map(Number);
const idleSeconds = Number(arg('idle-seconds', '10'));
const timeoutSeconds = Number(arg('timeout-seconds', '90'));
const electionTimeoutMs = Number(arg('election-timeout-ms', '1000'));
// `--host off`: every group with its own timers and heartbeats (no RaftHost), as before.
const host = arg('host', 'on') !== 'off';
// `--balance off`: no preferred leaders and no balancer on the host.
const balance = arg('balance', 'on') !== 'off';
// `--max-elections N`: the hosts' election cap (RaftHost maxConcurrentElections).
const maxElections = Number(arg('max-elections', '0'));
// `--heap-growing-percent N`: V8's heap pacing in the node processes, set at their start as
// the kv-server executable sets it; by default what that executable uses for the level's group
// count (0: V8's own pacing).
const heapGrowingOption = arg('heap-growing-percent', '');
const heapGrowingPercentFor = (groups: number): number =>
  heapGrowingOption === '' ? defaultHeapGrowingPercent(groups) : Number(heapGrowingOption);
// `--node-flags "--a --b"`: extra flags for the node processes (V8 memory experiments).
const nodeFlags = arg('node-flags', '')
  .split(' ')
  .filter((f) => f !== '');
// With a host: how long to wait after every group is elected before measuring idle, so that
// the groups have quiesced.
const settleSeconds = Number(arg('settle-seconds', host ? '10' : '0'));

interface Report {
  readonly id: string;
  readonly sinceStartMs: number;
  readonly leading: number;
  readonly knownLeader: number;
  readonly rssMiB: number;
  readonly heapUsedMiB?: number;
  readonly heapTotalMiB?: number;
  readonly externalMiB?: number;
  readonly transfers?: number;
  /** With a host: (group, peer) pairs quiesced, led here and followed here. */
  readonly quiescedLeading?: number;
  readonly quiescedFollowing?: number;
  /** What creating and then starting the process's G nodes took, in ms. */
  readonly constructMs?: number;
  readonly startMs?: number;
}

interface Member {
  readonly id: string;
  readonly child: ChildProcess;
  last: Report | undefined;
  exited: boolean;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `done` every 100 ms until it holds or `timeoutMs` passes; the elapsed ms, or undefined. */
async function until(done: () => boolean, timeoutMs: number): Promise<number | undefined> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (done()) return Math.round(performance.now() - start);
    await pause(100);
  }
  return undefined;
}

async function level(groups: number) {
  const ids = ['n1', 'n2', 'n3'];
  const ports = await Promise.all(ids.map(() => freePort()));
  const peers = Object.fromEntries(ids.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
  const token = randomBytes(16).toString('hex');
  const dirs = ids.map(() => mkdtempSync(join(tmpdir(), 'kontiki-multi-raft-')));
  const spawnMember = (id: string, i: number): Member => {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', NODE_SCRIPT], {
      env: {
        ...process.env,
        MULTI_RAFT_NODE: JSON.stringify({
          id,
          listen: peers[id],
          peers,
          groups,
          dir: dirs[i],
          token,
          electionTimeoutMs,
          host,
          balance,
          ...(maxElections > 0 ? { maxConcurrentElections: maxElections } : {}),
          heapGrowingPercent: heapGrowingPercentFor(groups),
        }),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const member: Member = { id, child, last: undefined, exited: false };
    child.once('exit', () => {
      member.exited = true;
    });
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        try {
          member.last = JSON.parse(line) as Report;
          if (process.env.MULTI_RAFT_LOG) appendFileSync(process.env.MULTI_RAFT_LOG, `${line}\n`);
        } catch {
          // Not a report line: ignored (kept with MULTI_RAFT_LOG, e.g. V8's --trace-gc).
          if (process.env.MULTI_RAFT_LOG)
            appendFileSync(process.env.MULTI_RAFT_LOG, `${id} ${line}\n`);
        }
      });
    }
    return member;
  };
  const members: Member[] = ids.map((id, i) => spawnMember(id, i));
  const started = performance.now();
  const live = () => members.filter((m) => !m.exited);
  const allElected = (among: readonly Member[]) =>
    among.every((m) => m.last !== undefined && m.last.knownLeader === groups) &&
    among.reduce((sum, m) => sum + (m.last?.leading ?? 0), 0) === groups;
  // The most groups with a leader seen at once (the sum over processes of those each leads):
  // where not every group elects, how far it got.
  let mostLed = 0;
  const ledNow = () => members.reduce((sum, m) => sum + (m.last?.leading ?? 0), 0);
  try {
    // How the elections progress: groups led, every 5 s (stderr), to see where start-up goes.
    let nextProgress = 5000;
    const electedMs = await until(() => {
      mostLed = Math.max(mostLed, ledNow());
      const since = performance.now() - started;
      if (since >= nextProgress) {
        process.stderr.write(`  ${Math.round(since / 1000)} s: ${ledNow()} groups led\n`);
        nextProgress += 5000;
      }
      return allElected(members);
    }, timeoutSeconds * 1000);
    const ledAtTimeout = ledNow();
    const sinceStartMs =
      electedMs === undefined ? undefined : Math.round(performance.now() - started);
    process.stderr.write(
      `${groups} groups: ${sinceStartMs === undefined ? `not all elected within ${timeoutSeconds} s (at most ${mostLed} led at once, ${ledAtTimeout} at the end)` : `all elected ${sinceStartMs} ms after spawning`}\n`,
    );
    if (settleSeconds > 0) await pause(settleSeconds * 1000);
    // Idle: nothing is proposed; CPU over the window, per process.
    const shares = await cpuSharesOver(
      members.map((m) => m.child.pid ?? 0),
      idleSeconds,
    );
    const idle = members.map((m, i) => ({
      id: m.id,
      cpuShareOfOneCore: shares[i],
      rssMiB: m.last?.rssMiB,
      heapUsedMiB: m.last?.heapUsedMiB,
      heapTotalMiB: m.last?.heapTotalMiB,
      externalMiB: m.last?.externalMiB,
      transfers: m.last?.transfers,
      leading: m.last?.leading,
      quiescedLeading: m.last?.quiescedLeading,
      quiescedFollowing: m.last?.quiescedFollowing,
      constructMs: m.last?.constructMs,
      startMs: m.last?.startMs,
    }));
    process.stderr.write(`${groups} groups idle: ${JSON.stringify(idle)}\n`);
    const leaders = idle.map((m) => m.leading ?? 0);
    const even = groups / ids.length;
    // Failover: the process that leads most groups is killed.
    let failover: Record<string, unknown> = { skipped: 'not every group had a leader' };
    if (electedMs !== undefined) {
      const victim = members.reduce((a, b) =>
        (b.last?.leading ?? 0) > (a.last?.leading ?? 0) ? b : a,
      );
      const led = victim.last?.leading ?? 0;
      victim.child.kill('SIGKILL');
      const survivors = members.filter((m) => m !== victim);
      // Reports arrive four times a second: the figure is rounded up to that.
      const reelectedMs = await until(
        () =>
          survivors.reduce((sum, m) => sum + (m.last?.leading ?? 0), 0) === groups &&
          survivors.every((m) => m.last?.knownLeader === groups),
        timeoutSeconds * 1000,
      );
      failover = { killed: victim.id, groupsItLed: led, allReelectedMs: reelectedMs ?? null };
      process.stderr.write(`${groups} groups failover: ${JSON.stringify(failover)}\n`);
      if (host && reelectedMs !== undefined) {
        // Restarted from its data: the time until it knows a leader of every group again, and
        // until the leaders are back within 10% of even (the balancer hands groups back).
        const index = members.indexOf(victim);
        const back = spawnMember(victim.id, index);
        members[index] = back;
        const restartedAt = performance.now();
        const caughtUpMs = await until(
          () => back.last?.knownLeader === groups,
          timeoutSeconds * 1000,
        );
        const balanced = () =>
          members.every((m) => Math.abs((m.last?.leading ?? 0) - even) <= 0.1 * even) &&
          members.reduce((sum, m) => sum + (m.last?.leading ?? 0), 0) === groups;
        const rebalancedMs = await until(balanced, timeoutSeconds * 1000);
        const restart = {
          knowsEveryLeaderMs: caughtUpMs ?? null,
          rebalancedWithin10PercentMs:
            rebalancedMs === undefined ? null : Math.round(performance.now() - restartedAt),
          leadersPerProcess: members.map((m) => m.last?.leading ?? 0),
        };
        failover = { ...failover, restart };
        process.stderr.write(`${groups} groups restart: ${JSON.stringify(restart)}\n`);
      }
    }
    return {
      groups,
      heapGrowingPercent: heapGrowingPercentFor(groups),
      allElectedMsAfterSpawn: sinceStartMs ?? null,
      mostGroupsLedAtOnce: Math.max(mostLed, ledAtTimeout),
      groupsLedWhenTheWaitEnded: ledAtTimeout,
      idle,
      leadersPerProcess: leaders,
      worstDeviationFromEven: Number(
        (Math.max(...leaders.map((l) => Math.abs(l - even))) / even).toFixed(3),
      ),
      failover,
    };
  } finally {
    for (const m of live()) m.child.kill('SIGKILL');
    await until(() => live().length === 0, 10_000);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

const results = [];
const loadBefore = loadAverage();
for (const g of levels) results.push(await level(g));
console.log(
  JSON.stringify(
    {
      bench: 'multi-raft: 3 processes, gRPC, SQLite synchronous=full, G groups on all three',
      command: `pnpm run bench:multi-raft ${process.argv.slice(2).join(' ')}`.trim(),
      date: new Date().toISOString(),
      electionTimeoutMs,
      host,
      balance,
      ...(maxElections > 0 ? { maxConcurrentElections: maxElections } : {}),
      settleSeconds,
      idleSeconds,
      machine: machineOf(loadBefore),
      results,
    },
    null,
    2,
  ),
);
