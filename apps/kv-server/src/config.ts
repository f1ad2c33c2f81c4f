import { parseArgs } from 'node:util';
import { readSecretFile, SecretFileError } from './cluster-secret.js';
import { MAX_GROUPS } from './groups.js';
import { defaultHeapGrowingPercent, MAX_HEAP_GROWING_PERCENT } from './heap-pacing.js';
import type { HttpTimeouts } from './http-guard.js';

export type TransportKind = 'grpc' | 'ws';
export type StorageKind = 'sqlite' | 'memory';

/** Where a member of the group listens: its Raft endpoint, and its HTTP API when known. */
export interface PeerAddress {
  readonly raft: string;
  readonly http?: string;
  /** Its etcd v3 gRPC API, when it serves one (see `etcdListen`). */
  readonly etcd?: string;
}

/** Everything a kv-server process needs, from flags and environment variables. */
export interface ServerConfig {
  /** This node's peer id (e.g. "n1"). */
  readonly id: string;
  /** "host:port" of the Raft transport; port 0 picks a free one. */
  readonly raftListen: string;
  /** "host:port" of the HTTP API; port 0 picks a free one. */
  readonly httpListen: string;
  /**
   * Every voter of the group, this node included, by id; or 'stdin': the process prints
   * where it listens and then reads the members from one JSON line on stdin (how the
   * local-cluster launcher starts nodes on ports chosen by the system).
   */
  readonly peers: ReadonlyMap<string, PeerAddress> | 'stdin';
  /**
   * Join an existing group: start with no initial configuration and wait to be contacted
   * by its leader (after `POST /admin/membership` on the leader adds this node). The peers
   * are then only addresses, not the group's voters.
   */
  readonly join: boolean;
  readonly transport: TransportKind;
  readonly storage: StorageKind;
  /** This node's own data directory (SQLite); required with `storage: 'sqlite'`. */
  readonly dataDir: string | undefined;
  /** SQLite durability: 'full' fsyncs every commit; 'normal' survives a process kill only. */
  readonly sqliteSync: 'full' | 'normal';
  /** Where SQLite runs: on a worker thread (default here) or on the event loop. */
  readonly sqliteThread: 'worker' | 'main';
  readonly electionTimeoutMs: number;
  /** Seconds between automatic snapshots; 0: only on demand (POST /admin/snapshot). */
  readonly snapshotIntervalS: number;
  /** Entries kept in the log behind a snapshot, for followers a little behind. */
  readonly snapshotLogMargin: number;
  /**
   * The cluster's shared secret (every node needs the same one): demanded of Raft peers
   * (gRPC and WebSocket) and, as `Authorization: Bearer`, of the HTTP admin endpoints.
   * From `--token-file` (preferred) or `KONTIKI_TOKEN`.
   */
  readonly token: string | undefined;
  /** Serve Raft beyond loopback without a token (the transports refuse it otherwise). */
  readonly allowInsecure?: boolean;
  /** Host names, besides this server's own addresses and localhost, that may name it (DNS rebinding). */
  readonly allowedHosts?: readonly string[];
  /** An origin whose pages may read GET answers (CORS); none by default. */
  readonly corsOrigin?: string;
  /** Bounds on slow HTTP clients (defaults in http-guard.ts). */
  readonly httpTimeouts?: Partial<HttpTimeouts>;
  /** The Raft group's id; with `groups` > 1, the prefix of every group's id (`<id>-<i>`). */
  readonly groupId: string;
  /**
   * How many Raft groups this process runs (default 1): keys are sharded over them by
   * hash (groups.ts); every node of the cluster must be given the same number.
   */
  readonly groups?: number;
  /**
   * V8's heap growing percent for the executable's process (heap-pacing.ts): 35 by default
   * with 1,000 groups or more, 0 (V8's own pacing) otherwise. Only the executable applies it.
   */
  readonly heapGrowingPercent?: number;
  /** Largest value accepted, in bytes of UTF-8. */
  readonly maxValueBytes: number;
  /** Largest key accepted, in bytes of UTF-8. */
  readonly maxKeyBytes: number;
  /** How long a write waits to be applied before answering 504 (outcome unknown). */
  readonly writeTimeoutMs: number;
  /** Serve POST /admin/bench (runs proposal loops on the leader; for benchmarks only). */
  readonly enableBench: boolean;
  /** Shut down when stdin closes: a launcher's children die with it. */
  readonly exitOnStdinClose: boolean;
  /** "host:port" of the etcd v3 gRPC API (port 0: any free one); undefined: not served. */
  readonly etcdListen?: string | undefined;
}

export const USAGE = `kontiki-kv-server: a replicated key-value server (Kontiki Raft)

Flags (environment variable in brackets):
  --id ID                     this node's id                          [KONTIKI_ID]
  --raft HOST:PORT            Raft transport address (port 0: any)    [KONTIKI_RAFT]
  --http HOST:PORT            HTTP API address (port 0: any)          [KONTIKI_HTTP]
  --peers ID=HOST:PORT,...    every voter's Raft address, self too;   [KONTIKI_PEERS]
                              "stdin": read them as one JSON line
                              {"peers":{"n1":{"raft":"h:p","http":"h:p"},...}}
  --peer-http ID=HOST:PORT,...  every voter's HTTP address (for       [KONTIKI_PEER_HTTP]
                              redirects and the status page)
  --join                      join an existing group: no initial      [KONTIKI_JOIN=1]
                              configuration, wait for its leader to add
                              this node; --peers is then optional
  --transport grpc|ws         default grpc                            [KONTIKI_TRANSPORT]
  --storage sqlite|memory     default sqlite                          [KONTIKI_STORAGE]
  --data-dir DIR              this node's data directory (sqlite)     [KONTIKI_DATA_DIR]
  --sqlite-sync full|normal   default full                            [KONTIKI_SQLITE_SYNC]
  --sqlite-thread worker|main default worker                          [KONTIKI_SQLITE_THREAD]
  --election-timeout-ms N     default 1000                            [KONTIKI_ELECTION_TIMEOUT_MS]
  --snapshot-interval-s N     default 3600; 0: only POST /admin/snapshot [KONTIKI_SNAPSHOT_INTERVAL_S]
  --snapshot-log-margin N     entries kept behind a snapshot, default 1000 [KONTIKI_SNAPSHOT_LOG_MARGIN]
  --token-file PATH           file holding the cluster's secret       [KONTIKI_TOKEN_FILE]
                              (mode 0600): demanded of Raft peers and
                              of /admin/* (Authorization: Bearer)
  --token SECRET              the secret itself (prefer the file or   [KONTIKI_TOKEN]
                              the variable: ps shows flags)
  --allow-insecure            serve Raft beyond loopback without a    [KONTIKI_ALLOW_INSECURE=1]
                              token
  --allowed-hosts NAME,...    Host header names this server answers   [KONTIKI_ALLOWED_HOSTS]
                              to besides its addresses and localhost
  --cors-origin ORIGIN        let ORIGIN's pages read GET answers     [KONTIKI_CORS_ORIGIN]
  --http-headers-timeout-ms N default 10000: time to send the headers
  --http-request-timeout-ms N default 30000: time to send a request
  --http-idle-timeout-ms N    default 5000: idle keep-alive connection
  --group ID                  Raft group id, default "kv"             [KONTIKI_GROUP]
  --groups N                  shard keys over N Raft groups           [KONTIKI_GROUPS]
                              (<group>-0 ...), default 1; the same N
                              on every node and on every restart
  --heap-growing-percent N    V8 collects fully once the heap grew N% [KONTIKI_HEAP_GROWING_PERCENT]
                              past its live size; default 35 with
                              --groups 1000 or more, else 0 (V8 decides)
  --max-value-bytes N         default 65536                           [KONTIKI_MAX_VALUE_BYTES]
  --write-timeout-ms N        default 5000                            [KONTIKI_WRITE_TIMEOUT_MS]
  --enable-bench              serve POST /admin/bench                 [KONTIKI_ENABLE_BENCH=1]
  --exit-on-stdin-close       shut down when stdin closes
  --etcd-listen HOST:PORT     also serve etcd's v3 gRPC API there     [KONTIKI_ETCD_LISTEN]
                              (port 0: any); default: not served
  --help
`;

/** A configuration problem, reported to the user with the usage text. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const ADDRESS = /^[^\s:]+:\d{1,5}$/;

/** Whether `value` is a "HOST:PORT" this server accepts. */
export function isAddress(value: string): boolean {
  return ADDRESS.test(value) && Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535;
}

function address(name: string, value: string): string {
  if (!ADDRESS.test(value)) throw new ConfigError(`${name}: expected HOST:PORT, got "${value}"`);
  const port = Number(value.slice(value.lastIndexOf(':') + 1));
  if (port > 65535) throw new ConfigError(`${name}: port ${port} is out of range`);
  return value;
}

function optionalAddress(name: string, value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : address(name, value);
}

function integer(name: string, value: string, min: number, max: number): number {
  // Number('') is 0: an empty flag or variable would pass as 0 where 0 is allowed.
  const n = value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name}: expected an integer from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

function oneOf<T extends string>(name: string, value: string, choices: readonly T[]): T {
  const found = choices.find((c) => c === value);
  if (found === undefined) {
    throw new ConfigError(`${name}: expected one of ${choices.join(', ')}, got "${value}"`);
  }
  return found;
}

/** Parses "n1=host:port,n2=host:port". */
function addressList(name: string, value: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of value.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${name}: expected ID=HOST:PORT, got "${trimmed}"`);
    const id = trimmed.slice(0, eq);
    if (out.has(id)) throw new ConfigError(`${name}: ${id} is listed twice`);
    out.set(id, address(`${name} ${id}`, trimmed.slice(eq + 1)));
  }
  return out;
}

/** Checks a members list received on stdin (or built from flags): ids, addresses, self. */
export function checkPeers(
  id: string,
  peers: ReadonlyMap<string, PeerAddress>,
): ReadonlyMap<string, PeerAddress> {
  if (!peers.has(id)) throw new ConfigError(`peers: this node (${id}) is not among the peers`);
  for (const [peer, where] of peers) {
    address(`peers ${peer}`, where.raft);
    if (where.http !== undefined) address(`peer-http ${peer}`, where.http);
    if (where.etcd !== undefined) address(`peers ${peer} etcd`, where.etcd);
  }
  return peers;
}

/** What a launcher writes to a node's stdin. */
export interface PeersLine {
  readonly peers: ReadonlyMap<string, PeerAddress>;
  /** The group's first voters, when not every peer listed is one (nodes added later). */
  readonly voters: readonly string[] | undefined;
}

/**
 * Parses the JSON line a launcher writes to a node's stdin:
 * {"peers":{id:{raft,http}},"voters"?:[id,...]}.
 */
export function parsePeersLine(id: string, line: string): PeersLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new ConfigError('peers on stdin: not JSON');
  }
  const peers = (parsed as { peers?: unknown } | null)?.peers;
  if (typeof peers !== 'object' || peers === null) {
    throw new ConfigError('peers on stdin: expected {"peers":{...}}');
  }
  const out = new Map<string, PeerAddress>();
  for (const [peer, value] of Object.entries(peers)) {
    const v = value as { raft?: unknown; http?: unknown; etcd?: unknown } | null;
    if (typeof v?.raft !== 'string') throw new ConfigError(`peers on stdin: ${peer} has no raft`);
    const a: { raft: string; http?: string; etcd?: string } = { raft: v.raft };
    if (typeof v.http === 'string') a.http = v.http;
    if (typeof v.etcd === 'string') a.etcd = v.etcd;
    out.set(peer, a);
  }
  const voters = (parsed as { voters?: unknown }).voters;
  if (voters !== undefined) {
    if (
      !Array.isArray(voters) ||
      voters.length === 0 ||
      voters.some((v) => typeof v !== 'string')
    ) {
      throw new ConfigError('peers on stdin: "voters" must be a non-empty list of peer ids');
    }
  }
  return { peers: checkPeers(id, out), voters: voters as string[] | undefined };
}

/** The secret, from the file (preferred) or given as is; never both. */
function tokenOf(value: string | undefined, file: string | undefined): string | undefined {
  if (file !== undefined && file !== '') {
    if (value !== undefined && value !== '') {
      throw new ConfigError('give the secret once: --token-file or --token (KONTIKI_TOKEN)');
    }
    try {
      return readSecretFile(file);
    } catch (error) {
      if (error instanceof SecretFileError) throw new ConfigError(`--token-file: ${error.message}`);
      throw error;
    }
  }
  if (value === '') return undefined;
  if (value !== undefined && value.length < 16) {
    throw new ConfigError('--token: a secret of at least 16 characters is required');
  }
  return value;
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined || value === '' ? {} : { [key]: value }) as { [P in K]?: string };
}

/** Reads the configuration from command-line flags, falling back on environment variables. */
export function parseConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ServerConfig | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        id: { type: 'string' },
        raft: { type: 'string' },
        http: { type: 'string' },
        peers: { type: 'string' },
        'peer-http': { type: 'string' },
        transport: { type: 'string' },
        storage: { type: 'string' },
        'data-dir': { type: 'string' },
        'sqlite-sync': { type: 'string' },
        'sqlite-thread': { type: 'string' },
        'election-timeout-ms': { type: 'string' },
        'snapshot-interval-s': { type: 'string' },
        'snapshot-log-margin': { type: 'string' },
        join: { type: 'boolean' },
        token: { type: 'string' },
        'token-file': { type: 'string' },
        'allow-insecure': { type: 'boolean' },
        'allowed-hosts': { type: 'string' },
        'cors-origin': { type: 'string' },
        'http-headers-timeout-ms': { type: 'string' },
        'http-request-timeout-ms': { type: 'string' },
        'http-idle-timeout-ms': { type: 'string' },
        group: { type: 'string' },
        groups: { type: 'string' },
        'heap-growing-percent': { type: 'string' },
        'max-value-bytes': { type: 'string' },
        'write-timeout-ms': { type: 'string' },
        'enable-bench': { type: 'boolean' },
        'exit-on-stdin-close': { type: 'boolean' },
        'etcd-listen': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) return 'help';
  const str = (flag: string, envName: string): string | undefined => {
    const v = values[flag];
    return typeof v === 'string' ? v : env[envName];
  };

  const id = str('id', 'KONTIKI_ID');
  if (id === undefined || id === '') throw new ConfigError('--id is required');
  const raftListen = address('--raft', str('raft', 'KONTIKI_RAFT') ?? '127.0.0.1:7001');
  const httpListen = address('--http', str('http', 'KONTIKI_HTTP') ?? '127.0.0.1:8001');
  const transport = oneOf('--transport', str('transport', 'KONTIKI_TRANSPORT') ?? 'grpc', [
    'grpc',
    'ws',
  ] as const);
  const storage = oneOf('--storage', str('storage', 'KONTIKI_STORAGE') ?? 'sqlite', [
    'sqlite',
    'memory',
  ] as const);
  const dataDir = str('data-dir', 'KONTIKI_DATA_DIR');
  if (storage === 'sqlite' && (dataDir === undefined || dataDir === '')) {
    throw new ConfigError('--data-dir is required with --storage sqlite');
  }
  const sqliteSync = oneOf('--sqlite-sync', str('sqlite-sync', 'KONTIKI_SQLITE_SYNC') ?? 'full', [
    'full',
    'normal',
  ] as const);

  // A server answers heartbeats during a slow fsync only if SQLite is off the event loop.
  const sqliteThread = oneOf(
    '--sqlite-thread',
    str('sqlite-thread', 'KONTIKI_SQLITE_THREAD') ?? 'worker',
    ['worker', 'main'] as const,
  );

  const join = values.join === true || env.KONTIKI_JOIN === '1';
  const peersValue = str('peers', 'KONTIKI_PEERS');
  let peers: ReadonlyMap<string, PeerAddress> | 'stdin';
  if (peersValue === undefined || peersValue === '') {
    if (!join) throw new ConfigError('--peers is required (ID=HOST:PORT,... or "stdin")');
    // A joining node learns the others' addresses from the log; it only needs its own.
    if (str('peer-http', 'KONTIKI_PEER_HTTP')) {
      throw new ConfigError('--peer-http needs --peers');
    }
    peers = new Map([[id, { raft: raftListen, http: httpListen }]]);
  } else if (peersValue === 'stdin') {
    peers = 'stdin';
  } else {
    const raft = addressList('--peers', peersValue);
    const http = addressList('--peer-http', str('peer-http', 'KONTIKI_PEER_HTTP') ?? '');
    for (const peer of http.keys()) {
      if (!raft.has(peer)) throw new ConfigError(`--peer-http: ${peer} is not in --peers`);
    }
    const merged = new Map<string, PeerAddress>();
    for (const [peer, r] of raft) {
      const h = http.get(peer);
      merged.set(peer, h === undefined ? { raft: r } : { raft: r, http: h });
    }
    peers = checkPeers(id, merged);
  }

  const groups = integer('--groups', str('groups', 'KONTIKI_GROUPS') ?? '1', 1, MAX_GROUPS);
  return {
    id,
    raftListen,
    httpListen,
    peers,
    join,
    transport,
    storage,
    dataDir,
    sqliteSync,
    sqliteThread,
    electionTimeoutMs: integer(
      '--election-timeout-ms',
      str('election-timeout-ms', 'KONTIKI_ELECTION_TIMEOUT_MS') ?? '1000',
      20,
      600_000,
    ),
    snapshotIntervalS: integer(
      '--snapshot-interval-s',
      str('snapshot-interval-s', 'KONTIKI_SNAPSHOT_INTERVAL_S') ?? '3600',
      0,
      10 * 365 * 24 * 3600,
    ),
    snapshotLogMargin: integer(
      '--snapshot-log-margin',
      str('snapshot-log-margin', 'KONTIKI_SNAPSHOT_LOG_MARGIN') ?? '1000',
      0,
      1_000_000_000,
    ),
    token: tokenOf(str('token', 'KONTIKI_TOKEN'), str('token-file', 'KONTIKI_TOKEN_FILE')),
    allowInsecure: values['allow-insecure'] === true || env.KONTIKI_ALLOW_INSECURE === '1',
    allowedHosts: (str('allowed-hosts', 'KONTIKI_ALLOWED_HOSTS') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== ''),
    ...optional('corsOrigin', str('cors-origin', 'KONTIKI_CORS_ORIGIN')),
    httpTimeouts: {
      headersMs: integer(
        '--http-headers-timeout-ms',
        str('http-headers-timeout-ms', 'KONTIKI_HTTP_HEADERS_TIMEOUT_MS') ?? '10000',
        100,
        600_000,
      ),
      requestMs: integer(
        '--http-request-timeout-ms',
        str('http-request-timeout-ms', 'KONTIKI_HTTP_REQUEST_TIMEOUT_MS') ?? '30000',
        100,
        3_600_000,
      ),
      idleMs: integer(
        '--http-idle-timeout-ms',
        str('http-idle-timeout-ms', 'KONTIKI_HTTP_IDLE_TIMEOUT_MS') ?? '5000',
        100,
        600_000,
      ),
    },
    groupId: str('group', 'KONTIKI_GROUP') ?? 'kv',
    groups,
    heapGrowingPercent: integer(
      '--heap-growing-percent',
      str('heap-growing-percent', 'KONTIKI_HEAP_GROWING_PERCENT') ??
        String(defaultHeapGrowingPercent(groups)),
      0,
      MAX_HEAP_GROWING_PERCENT,
    ),
    maxValueBytes: integer(
      '--max-value-bytes',
      str('max-value-bytes', 'KONTIKI_MAX_VALUE_BYTES') ?? '65536',
      1,
      16 * 1024 * 1024,
    ),
    maxKeyBytes: 1024,
    writeTimeoutMs: integer(
      '--write-timeout-ms',
      str('write-timeout-ms', 'KONTIKI_WRITE_TIMEOUT_MS') ?? '5000',
      1,
      600_000,
    ),
    enableBench: values['enable-bench'] === true || env.KONTIKI_ENABLE_BENCH === '1',
    exitOnStdinClose: values['exit-on-stdin-close'] === true,
    etcdListen: optionalAddress('--etcd-listen', str('etcd-listen', 'KONTIKI_ETCD_LISTEN')),
  };
}
