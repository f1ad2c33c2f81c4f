import type { ServerConfig } from '../../src/config.js';
import { KvServer } from '../../src/kv-server.js';

/** The secret of every in-process test cluster (their Raft transports and admin endpoints). */
export const TEST_TOKEN = 'in-process-test-cluster-secret';

export interface InProcessServers {
  readonly servers: readonly KvServer[];
  /** HTTP "host:port" of each server, in order n1, n2, ... */
  readonly endpoints: readonly string[];
  /** etcd API "host:port" of each server (with `etcdListen` in the overrides). */
  readonly etcdEndpoints: readonly string[];
  stop(): Promise<void>;
}

/**
 * `count` kv-servers in this process (memory storage, real transport and HTTP on
 * 127.0.0.1, ports chosen by the system): each learns the members the way a launched
 * process does, through `peers: 'stdin'`, here a promise resolved once all listen.
 */
export async function startInProcessServers(
  count: number,
  overrides: Partial<ServerConfig> = {},
  firstId = 'n1',
): Promise<InProcessServers> {
  const listening = new Map<string, { raft: string; http: string; etcd?: string }>();
  let release: (line: string) => void = () => {};
  const peersLine = new Promise<string>((resolve) => {
    release = resolve;
  });
  const first = Number(firstId.slice(1));
  const ids = Array.from({ length: count }, (_, i) => `n${first + i}`);
  const started = ids.map((id) =>
    KvServer.start(
      {
        id,
        raftListen: '127.0.0.1:0',
        httpListen: '127.0.0.1:0',
        peers: 'stdin',
        join: false,
        transport: 'grpc',
        storage: 'memory',
        dataDir: undefined,
        sqliteSync: 'full',
        sqliteThread: 'main',
        electionTimeoutMs: 200,
        snapshotIntervalS: 0,
        snapshotLogMargin: 1000,
        token: TEST_TOKEN,
        groupId: 'kv',
        maxValueBytes: 1024,
        maxKeyBytes: 64,
        writeTimeoutMs: 5000,
        enableBench: false,
        exitOnStdinClose: false,
        ...overrides,
      },
      {
        announce: (event) => {
          if (event.event !== 'listening') return;
          listening.set(
            event.id,
            event.etcd === undefined
              ? { raft: event.raft, http: event.http }
              : { raft: event.raft, http: event.http, etcd: event.etcd },
          );
          if (listening.size === count) {
            release(JSON.stringify({ peers: Object.fromEntries(listening) }));
          }
        },
        readPeersLine: () => peersLine,
      },
    ),
  );
  // One that fails before listening must not leave the others waiting for the members.
  for (const s of started) s.catch(() => release('{}'));
  const results = await Promise.allSettled(started);
  const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async () => void (await Promise.all(servers.map((s) => s.stop())));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  return {
    servers,
    endpoints: servers.map((s) => s.httpAddress),
    etcdEndpoints: servers.flatMap((s) => (s.etcdAddress === undefined ? [] : [s.etcdAddress])),
    stop,
  };
}
