import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdClient } from '../src/etcd/etcd-client.js';

/** A port the system says is free now (closed again before it is used: a small race). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** `etcd --version`'s first line, or undefined when there is no etcd binary. */
export function etcdVersion(): string | undefined {
  try {
    return execFileSync('etcd', ['--version'], { encoding: 'utf8' }).split('\n')[0]?.trim();
  } catch {
    return undefined;
  }
}

interface Member {
  readonly name: string;
  readonly client: string;
  readonly peer: string;
  child: ChildProcess;
  stderr: string;
}

/**
 * A real etcd cluster of three members on 127.0.0.1 (Debian's etcd-server), for side-by-side
 * benchmarks: each member its own data directory in a temporary folder, loopback only,
 * heartbeat 100 ms and election timeout 1000 ms (Kontiki's default election timeout).
 */
export class EtcdCluster {
  private constructor(
    private readonly dir: string,
    private readonly members: Member[],
  ) {}

  static async start(size = 3): Promise<EtcdCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'kontiki-bench-etcd-'));
    const specs: Array<{ name: string; client: string; peer: string }> = [];
    for (let i = 1; i <= size; i++) {
      specs.push({
        name: `e${i}`,
        client: `127.0.0.1:${await freePort()}`,
        peer: `127.0.0.1:${await freePort()}`,
      });
    }
    const initial = specs.map((s) => `${s.name}=http://${s.peer}`).join(',');
    const members = specs.map((s): Member => {
      const child = spawn(
        'etcd',
        [
          '--name',
          s.name,
          '--data-dir',
          join(dir, s.name),
          '--listen-client-urls',
          `http://${s.client}`,
          '--advertise-client-urls',
          `http://${s.client}`,
          '--listen-peer-urls',
          `http://${s.peer}`,
          '--initial-advertise-peer-urls',
          `http://${s.peer}`,
          '--initial-cluster',
          initial,
          '--initial-cluster-state',
          'new',
          '--initial-cluster-token',
          'kontiki-bench',
          '--heartbeat-interval',
          '100',
          '--election-timeout',
          '1000',
          '--logger',
          'zap',
          '--log-level',
          'error',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      const m: Member = { ...s, child, stderr: '' };
      child.stderr?.on('data', (d: Buffer) => {
        m.stderr = (m.stderr + d.toString()).slice(-4000);
      });
      return m;
    });
    const cluster = new EtcdCluster(dir, members);
    try {
      await cluster.leaderEndpoint(30_000);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Client "host:port" of every member. */
  endpoints(): string[] {
    return this.members.map((m) => m.client);
  }

  pids(): number[] {
    return this.members.map((m) => m.child.pid ?? -1).filter((p) => p > 0);
  }

  /** The leader's client endpoint, by asking each member's Status (bounded wait). */
  async leaderEndpoint(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      for (const m of this.members) {
        if (m.child.exitCode !== null) {
          throw new Error(`etcd ${m.name} exited (${m.child.exitCode}): ${m.stderr}`);
        }
        const c = new EtcdClient(m.client, { callTimeoutMs: 1000 });
        try {
          const s = await c.status();
          if (s.leader !== 0n && s.leader === s.header?.memberId) return m.client;
          last = `${m.name}: leader ${s.leader}`;
        } catch (error) {
          last = `${m.name}: ${error instanceof Error ? error.message : String(error)}`;
        } finally {
          c.close();
        }
      }
      await sleep(100);
    }
    throw new Error(`no etcd leader within ${timeoutMs} ms (${last})`);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        if (m.child.exitCode !== null || m.child.signalCode !== null) return;
        const exited = new Promise((resolve) => m.child.once('exit', resolve));
        m.child.kill('SIGTERM');
        const timer = setTimeout(() => m.child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
