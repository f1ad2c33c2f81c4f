import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSecretFile, SecretFileError, secretFilePath } from '@kontiki/kv-server';
import { CommandError, type Parsed } from './args.js';
import type { ControlAddress } from './cluster-control.js';

/** Where `kontiki cluster start` keeps its nodes' data and the cluster file, by default. */
export const DEFAULT_DATA_DIR = '.kontiki-data';

/**
 * What `kontiki cluster start` writes to `<data-dir>/cluster.json` while the cluster runs,
 * so that the other commands find the nodes without `--endpoints`.
 */
export interface ClusterFile {
  /** The `kontiki cluster start` process. */
  readonly pid: number;
  readonly startedAt: string;
  readonly transport: string;
  readonly storage: string;
  /** Raft groups per node (`--groups`); absent: 1. */
  readonly groups?: number;
  readonly nodes: ReadonlyArray<{
    readonly id: string;
    readonly http: string;
    readonly raft: string;
    readonly pid: number | undefined;
    /** Added to the group after it was formed (started with --join). */
    readonly joined?: boolean;
  }>;
  /** Where `kontiki cluster add-node` and `remove-node` ask the running cluster. */
  readonly control?: ControlAddress;
}

/**
 * The nodes of a cluster kept in `<data-dir>/nodes.json` across runs (SQLite storage): a
 * later `kontiki cluster start` on the same directory starts these, the ones added later
 * with --join, whatever `--nodes` says.
 */
export interface NodesFile {
  readonly nodes: ReadonlyArray<{ readonly id: string; readonly joined: boolean }>;
  /** The `--groups` the data was written with (absent: 1); a later start keeps it. */
  readonly groups?: number;
}

export function clusterFilePath(dataDir: string): string {
  return join(dataDir, 'cluster.json');
}

export function writeClusterFile(dataDir: string, file: ClusterFile): void {
  const path = clusterFilePath(dataDir);
  writeWhole(path, file);
}

/** Written whole then renamed: a reader never sees half a file. Owner-only: it holds a token. */
function writeWhole(path: string, content: unknown): void {
  writeFileSync(`${path}.tmp`, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export function nodesFilePath(dataDir: string): string {
  return join(dataDir, 'nodes.json');
}

export function writeNodesFile(dataDir: string, file: NodesFile): void {
  writeWhole(nodesFilePath(dataDir), file);
}

/** The nodes of an earlier run, or undefined (none, or a file that does not parse). */
export function readNodesFile(dataDir: string): NodesFile | undefined {
  const path = nodesFilePath(dataDir);
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { nodes?: unknown; groups?: unknown };
    if (!Array.isArray(parsed.nodes)) return undefined;
    const nodes = parsed.nodes.flatMap((n: unknown) => {
      const v = n as { id?: unknown; joined?: unknown } | null;
      return typeof v?.id === 'string' ? [{ id: v.id, joined: v.joined === true }] : [];
    });
    if (nodes.length === 0) return undefined;
    const groups = parsed.groups;
    return typeof groups === 'number' && Number.isInteger(groups) && groups > 1
      ? { nodes, groups }
      : { nodes };
  } catch {
    return undefined;
  }
}

export function removeClusterFile(dataDir: string): void {
  rmSync(clusterFilePath(dataDir), { force: true });
}

export function readClusterFile(dataDir: string): ClusterFile | undefined {
  const path = clusterFilePath(dataDir);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ClusterFile;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/**
 * The cluster's secret, for the admin endpoints: `--token-file`, else `KONTIKI_TOKEN`, else
 * the `cluster.secret` that `kontiki cluster start` keeps in `--data-dir`. Undefined when
 * there is none (the server then answers 401, which says what is missing).
 */
export function resolveToken(parsed: Parsed): string | undefined {
  try {
    const file = parsed.string('token-file');
    if (file !== undefined) return readSecretFile(file);
    const env = process.env.KONTIKI_TOKEN;
    if (env !== undefined && env !== '') return env;
    const fromDir = secretFilePath(parsed.string('data-dir') ?? DEFAULT_DATA_DIR);
    return existsSync(fromDir) ? readSecretFile(fromDir) : undefined;
  } catch (error) {
    if (error instanceof SecretFileError) throw new CommandError(error.message);
    throw error;
  }
}

function split(list: string): string[] {
  return list
    .split(',')
    .map((s) =>
      s
        .trim()
        .replace(/^https?:\/\//, '')
        .replace(/\/+$/, ''),
    )
    .filter((s) => s !== '');
}

/**
 * The HTTP endpoints to talk to: `--endpoints`, else `KONTIKI_ENDPOINTS`, else the cluster
 * file of a running `kontiki cluster start` in `--data-dir` (default `.kontiki-data`).
 */
export function resolveEndpoints(parsed: Parsed): string[] {
  const flag = parsed.string('endpoints');
  if (flag !== undefined) {
    const list = split(flag);
    if (list.length > 0) return list;
  }
  const env = process.env.KONTIKI_ENDPOINTS;
  if (env !== undefined && split(env).length > 0) return split(env);
  const dataDir = parsed.string('data-dir') ?? DEFAULT_DATA_DIR;
  const file = readClusterFile(dataDir);
  if (file === undefined) {
    throw new CommandError(
      `no endpoints: pass --endpoints HOST:PORT,... (or set KONTIKI_ENDPOINTS), or start a cluster with \`kontiki cluster start\` (no ${clusterFilePath(dataDir)} found)`,
    );
  }
  return file.nodes.map((n) => n.http);
}
