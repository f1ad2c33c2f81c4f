import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile, examplesOf, runCluster } from './support/examples.js';
import {
  CHANGESET,
  copyRepository,
  publicPackages,
  ROOT,
  run,
  runOk,
  tempDir,
  workspacePackages,
} from './support/workspace.js';

/**
 * The whole release, as docs/RELEASING.md describes it, against a Verdaccio registry of the
 * test's own on 127.0.0.1 (no uplinks: it serves only what is published to it): changeset
 * version and changeset publish on a copy of the repository, then fresh projects outside the
 * workspace install the packages from it and run the README's examples. Third-party packages
 * (gRPC, better-sqlite3, ...) come from the usual npm registry; every cache is in the temp dir.
 */
const work = tempDir('release');
const repo = join(work.dir, 'repo');
const npmCache = join(work.dir, 'npm-cache');
let registry: ChildProcessWithoutNullStreams | undefined;
let registryUrl = '';
let publishLog = '';

const SERVER = fileURLToPath(new URL('./support/verdaccio-server.mjs', import.meta.url));

function npmEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    npm_config_cache: npmCache,
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    // better-sqlite3 compiles against this machine's Node headers; no prebuilt download.
    npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr',
    npm_config_build_from_source: 'true',
  };
}

async function startRegistry(): Promise<void> {
  const dir = join(work.dir, 'registry');
  mkdirSync(dir);
  const child = spawn(process.execPath, [SERVER, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  registry = child;
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Verdaccio did not start:\n${out}`)), 60_000);
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /\{"port":(\d+)\}/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Verdaccio exited (${code}):\n${out}`));
    });
  });
  registryUrl = `http://127.0.0.1:${port}/`;
}

/** Creates the registry's one user; returns its token. */
async function addUser(): Promise<string> {
  const res = await fetch(`${registryUrl}-/user/org.couchdb.user:kontiki`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'kontiki', password: 'release-test-password' }),
  });
  const body = (await res.json()) as { token?: string };
  if (res.status !== 201 || body.token === undefined) {
    throw new Error(`adduser: HTTP ${res.status} ${JSON.stringify(body)}`);
  }
  return body.token;
}

/**
 * What `pnpm install` makes of the workspace and `pnpm publish` reads: each package's
 * node_modules/@kontiki/x links to the workspace's x, whose version replaces `workspace:`.
 * (Third-party dependencies are not needed to pack.)
 */
function linkWorkspace(root: string): void {
  const dirs = new Map(workspacePackages(root).map((p) => [p.manifest.name, p.dir]));
  for (const p of workspacePackages(root)) {
    const deps = ['dependencies', 'devDependencies', 'peerDependencies'].flatMap((field) =>
      Object.keys((p.manifest[field] as Record<string, string> | undefined) ?? {}),
    );
    for (const name of deps) {
      const target = dirs.get(name);
      if (target === undefined) continue;
      const link = join(root, p.dir, 'node_modules', name);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(relative(dirname(link), join(root, target)), link);
    }
  }
}

beforeAll(async () => {
  await copyRepository(repo);
  // The build output the publish packs (the test runs after `turbo build`).
  for (const p of publicPackages()) {
    cpSync(join(ROOT, p.dir, 'dist'), join(repo, p.dir, 'dist'), { recursive: true });
  }
  const git = (args: string[]) =>
    runOk('git', ['-c', 'user.name=release test', '-c', 'user.email=release@test', ...args], {
      cwd: repo,
      timeoutMs: 60_000,
    });
  await git(['init', '-q', '-b', 'main']);
  await git(['add', '-A']);
  await git(['commit', '-q', '-m', 'the tree to release']);

  await startRegistry();
  const token = await addUser();
  const host = registryUrl.replace(/^http:/, '');
  // pnpm publish reads the registry from .npmrc (not from npm_config_registry): every
  // package goes to the test's registry, never to npmjs.org.
  appendFileSync(
    join(repo, '.npmrc'),
    `\nregistry=${registryUrl}\n@kontiki:registry=${registryUrl}\n${host}:_authToken=${token}\n`,
  );
  const env = { ...npmEnv(), npm_config_registry: registryUrl };

  const version = await runOk(CHANGESET, ['version'], { cwd: repo, env, timeoutMs: 120_000 });
  linkWorkspace(repo);
  await git(['add', '-A']);
  await git(['commit', '-q', '-m', 'version packages']);
  const publish = await run(CHANGESET, ['publish'], { cwd: repo, env, timeoutMs: 300_000 });
  publishLog = `${version.stdout}${version.stderr}\n${publish.stdout}${publish.stderr}`;
  console.log(`changeset version && changeset publish (exit ${publish.code}):\n${publishLog}`);
  if (publish.code !== 0) throw new Error('changeset publish failed');
}, 600_000);

afterAll(async () => {
  if (registry && registry.exitCode === null) {
    const r = registry;
    const exited = new Promise((resolve) => r.once('exit', resolve));
    r.kill('SIGKILL');
    await exited;
  }
  work.remove();
});

/** A new ES module project in the temp dir that takes @kontiki/* from the test registry. */
async function freshProject(name: string, dependencies: readonly string[]): Promise<string> {
  const dir = join(work.dir, name);
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name, private: true, type: 'module', dependencies: {} }),
  );
  writeFileSync(join(dir, '.npmrc'), `@kontiki:registry=${registryUrl}\n`);
  const r = await run('npm', ['install', ...dependencies.map((d) => `${d}@^0.1.0`)], {
    cwd: dir,
    env: npmEnv(),
    timeoutMs: 600_000,
  });
  console.log(`npm install in ${name} (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  expect(r.code).toBe(0);
  return dir;
}

describe('a release through a local registry', () => {
  it('publishes every public package at 0.1.0, and nothing private', async () => {
    for (const p of publicPackages()) {
      const res = await fetch(`${registryUrl}${p.manifest.name.replace('/', '%2f')}`);
      expect({ name: p.manifest.name, status: res.status }).toEqual({
        name: p.manifest.name,
        status: 200,
      });
      const doc = (await res.json()) as { 'dist-tags': { latest: string } };
      expect(doc['dist-tags'].latest).toBe('0.1.0');
    }
    for (const name of ['@kontiki/kv-server', '@kontiki/release-tests']) {
      const res = await fetch(`${registryUrl}${name.replace('/', '%2f')}`);
      expect({ name, status: res.status }).toEqual({ name, status: 404 });
    }
  });

  it('lets a newcomer install core and the memory plugins and run the README example', async () => {
    const dir = await freshProject('newcomer', [
      '@kontiki/core',
      '@kontiki/storage-memory',
      '@kontiki/transport-memory',
    ]);
    // Nothing else came along: core has no dependencies, the plugins only core.
    const installed = await runOk('npm', ['ls', '--all', '--parseable'], {
      cwd: dir,
      env: npmEnv(),
      timeoutMs: 60_000,
    });
    const packages = installed.stdout
      .split('\n')
      .filter((l) => l.includes('node_modules'))
      .map((l) => l.slice(l.lastIndexOf('node_modules/') + 'node_modules/'.length))
      .sort();
    expect(packages).toEqual([
      '@kontiki/core',
      '@kontiki/storage-memory',
      '@kontiki/transport-memory',
    ]);

    const example = examplesOf('README.md').find((e) => e.mode === 'run');
    if (example === undefined) throw new Error('README.md has no runnable example');
    expect(example.code.trimEnd().split('\n').length).toBeLessThanOrEqual(30);
    writeFileSync(join(dir, 'first.ts'), example.code);
    const tsc = await compile(dir, ['first']);
    expect(tsc.stdout + tsc.stderr).toBe('');
    // No keep-alive of its own: it must end by itself once its nodes shut down.
    const r = await run(process.execPath, ['first.js'], { cwd: dir, timeoutMs: 60_000 });
    console.log(`node first.js (exit ${r.code}):\n${r.stdout}${r.stderr}`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(example.prints ?? '');
    expect(r.stdout).toMatch(/^n\d leads term \d+; committed at index \d+$/m);
  }, 900_000);

  it('runs a 3-process cluster on SQLite and gRPC from the registry', async () => {
    const dir = await freshProject('cluster', [
      '@kontiki/core',
      '@kontiki/storage-sqlite',
      '@kontiki/transport-grpc',
    ]);
    const example = examplesOf('README.md').find((e) => e.mode === 'cluster');
    if (example === undefined) throw new Error('README.md has no cluster example');
    writeFileSync(join(dir, 'node.ts'), example.code);
    const tsc = await compile(dir, ['node']);
    expect(tsc.stdout + tsc.stderr).toBe('');
    const { outputs, exitCodes } = await runCluster(
      join(dir, 'node.js'),
      dir,
      /: greeting = hello from /,
      120_000,
    );
    console.log(outputs.map((o, i) => `--- node ${i + 1}\n${o}`).join('\n'));
    expect(outputs.filter((o) => /leads: committed at index \d+/.test(o)).length).toBe(1);
    expect(exitCodes).toEqual([0, 0, 0]);
    for (const i of [1, 2, 3]) expect(existsSync(join(dir, `data/node-${i}.sqlite`))).toBe(true);
  }, 900_000);
});
