/**
 * Kontiki's demo application: a replicated key-value server over HTTP and etcd's v3 gRPC API,
 * built only from the public packages, and what drives it from outside (a launcher for local
 * clusters of kv-server processes, an HTTP client, an etcd API client, cluster observers).
 * The process entry is `main.js`.
 *
 * @example
 * ```ts
 * import { KvClient, LocalCluster, waitForLeader } from '@kontiki/kv-server';
 *
 * const cluster = await LocalCluster.start({ serverScript, dataDir: '/tmp/kv' });
 * const leader = await waitForLeader(cluster.httpEndpoints(), { timeoutMs: 10_000 });
 * const client = new KvClient(cluster.httpEndpoints());
 * await client.put('greeting', 'hello');
 * await cluster.stop();
 * ```
 *
 * @packageDocumentation
 */
export type * from './api-types.js';
export { type ApplyLoopOptions, type ApplyLoopResult, runApplyLoops } from './apply-loops.js';
export {
  fetchStatus,
  type LeaderInfo,
  type WaitForBalanceOptions,
  waitForBalance,
  waitForConvergence,
  waitForLeader,
} from './cluster-observer.js';
export {
  ensureClusterSecret,
  readSecretFile,
  SECRET_FILE_NAME,
  SecretFileError,
  secretFilePath,
} from './cluster-secret.js';
export {
  decodeCommand,
  encodeCommand,
  type KvCommand,
  type KvResult,
  paddedPutCommand,
} from './commands.js';
export {
  ConfigError,
  isAddress,
  type PeerAddress,
  parseConfig,
  type ServerConfig,
  type StorageKind,
  type TransportKind,
} from './config.js';
export { ETCD_API_VERSION, EtcdApi } from './etcd/etcd-api.js';
export {
  bytes as etcdBytes,
  EtcdCallError,
  EtcdClient,
  type EtcdClientOptions,
  prefixEnd,
  text as etcdText,
} from './etcd/etcd-client.js';
export { OUTCOME_TRAILER } from './etcd/etcd-errors.js';
export { clusterId, hexId, memberId } from './etcd/ids.js';
export {
  groupIds,
  groupIndexOf,
  type KvGroup,
  KvGroups,
  LAG_THRESHOLD,
  MAX_GROUPS,
  SUMMARY_TTL_MS,
} from './groups.js';
export { requestJson, TransportFailure } from './http-json.js';
export {
  KvClient,
  type KvClientOptions,
  KvError,
  type MembershipRequest,
} from './kv-client.js';
export type { KeyedEntry, KvEntry } from './kv-entry.js';
export { GROUPS_FILE, KvServer, type ServerEvent } from './kv-server.js';
export {
  type KvChangeListener,
  type KvDigest,
  type KvEvent,
  KvStateMachine,
} from './kv-state-machine.js';
export {
  type ClusterMember,
  LocalCluster,
  type LocalClusterOptions,
  type ReadyEvent,
} from './local-cluster.js';
export { runServerProcess } from './server-process-main.js';
export {
  readSnapshot,
  SNAPSHOT_VERSION,
  type SnapshotContent,
  SnapshotFormatError,
  writeSnapshot,
} from './snapshot-codec.js';
