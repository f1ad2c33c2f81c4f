import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root (the workspace this package belongs to). */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly private?: boolean;
  readonly [field: string]: unknown;
}

export interface WorkspacePackage {
  /** Relative to the root, e.g. `packages/core`. */
  readonly dir: string;
  readonly manifest: PackageJson;
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Every package of the workspace (`packages/*`, `apps/*`), sorted by directory. */
export function workspacePackages(root = ROOT): WorkspacePackage[] {
  return ['packages', 'apps']
    .flatMap((parent) =>
      readdirSync(join(root, parent))
        .map((name) => `${parent}/${name}`)
        .filter((dir) => existsSync(join(root, dir, 'package.json'))),
    )
    .sort()
    .map((dir) => ({ dir, manifest: readJson<PackageJson>(join(root, dir, 'package.json')) }));
}

/** The packages that are published to npm: every one not marked private. */
export function publicPackages(root = ROOT): WorkspacePackage[] {
  return workspacePackages(root).filter((p) => p.manifest.private !== true);
}

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `kontiki-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Killed with SIGKILL after this long. */
  readonly timeoutMs: number;
  readonly input?: string;
}

/**
 * Runs a command to completion without blocking the event loop (a registry served from this
 * process keeps answering), collecting its output.
 */
export function run(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A program that exits without reading its stdin closes the pipe first: EPIPE here is
    // not an error of the run (its exit code and output say how it went).
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a command and fails with its output unless it exits 0. */
export async function runOk(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  const r = await run(command, args, options);
  if (r.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} (in ${options.cwd}) exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
  }
  return r;
}

/** `pnpm pack` of one workspace package into `dest`; returns the tarball's path. */
export async function pack(dir: string, dest: string, root = ROOT): Promise<string> {
  const r = await runOk('pnpm', ['pack', '--pack-destination', dest, '--json'], {
    cwd: join(root, dir),
    timeoutMs: 60_000,
  });
  const filename = (JSON.parse(r.stdout) as { filename: string }).filename;
  return filename.startsWith('/') ? filename : join(dest, filename);
}

/**
 * Copies the repository's files (tracked, and new ones not ignored: what the next commit
 * would hold) to `dest`, without node_modules or build output: the tests that version and
 * publish work on this copy, never on the real tree.
 */
export async function copyRepository(dest: string, root = ROOT): Promise<void> {
  const r = await runOk('git', ['ls-files', '-co', '--exclude-standard', '-z'], {
    cwd: root,
    timeoutMs: 30_000,
  });
  for (const file of r.stdout.split('\0')) {
    if (file === '' || !existsSync(join(root, file))) continue;
    cpSync(join(root, file), join(dest, file));
  }
}

/** The changesets command line of the workspace. */
export const CHANGESET = join(ROOT, 'node_modules/.bin/changeset');
