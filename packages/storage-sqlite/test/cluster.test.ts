import { join } from 'node:path';
import { type CommittedEntry, RaftNode, silentLogger } from '@kontiki/core';
import { MemoryNetwork } from '@kontiki/transport-memory';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/index.js';
import { tempDir } from './support/temp-dir.js';
import { waitFor } from './support/wait-for.js';

const GROUP = 'kv';
const VOTERS = ['n1', 'n2', 'n3'];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One node and what its state machine applied since it (re)started. */
interface Member {
  readonly id: string;
  readonly store: SqliteStore;
  readonly node: RaftNode<number>;
  readonly applied: Map<number, string>;
}

class Cluster {
  readonly network = new MemoryNetwork();
  readonly members = new Map<string, Member>();
  constructor(readonly dir: string) {}

  async start(id: string): Promise<Member> {
    // Everything the node knows comes back from its SQLite file.
    const store = await SqliteStore.open(join(this.dir, `${id}.sqlite`));
    const applied = new Map<number, string>();
    const node = new RaftNode<number>({
      groupId: GROUP,
      peerId: id,
      initialConfiguration: { voters: VOTERS },
      transport: this.network.endpoint(id),
      logStorage: store.logStorage(GROUP),
      metaStorage: store.metaStorage(GROUP),
      stateMachine: {
        onApply: (entries: readonly CommittedEntry[]) =>
          entries.map((e) => {
            applied.set(e.index, decoder.decode(e.data));
            return e.index;
          }),
      },
      electionTimeoutMs: 200,
      snapshotIntervalMs: 0,
      logger: silentLogger,
    });
    await node.start();
    const member = { id, store, node, applied };
    this.members.set(id, member);
    return member;
  }

  async stop(id: string): Promise<void> {
    const m = this.members.get(id);
    if (m === undefined) return;
    this.members.delete(id);
    await m.node.shutdown();
    await m.store.close();
  }

  async restart(id: string): Promise<void> {
    await this.stop(id);
    await this.start(id);
  }

  leader(): Member | undefined {
    for (const m of this.members.values()) if (m.node.role === 'leader') return m;
    return undefined;
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.members.keys()]) await this.stop(id);
  }
}

/** Proposes unique writes to whoever leads, and remembers each acknowledged one. */
class Writer {
  readonly acked = new Map<string, number>();
  private running = true;
  private next = 0;
  readonly done: Promise<void>;

  constructor(private readonly cluster: Cluster) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    // Bounded in count; stop() ends it sooner.
    for (let attempt = 0; attempt < 100_000 && this.running; attempt++) {
      const leader = this.cluster.leader();
      if (leader === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      const value = `write-${this.next++}`;
      try {
        const result = await leader.node.apply(encoder.encode(value));
        this.acked.set(value, result.index);
      } catch {
        // Not acknowledged (leader changed or shut down): its fate is unknown, so it is
        // not checked; the loop carries on with the next leader.
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

describe('a three-node cluster on SQLite', () => {
  const tmp = tempDir('cluster');
  const cluster = new Cluster(tmp.dir);
  afterAll(async () => {
    await cluster.stopAll();
    tmp.remove();
  });

  it('keeps every acknowledged write through a rolling restart under load and a full restart', async () => {
    for (const id of VOTERS) await cluster.start(id);
    await waitFor('a leader', () => cluster.leader() !== undefined);
    const writer = new Writer(cluster);

    // Rolling restart, the leader included, while writes keep coming.
    for (const id of VOTERS) {
      const before = writer.acked.size;
      await waitFor(`writes before restarting ${id}`, () => writer.acked.size >= before + 20);
      await cluster.restart(id);
      await waitFor(`writes after restarting ${id}`, () => writer.acked.size >= before + 40);
    }
    await writer.stop();
    expect(writer.acked.size).toBeGreaterThan(120);

    // Every node down at once, then up again from its file alone.
    await cluster.stopAll();
    for (const id of VOTERS) await cluster.start(id);
    await waitFor('a leader after the full restart', () => cluster.leader() !== undefined);

    // The cluster carries on...
    const leader = cluster.leader();
    if (leader === undefined) throw new Error('no leader');
    const after = await leader.node.apply(encoder.encode('after-restart'));
    const lastAcked = Math.max(after.index, ...writer.acked.values());

    // ...and every node, rebuilt from its own log, applies every acknowledged write at the
    // index it was acknowledged with.
    await waitFor('every node to apply everything', () =>
      [...cluster.members.values()].every((m) => m.node.appliedIndex >= lastAcked),
    );
    for (const m of cluster.members.values()) {
      for (const [value, index] of writer.acked) {
        expect(m.applied.get(index), `${m.id} at ${index}`).toBe(value);
      }
      expect(m.applied.get(after.index)).toBe('after-restart');
    }
  }, 60_000);
});
