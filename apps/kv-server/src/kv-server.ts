import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Configuration, RaftHost, type RaftNode, type Transport } from '@kontiki/core';
import {
  MemoryLogStorage,
  MemoryMetaStorage,
  MemorySnapshotStorage,
} from '@kontiki/storage-memory';
import { DEFAULT_FILE_NAME, SqliteStore } from '@kontiki/storage-sqlite';
import { grpcTransport } from '@kontiki/transport-grpc';
import { wsTransport } from '@kontiki/transport-ws';
import type { KvResult } from './commands.js';
import { ConfigError, type PeerAddress, parsePeersLine, type ServerConfig } from './config.js';
import { EtcdApi } from './etcd/etcd-api.js';
import { createGroupNode, type GroupStorage, GroupsSummaryCache, KvGroups } from './groups.js';
import { KvHttpApi } from './http-api.js';
import { createHttpServer, HttpGuard, isLoopbackAddress } from './http-guard.js';
import type { KvStateMachine } from './kv-state-machine.js';
import { ServerMetrics } from './server-metrics.js';

/** A line a server reports about itself (the process prints them as JSON on stdout). */
export type ServerEvent =
  | {
      readonly event: 'listening';
      readonly id: string;
      readonly raft: string;
      readonly http: string;
      /** Where the etcd v3 API listens, when it is served. */
      readonly etcd?: string;
    }
  | {
      readonly event: 'ready';
      readonly id: string;
      readonly term: number;
      readonly lastLogIndex: number;
    }
  | { readonly event: 'role'; readonly id: string; readonly role: string; readonly term: number }
  | {
      readonly event: 'leader';
      readonly id: string;
      readonly leaderId: string | null;
      readonly term: number;
    }
  /** This node saved a snapshot, or installed one its leader sent. */
  | {
      readonly event: 'snapshot';
      readonly id: string;
      readonly kind: 'saved' | 'installed';
      readonly index: number;
      readonly term: number;
    }
  | { readonly event: 'stopped'; readonly id: string };

export interface StartOptions {
  /** Called with each event (the process prints them). */
  readonly announce?: (event: ServerEvent) => void;
  /** With `peers: 'stdin'`: resolves with the line that lists the members. */
  readonly readPeersLine?: () => Promise<string>;
}

interface Storage {
  /** The storage of one group (every group of the process shares one SQLite file). */
  forGroup(groupId: string): GroupStorage;
  close(): Promise<void>;
}

/**
 * The file in a data directory that records how many groups its data is sharded over
 * (written only with `--groups` > 1): another count would send keys to other groups.
 */
export const GROUPS_FILE = 'kv-groups.json';

/** Refuses a group count other than the one the data directory was written with. */
function checkGroupsFile(dir: string, groups: KvGroups): void {
  const path = join(dir, GROUPS_FILE);
  const want = { groups: groups.count, group: groups.baseId };
  if (existsSync(path)) {
    let had: { groups?: unknown; group?: unknown };
    try {
      had = JSON.parse(readFileSync(path, 'utf8')) as { groups?: unknown; group?: unknown };
    } catch {
      throw new ConfigError(`${path} is not valid JSON: remove it only if the data is empty`);
    }
    if (had.groups !== want.groups || had.group !== want.group) {
      throw new ConfigError(
        `--groups ${want.groups} --group ${want.group}: ${dir} holds data sharded as --groups ${String(had.groups)} --group ${String(had.group)}; give those (the key to group mapping depends on them)`,
      );
    }
    return;
  }
  // A directory used without sharding holds the single group's data: it cannot be sharded.
  if (groups.sharded) {
    if (existsSync(join(dir, DEFAULT_FILE_NAME))) {
      throw new ConfigError(
        `--groups ${want.groups}: ${dir} holds data written without --groups; start it without --groups, or use a new data directory`,
      );
    }
    writeFileSync(path, `${JSON.stringify(want)}\n`);
  }
}

async function openStorage(config: ServerConfig, groups: KvGroups): Promise<Storage> {
  if (config.storage === 'memory') {
    return {
      forGroup: () => ({
        log: new MemoryLogStorage(),
        meta: new MemoryMetaStorage(),
        snapshots: new MemorySnapshotStorage(),
      }),
      close: async () => {},
    };
  }
  const dir = config.dataDir;
  if (dir === undefined) throw new Error('--data-dir is required with --storage sqlite');
  mkdirSync(dir, { recursive: true });
  checkGroupsFile(dir, groups);
  const store = await SqliteStore.open(dir, {
    synchronous: config.sqliteSync,
    thread: config.sqliteThread,
  });
  return {
    forGroup: (groupId) => ({
      log: store.logStorage(groupId),
      meta: store.metaStorage(groupId),
      snapshots: store.snapshotStorage(groupId),
    }),
    close: () => store.close(),
  };
}

async function openTransport(
  config: ServerConfig,
  addressOf: (id: string) => PeerAddress | undefined,
): Promise<Transport & { readonly address: string | undefined }> {
  // Resolvers look the peer up when a call is made, not when the transport is created:
  // with `peers: 'stdin'` the members are known only after the endpoint listens, and a
  // node that joins later becomes known through the log (KvStateMachine.peers).
  // The cluster's secret authenticates peers on either transport (refused before any
  // message is read); without one the transports warn, and refuse a non-loopback address.
  const auth = { token: config.token, allowInsecure: config.allowInsecure === true };
  if (config.transport === 'ws') {
    return wsTransport({
      listen: config.raftListen,
      ...auth,
      peers: (id) => {
        const raft = addressOf(id)?.raft;
        return raft === undefined ? undefined : `ws://${raft}/kontiki`;
      },
    });
  }
  return grpcTransport({
    listen: config.raftListen,
    ...auth,
    peers: (id) => addressOf(id)?.raft,
  });
}

/**
 * The HTTP API beyond loopback without a secret: the data API is open to anyone on the
 * network (the admin endpoints are off without a secret).
 */
function warnIfHttpExposed(address: string, token: string | undefined): void {
  if (token !== undefined || isLoopbackAddress(address)) return;
  process.emitWarning(
    `INSECURE: the HTTP API at ${address} is open beyond this machine without a cluster secret: anyone on the network can read and write every key. Give --token-file, or listen on 127.0.0.1`,
    { code: 'KONTIKI_UNAUTHENTICATED_HTTP' },
  );
}

/** A "host:port" whose port is 0 (a listen address, not one to give to others). */
function anyPort(address: string): boolean {
  return address.endsWith(':0');
}

function listen(server: Server, address: string): Promise<string> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon);
  const port = Number(address.slice(colon + 1));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      const info = server.address() as AddressInfo;
      resolve(`${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`);
    });
  });
}

/**
 * A kv-server node: a RaftNode (the key-value state machine, SQLite or memory storage,
 * gRPC or WebSocket transport) behind an HTTP API. `start` opens storage, listens on both
 * addresses, learns the members (from the configuration or stdin) and starts the node.
 */
export class KvServer {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly config: ServerConfig,
    readonly raftAddress: string,
    readonly httpAddress: string,
    /** "host:port" of the etcd v3 API, when served. */
    readonly etcdAddress: string | undefined,
    private readonly etcd: EtcdApi | undefined,
    private readonly storage: Storage,
    private readonly transport: Transport,
    private readonly http: Server,
    private readonly peers: Map<string, PeerAddress>,
    private readonly groups: KvGroups,
    private readonly announce: (event: ServerEvent) => void,
  ) {}

  private host: RaftHost | undefined;

  static async start(config: ServerConfig, options: StartOptions = {}): Promise<KvServer> {
    const announce = options.announce ?? (() => {});
    const peers = new Map<string, PeerAddress>(config.peers === 'stdin' ? [] : config.peers);
    const groups = new KvGroups(config.groupId, config.groups ?? 1);
    // The address book recorded through the log: the primary group's (membership changes
    // are made there; with several groups they are refused).
    const stateMachine = groups.primary.stateMachine;
    let voters: readonly string[] | undefined;
    const cleanups: Array<() => Promise<void>> = [];
    try {
      const storage = await openStorage(config, groups);
      cleanups.push(() => storage.close());
      const transport = await openTransport(config, (id) => addressOf(stateMachine, peers, id));
      cleanups.push(() => transport.close());

      // The server, once built: the RaftHost's counts are read from it when scraped.
      let built: KvServer | undefined;
      const summary = new GroupsSummaryCache(groups);
      const metrics = new ServerMetrics({
        id: config.id,
        status: () => groups.primary.node?.status(),
        keys: () => {
          let keys = 0;
          for (const g of groups.all) keys += g.stateMachine.size;
          return keys;
        },
        ...(groups.count > 1
          ? { groups: () => summary.get(), host: () => built?.raftHost?.stats() }
          : {}),
      });
      const guard = new HttpGuard({
        token: config.token,
        ...(config.allowedHosts ? { allowedHosts: config.allowedHosts } : {}),
        corsOrigin: config.corsOrigin,
      });
      const api = new KvHttpApi({
        config,
        groups,
        metrics,
        guard,
        startedAt: Date.now(),
        peers: () => knownPeers(stateMachine, peers),
      });
      const { server: http } = createHttpServer(config.httpTimeouts, (req, res) => {
        void api.handle(req, res);
      });
      const httpAddress = await listen(http, config.httpListen);
      cleanups.push(() => closeHttp(http));
      guard.listening(httpAddress);
      warnIfHttpExposed(httpAddress, config.token);
      let etcd: EtcdApi | undefined;
      if (config.etcdListen !== undefined) {
        const api = await EtcdApi.listen(
          {
            config,
            groups,
            metrics,
            peers: () => knownPeers(stateMachine, peers),
          },
          config.etcdListen,
        );
        etcd = api;
        cleanups.push(() => api.close());
      }
      const raftAddress = transport.address ?? config.raftListen;
      const server = new KvServer(
        config,
        raftAddress,
        httpAddress,
        etcd?.address,
        etcd,
        storage,
        transport,
        http,
        peers,
        groups,
        announce,
      );
      built = server;
      announce({
        event: 'listening',
        id: config.id,
        raft: raftAddress,
        http: httpAddress,
        ...(etcd === undefined ? {} : { etcd: etcd.address }),
      });

      if (config.peers === 'stdin') {
        if (options.readPeersLine === undefined) throw new Error('no way to read the peers');
        const line = parsePeersLine(config.id, await options.readPeersLine());
        for (const [id, a] of line.peers) peers.set(id, a);
        voters = line.voters;
      }
      // Listening on port 0: what others must call is the port the system picked.
      const self = peers.get(config.id);
      if (
        self !== undefined &&
        (anyPort(self.raft) ||
          anyPort(self.http ?? '') ||
          anyPort(self.etcd ?? '') ||
          (self.etcd === undefined && etcd !== undefined))
      ) {
        const etcdAddress =
          self.etcd === undefined || anyPort(self.etcd) ? etcd?.address : self.etcd;
        peers.set(config.id, {
          raft: anyPort(self.raft) ? raftAddress : self.raft,
          http: self.http === undefined || anyPort(self.http) ? httpAddress : self.http,
          ...(etcdAddress === undefined ? {} : { etcd: etcdAddress }),
        });
      }
      await server.startNode(metrics, voters);
      return server;
    } catch (error) {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
      throw error;
    }
  }

  private async startNode(
    metrics: ServerMetrics,
    voters: readonly string[] | undefined,
  ): Promise<void> {
    const { config, groups } = this;
    // Used only while the log holds no configuration (a new group). A joining node has
    // none: it waits for the group's leader, which sends it the log or a snapshot.
    const initial: Configuration | undefined = config.join
      ? undefined
      : { voters: [...(voters ?? this.peers.keys())] };
    // Many groups share one host: one timer scheduler, one beat per peer, quiescence of idle
    // groups, leaders spread by preference. One group runs as it always did.
    if (groups.all.length > 1) {
      this.host = new RaftHost({
        transport: this.transport,
        peerId: config.id,
        electionTimeoutMs: config.electionTimeoutMs,
      });
    }
    const host = this.host;
    const nodes = groups.all.map((group) =>
      createGroupNode({
        host,
        group,
        peerId: config.id,
        initialConfiguration: initial,
        transport: this.transport,
        storage: this.storage.forGroup(group.id),
        electionTimeoutMs: config.electionTimeoutMs,
        snapshotIntervalMs: config.snapshotIntervalS * 1000,
        snapshotLogMargin: config.snapshotLogMargin,
        metrics: group === groups.primary ? metrics : undefined,
      }),
    );
    const primary = nodes[0] as RaftNode<KvResult>;
    const id = config.id;
    const snapshotEvent =
      (kind: 'saved' | 'installed') =>
      ({ meta }: { meta: { lastIncludedIndex: number; lastIncludedTerm: number } }) => {
        this.announce({
          event: 'snapshot',
          id,
          kind,
          index: meta.lastIncludedIndex,
          term: meta.lastIncludedTerm,
        });
      };
    // Events of the primary group only: thousands of groups would flood stdout.
    primary.on('snapshotSaved', snapshotEvent('saved'));
    primary.on('snapshotInstalled', snapshotEvent('installed'));
    primary.on('roleChange', ({ role, term }) => this.announce({ event: 'role', id, role, term }));
    primary.on('leaderChange', ({ leaderId, term }) => {
      this.announce({ event: 'leader', id, leaderId: leaderId ?? null, term });
    });
    try {
      await Promise.all(nodes.map((n) => n.start()));
    } catch (error) {
      await Promise.all(nodes.map((n) => n.shutdown().catch(() => {})));
      throw error;
    }
    groups.all.forEach((g, i) => {
      g.node = nodes[i];
    });
    this.announce({
      event: 'ready',
      id,
      term: primary.term,
      lastLogIndex: primary.status().lastLogIndex,
    });
  }

  /** Where the members listen, by id: what this node was told, else what the log recorded. */
  knownPeers(): ReadonlyMap<string, PeerAddress> {
    return knownPeers(this.groups.primary.stateMachine, this.peers);
  }

  /** The Raft node of the (primary) group (undefined before it started). */
  get raftNode(): RaftNode<KvResult> | undefined {
    return this.groups.primary.node;
  }

  /** Every Raft group this server runs (one unless started with `groups` > 1). */
  /** The endpoint's RaftHost (only with more than one group). */
  get raftHost(): RaftHost | undefined {
    return this.host;
  }

  get raftGroups(): KvGroups {
    return this.groups;
  }

  /** Stops serving HTTP, shuts the node down, closes the transport and the storage. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await closeHttp(this.http);
      await this.etcd?.close();
      await Promise.all(this.groups.all.map((g) => g.node?.shutdown()));
      this.host?.close();
      await this.transport.close();
      await this.storage.close();
      this.announce({ event: 'stopped', id: this.config.id });
    })();
    return this.stopping;
  }
}

/**
 * A member's addresses: those this node was given at start (flags or the launcher's line)
 * win, because they describe this run (a launcher restarting a cluster gives every node
 * its current ports); the addresses recorded through the log fill in the members it was
 * not told about, i.e. nodes added later.
 */
function addressOf(
  stateMachine: KvStateMachine,
  given: ReadonlyMap<string, PeerAddress>,
  id: string,
): PeerAddress | undefined {
  return given.get(id) ?? stateMachine.peers.get(id);
}

function knownPeers(
  stateMachine: KvStateMachine,
  given: ReadonlyMap<string, PeerAddress>,
): ReadonlyMap<string, PeerAddress> {
  if (stateMachine.peers.size === 0) return given;
  const all = new Map(stateMachine.peers);
  for (const [id, a] of given) all.set(id, a);
  return all;
}

function closeHttp(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Idle keep-alive connections would hold close() open; requests in progress are cut.
    server.closeAllConnections();
  });
}
