import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  KvClient,
  KvError,
  LocalCluster,
  waitForConvergence,
  waitForLeader,
} from '@kontiki/kv-server';
import { CommandError, type Parsed } from '../args.js';
import type { Output } from '../output.js';
import { SERVER_SCRIPT } from '../server-script.js';
import { untilSignal } from '../signals.js';

/** The whole demo must end within this, or it stops the cluster and fails. */
const DEADLINE_MS = 55_000;
const IN_FLIGHT = 64;

/** Prints the story, each line stamped with the seconds since the demo began. */
class Narrator {
  private readonly t0 = performance.now();
  constructor(private readonly io: Output) {}

  say(line: string): void {
    const s = ((performance.now() - this.t0) / 1000).toFixed(1).padStart(5);
    this.io.out(`[${s}s] ${line}`);
  }

  plain(line: string): void {
    this.io.out(line);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** Puts keys [from, to) with `IN_FLIGHT` writes at a time; a put whose outcome is unknown is sent again (idempotent). */
async function writeKeys(client: KvClient, from: number, to: number): Promise<number> {
  let next = from;
  let retried = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < to) {
        const i = next++;
        for (let attempt = 1; ; attempt++) {
          try {
            await client.put(`demo/key-${i}`, `value-${i}`);
            break;
          } catch (error) {
            if (!(error instanceof KvError) || attempt >= 10) throw error;
            retried++;
          }
        }
      }
    }),
  );
  return retried;
}

/**
 * `kontiki demo`: starts three kv-server processes (gRPC and SQLite by default) and tells
 * what Raft does: an election, a batch of writes, a SIGKILL of the leader and the
 * re-election, more writes, the killed node's restart and catch-up, and a check that every
 * node holds the same data. Exits 0 when every check passed.
 */
export async function demoCommand(args: Parsed, io: Output): Promise<number> {
  const transport = args.choice('transport', 'grpc', ['grpc', 'ws'] as const);
  const storage = args.choice('storage', 'sqlite', ['sqlite', 'memory'] as const);
  const writes = args.integer('writes', 1000, 1, 100_000);
  const electionTimeoutMs = args.integer('election-timeout-ms', 1000, 50, 10_000);
  const given = args.string('data-dir');
  const dataDir =
    given === undefined ? mkdtempSync(join(tmpdir(), 'kontiki-demo-')) : resolve(given);

  const story = new Narrator(io);
  story.plain(
    `Kontiki demo: a Raft cluster of 3 kv-server processes on 127.0.0.1 (${transport === 'grpc' ? 'gRPC' : 'WebSocket'} transport, ${storage === 'sqlite' ? 'SQLite' : 'in-memory'} storage, election timeout ${electionTimeoutMs} ms)`,
  );
  story.plain(`data: ${dataDir}${given === undefined ? ' (temporary)' : ''}`);
  story.plain('');

  let cluster: LocalCluster | undefined;
  let client: KvClient | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  const overdue = new Promise<never>((_, reject) => {
    watchdog = setTimeout(
      () => reject(new CommandError(`the demo did not finish within ${DEADLINE_MS / 1000} s`)),
      DEADLINE_MS,
    );
  });
  overdue.catch(() => {});
  // Ctrl-C stops the nodes and removes the temporary data before exiting.
  const interrupted = untilSignal().then((signal) => {
    throw new CommandError(`interrupted (${signal})`);
  });
  interrupted.catch(() => {});
  try {
    await Promise.race([
      overdue,
      interrupted,
      (async () => {
        const startedAt = performance.now();
        const c = await LocalCluster.start({
          serverScript: SERVER_SCRIPT,
          transport,
          storage,
          dataDir,
          electionTimeoutMs,
        });
        cluster = c;
        const endpoints = c.httpEndpoints();
        for (const m of c.members()) {
          story.say(`started ${m.id} (pid ${m.pid}): HTTP ${m.http}, Raft ${m.raft}`);
        }
        const kv = new KvClient(endpoints);
        client = kv;

        // 1. Election.
        const first = await waitForLeader(endpoints, { timeoutMs: 20 * electionTimeoutMs });
        story.say(
          `election: ${first.id} is the leader of term ${first.term}, agreed by a majority, ${seconds(performance.now() - startedAt)} after launch`,
        );
        story.say(`live cluster page while the demo runs: http://${first.http}/`);

        // 2. A batch of writes.
        let t = performance.now();
        let retried = await writeKeys(kv, 0, writes);
        let ms = performance.now() - t;
        story.say(
          `wrote ${writes} keys through the leader, ${IN_FLIGHT} in flight: ${seconds(ms)}, ${Math.round((writes / ms) * 1000)} writes/s (each one committed on a majority and applied)${retried > 0 ? `; ${retried} retried after a leader change` : ''}`,
        );
        const settled = await waitForConvergence(endpoints, 20_000);
        story.say(`every node has applied index ${settled[0]?.appliedIndex}`);

        // 3. Kill the leader.
        const victim = await waitForLeader(endpoints, { timeoutMs: 20 * electionTimeoutMs });
        const victimPid = c.member(victim.id).pid;
        const killedAt = performance.now();
        await c.kill(victim.id, 'SIGKILL');
        story.say(`SIGKILL ${victim.id}, the leader (pid ${victimPid})`);

        // 4. Re-election.
        const next = await waitForLeader(endpoints, {
          timeoutMs: 20 * electionTimeoutMs,
          afterTerm: victim.term,
        });
        story.say(
          `re-election: ${next.id} leads term ${next.term}, ${seconds(performance.now() - killedAt)} after the kill (followers wait one election timeout, randomized in [${electionTimeoutMs}, ${2 * electionTimeoutMs}) ms, before they stand)`,
        );

        // 5. More writes, with one node down.
        const more = Math.max(1, Math.floor(writes / 2));
        t = performance.now();
        retried = await writeKeys(kv, writes, writes + more);
        ms = performance.now() - t;
        story.say(
          `wrote ${more} more keys with ${victim.id} down: ${seconds(ms)}, ${Math.round((more / ms) * 1000)} writes/s${retried > 0 ? `; ${retried} retried` : ''}`,
        );

        // 6. Restart the killed node; it catches up from the leader.
        t = performance.now();
        const ready = await c.restart(victim.id);
        const restartedPid = c.member(victim.id).pid;
        story.say(
          `restarted ${victim.id} (pid ${restartedPid}): ${ready.lastLogIndex === 0 ? 'an empty log (memory storage forgets everything)' : `${ready.lastLogIndex} entries in its log (read back from its SQLite file)`}`,
        );
        const caughtUp = await waitForConvergence(endpoints, 20_000);
        const applied = caughtUp[0]?.appliedIndex;
        story.say(
          `${victim.id} caught up in ${seconds(performance.now() - t)}: it received the ${(applied ?? 0) - ready.lastLogIndex} entries it lacked; applied index ${applied} on every node`,
        );

        // 7. Read everything back from every node.
        const total = writes + more;
        t = performance.now();
        const mismatches: string[] = [];
        for (const endpoint of endpoints) {
          let nextKey = 0;
          await Promise.all(
            Array.from({ length: IN_FLIGHT }, async () => {
              while (nextKey < total) {
                const i = nextKey++;
                const got = await kv.get(`demo/key-${i}`, { endpoint });
                if (got?.value !== `value-${i}`) {
                  mismatches.push(
                    `${c.idOf(endpoint)}: demo/key-${i} = ${got?.value ?? '(missing)'}`,
                  );
                }
              }
            }),
          );
        }
        if (mismatches.length > 0) {
          throw new CommandError(
            `${mismatches.length} reads did not match, e.g. ${mismatches.slice(0, 5).join('; ')}`,
          );
        }
        story.say(
          `read all ${total} keys from each of the 3 nodes (linearizable reads, ${3 * total} in ${seconds(performance.now() - t)}): every value matches`,
        );
        const digest = caughtUp[0]?.sha256 ?? '';
        story.say(
          `state digest identical on every node: sha256 ${digest.slice(0, 16)}..., ${caughtUp[0]?.keys} keys`,
        );
      })(),
    ]);
  } finally {
    clearTimeout(watchdog);
    client?.close();
    if (cluster !== undefined) {
      await cluster.stop();
      story.say('stopped every node');
    }
    if (given === undefined) rmSync(dataDir, { recursive: true, force: true });
  }
  story.plain('');
  story.plain('Demo complete: election, replication, failover and catch-up all checked.');
  return 0;
}
