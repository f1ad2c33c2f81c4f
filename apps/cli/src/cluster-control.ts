import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type ClusterMember,
  type ConfigurationBody,
  fetchStatus,
  KvClient,
  KvError,
  type LocalCluster,
  type MembershipBody,
  waitForLeader,
} from '@kontiki/kv-server';
import { CommandError } from './args.js';

/** What `add-node` answers. */
export interface AddNodeResult {
  readonly member: ClusterMember;
  readonly learner: boolean;
  readonly configuration: ConfigurationBody;
}

/** What `remove-node` answers. */
export interface RemoveNodeResult {
  readonly id: string;
  /** False when the node was not a member (a node whose addition failed): it was only stopped. */
  readonly wasMember: boolean;
  readonly configuration: ConfigurationBody;
}

/** How `kontiki cluster add-node|remove-node` reach the running `kontiki cluster start`. */
export interface ControlAddress {
  /** "127.0.0.1:port" of the control endpoint. */
  readonly http: string;
  /** Bearer token (cluster.json is readable by its owner only). */
  readonly token: string;
}

const BODY_LIMIT = 4096;

/**
 * Membership changes of a local cluster, run by the `kontiki cluster start` process that
 * owns the nodes (so that a node it adds is stopped with the others on Ctrl-C, and its
 * WebSocket token is the cluster's). One change at a time.
 */
export class ClusterMembership {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly cluster: LocalCluster,
    private readonly hooks: {
      /** After a change, with what happened ("n4 joined as a voter"). */
      readonly onChange: (what: string) => void;
      /** After a node was removed and stopped. */
      readonly onRemoved?: (id: string) => void;
    },
  ) {}

  /** Starts a node with --join, then asks the leader to add it (as a voter, or a learner). */
  addNode(id: string | undefined, learner: boolean): Promise<AddNodeResult> {
    return this.serialized(async () => {
      const conf = await this.configuration();
      const member = await this.cluster.addNode(id);
      let r: MembershipBody;
      try {
        r = await this.setMembers({
          voters: learner ? [...conf.voters] : [...conf.voters, member.id],
          learners: learner ? [...(conf.learners ?? []), member.id] : [...(conf.learners ?? [])],
          peers: {
            [member.id]:
              member.etcd === undefined
                ? { raft: member.raft, http: member.http }
                : { raft: member.raft, http: member.http, etcd: member.etcd },
          },
        });
      } catch (error) {
        // Not a member (core gives up before the joint configuration): nothing to keep.
        await this.cluster.removeNode(member.id);
        this.hooks.onRemoved?.(member.id);
        throw error;
      }
      this.hooks.onChange(`${member.id} joined as a ${learner ? 'learner' : 'voter'}`);
      return { member: this.cluster.member(member.id), learner, configuration: r.configuration };
    });
  }

  /** Asks the leader to remove the node from the membership, then stops it. */
  removeNode(id: string): Promise<RemoveNodeResult> {
    return this.serialized(async () => {
      if (!this.cluster.members().some((m) => m.id === id)) {
        throw new CommandError(`there is no node ${id} in this cluster`);
      }
      const conf = await this.configuration();
      const wasMember = conf.voters.includes(id) || (conf.learners ?? []).includes(id);
      let configuration = conf;
      if (wasMember) {
        const voters = conf.voters.filter((v) => v !== id);
        if (voters.length === 0) throw new CommandError(`${id} is the last voter`);
        const r = await this.setMembers({
          voters,
          learners: (conf.learners ?? []).filter((l) => l !== id),
        });
        configuration = r.configuration;
      }
      await this.cluster.removeNode(id);
      this.hooks.onRemoved?.(id);
      this.hooks.onChange(`${id} ${wasMember ? 'removed from the group and ' : ''}stopped`);
      return { id, wasMember, configuration };
    });
  }

  private serialized<T>(run: () => Promise<T>): Promise<T> {
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => {});
    return next;
  }

  /** The leader's configuration (the latest); refuses while a change is in progress. */
  private async configuration(): Promise<ConfigurationBody> {
    const endpoints = this.runningEndpoints();
    const leader = await waitForLeader(endpoints, { timeoutMs: 10_000 });
    const status = await fetchStatus(leader.http, 2000);
    if (status === undefined) throw new CommandError(`the leader ${leader.id} did not answer`);
    if (status.configuration.oldVoters !== undefined) {
      throw new CommandError('a membership change is in progress; retry once it is done');
    }
    return status.configuration;
  }

  private async setMembers(
    request: Parameters<KvClient['setMembers']>[0],
  ): Promise<MembershipBody> {
    const client = new KvClient(this.runningEndpoints(), {
      retryForMs: 20_000,
      token: this.cluster.token,
    });
    try {
      return await client.setMembers(request);
    } catch (error) {
      if (error instanceof KvError) throw new CommandError(`${error.code}: ${error.message}`);
      throw error;
    } finally {
      client.close();
    }
  }

  private runningEndpoints(): string[] {
    return this.cluster
      .members()
      .filter((m) => m.running)
      .map((m) => m.http);
  }
}

function sameToken(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > BODY_LIMIT) req.destroy(new Error('body too large'));
    });
    req.on('end', () => {
      try {
        const v: unknown = text === '' ? {} : JSON.parse(text);
        if (typeof v !== 'object' || v === null || Array.isArray(v))
          throw new Error('not an object');
        resolve(v as Record<string, unknown>);
      } catch (error) {
        reject(error);
      }
    });
    req.on('error', reject);
  });
}

/**
 * The control endpoint of `kontiki cluster start`, on 127.0.0.1 only, behind a random
 * token written to cluster.json: `POST /add-node {id?, learner?}`,
 * `POST /remove-node {id}` and `POST /stop` (`kontiki cluster stop`: `onStop` runs once the
 * answer is sent).
 */
export async function startControlServer(
  membership: ClusterMembership,
  onStop: () => void,
): Promise<{ address: ControlAddress; close(): Promise<void> }> {
  const token = randomBytes(16).toString('hex');
  const server: Server = createServer((req, res) => {
    void (async () => {
      try {
        const auth = req.headers.authorization ?? '';
        if (!sameToken(`Bearer ${token}`, auth)) {
          req.resume();
          return send(res, 401, { error: { message: 'bad or missing token' } });
        }
        const body = await readJson(req);
        if (req.method === 'POST' && req.url === '/add-node') {
          const id = body.id;
          if (id !== undefined && (typeof id !== 'string' || !/^[\w.-]{1,64}$/.test(id))) {
            return send(res, 400, { error: { message: 'id: letters, digits, "_", "." or "-"' } });
          }
          return send(res, 200, await membership.addNode(id, body.learner === true));
        }
        if (req.method === 'POST' && req.url === '/stop') {
          send(res, 200, { stopping: true, pid: process.pid });
          onStop();
          return;
        }
        if (req.method === 'POST' && req.url === '/remove-node') {
          if (typeof body.id !== 'string') {
            return send(res, 400, { error: { message: 'id is required' } });
          }
          return send(res, 200, await membership.removeNode(body.id));
        }
        return send(res, 404, { error: { message: `no such route: ${req.method} ${req.url}` } });
      } catch (error) {
        if (!res.headersSent) {
          send(res, 500, {
            error: { message: error instanceof Error ? error.message : String(error) },
          });
        }
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    address: { http: `127.0.0.1:${port}`, token },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
