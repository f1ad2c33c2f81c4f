import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, isAlive, runCli } from './support/cli.js';
import { tempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

interface ClusterFile {
  readonly pid: number;
  readonly nodes: ReadonlyArray<{ id: string; http: string; pid: number }>;
}

describe('kontiki cluster start, and the client commands against it', () => {
  const data = tempDir('cli-cluster');
  let cluster: CliProcess;
  let file: ClusterFile;
  const at = ['--data-dir', data.dir];

  beforeAll(async () => {
    cluster = new CliProcess([
      'cluster',
      'start',
      '--storage',
      'memory',
      '--election-timeout-ms',
      '300',
      ...at,
    ]);
    await waitUntil(
      'the cluster to be up',
      () => cluster.stdout.includes('Ctrl-C stops the cluster.') || cluster.stderr !== '',
      30_000,
    );
    expect(cluster.stderr).toBe('');
    file = JSON.parse(readFileSync(join(data.dir, 'cluster.json'), 'utf8')) as ClusterFile;
  });

  afterAll(async () => {
    await cluster?.kill();
    // Should the CLI have died without stopping its nodes, they stop when their stdin
    // closes; make sure of it.
    for (const n of file?.nodes ?? []) if (isAlive(n.pid)) process.kill(n.pid, 'SIGKILL');
    data.remove();
  });

  it('prints the nodes, the leader and where the live page is', () => {
    expect(file.nodes.map((n) => n.id)).toEqual(['n1', 'n2', 'n3']);
    expect(cluster.stdout).toMatch(/n\d became leader \(term \d+\)/);
    expect(cluster.stdout).toMatch(/live page: {2}http:\/\/127\.0\.0\.1:\d+\//);
    for (const n of file.nodes) expect(cluster.stdout).toContain(`http ${n.http}`);
  });

  it('puts, gets, compares-and-sets and deletes, finding the nodes through cluster.json', async () => {
    const put = await runCli(['put', 'greeting', 'hello', ...at]);
    expect(put).toMatchObject({ code: 0, stderr: '' });
    expect(put.stdout).toMatch(/^OK greeting \(index \d+, term \d+, new key\)$/m);

    expect(await runCli(['get', 'greeting', ...at])).toMatchObject({
      code: 0,
      stdout: 'hello\n',
    });

    const failed = await runCli(['cas', 'greeting', 'bye', '--expect', 'nope', ...at]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('not swapped: greeting holds "hello"');
    const swapped = await runCli(['cas', 'greeting', 'bye', '--expect', 'hello', ...at]);
    expect(swapped.code).toBe(0);
    expect(swapped.stdout).toMatch(/^swapped greeting/);
    const created = await runCli(['cas', 'fresh', 'v', '--expect-absent', ...at]);
    expect(created.code).toBe(0);

    const json = await runCli(['get', 'greeting', '--json', ...at]);
    expect(JSON.parse(json.stdout)).toMatchObject({ key: 'greeting', value: 'bye' });

    expect((await runCli(['delete', 'greeting', ...at])).code).toBe(0);
    const missing = await runCli(['get', 'greeting', ...at]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('greeting: not found\n');
    expect((await runCli(['delete', 'greeting', ...at])).code).toBe(1);
  });

  it('talks to explicit --endpoints, following the redirect from a follower', async () => {
    const status = await runCli(['status', '--json', ...at]);
    const nodes = JSON.parse(status.stdout) as Array<{ id: string; role: string }>;
    const follower = nodes.find((n) => n.role === 'follower')?.id;
    const endpoint = file.nodes.find((n) => n.id === follower)?.http as string;
    const put = await runCli(['put', 'via-follower', 'x', '--endpoints', endpoint]);
    expect(put.code).toBe(0);
    expect((await runCli(['get', 'via-follower', '--endpoints', endpoint])).stdout).toBe('x\n');
  });

  it('shows every node in status, and moves leadership with transfer-leader', async () => {
    const status = await runCli(['status', ...at]);
    expect(status.code).toBe(0);
    const lines = status.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['n1', 'n2', 'n3']);
    expect(lines.filter((l) => /\bleader\b/.test(l.split(/\s+/)[1] ?? '')).length).toBe(1);

    const nodes = JSON.parse((await runCli(['status', '--json', ...at])).stdout) as Array<{
      id: string;
      role: string;
    }>;
    const target = nodes.find((n) => n.role === 'follower')?.id as string;
    const moved = await runCli(['transfer-leader', target, ...at]);
    expect(moved.stderr).toBe('');
    expect(moved.code).toBe(0);
    expect(moved.stdout).toMatch(
      new RegExp(`^leadership moved from n\\d to ${target} \\(term \\d+\\)`),
    );
    const after = JSON.parse((await runCli(['status', '--json', ...at])).stdout) as Array<{
      id: string;
      role: string;
    }>;
    expect(after.find((n) => n.role === 'leader')?.id).toBe(target);
  });

  it('keeps one secret in cluster.secret (mode 0600), off every command line; admin commands need it', async () => {
    const secretFile = join(data.dir, 'cluster.secret');
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    const secret = readFileSync(secretFile, 'utf8').trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    // `ps` shows every user the nodes' arguments: the secret is not among them.
    for (const n of file.nodes) {
      expect(readFileSync(`/proc/${n.pid}/cmdline`, 'utf8')).not.toContain(secret);
    }
    const endpoints = ['--endpoints', file.nodes.map((n) => n.http).join(',')];
    const elsewhere = tempDir('cli-no-secret');
    try {
      const refused = await runCli(['snapshot', ...endpoints, '--data-dir', elsewhere.dir]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/UNAUTHORIZED/);
      const allowed = await runCli([
        'snapshot',
        '--node',
        'n1',
        ...endpoints,
        '--data-dir',
        elsewhere.dir,
        '--token-file',
        secretFile,
      ]);
      expect(allowed).toMatchObject({ code: 0, stderr: '' });
    } finally {
      elsewhere.remove();
    }
  });

  it('refuses a second cluster on the same data directory', async () => {
    const second = await runCli(['cluster', 'start', '--storage', 'memory', ...at]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('a cluster already runs from');
  });

  it('stops every node on Ctrl-C and removes cluster.json', async () => {
    cluster.signal('SIGINT');
    expect(await cluster.exited).toBe(0);
    expect(cluster.stdout).toContain('all nodes stopped');
    expect(existsSync(join(data.dir, 'cluster.json'))).toBe(false);
    expect(file.nodes.filter((n) => isAlive(n.pid)).map((n) => n.id)).toEqual([]);
  });
});

describe('kontiki cluster stop', () => {
  const data = tempDir('cli-stop');
  const at = ['--data-dir', data.dir];
  afterAll(() => data.remove());

  it('stops the cluster that `cluster start` runs in the data directory', async () => {
    const cluster = new CliProcess(['cluster', 'start', '--storage', 'memory', ...at]);
    try {
      await waitUntil(
        'the cluster to be up',
        () => cluster.stdout.includes('Ctrl-C stops the cluster.') || cluster.stderr !== '',
        30_000,
      );
      expect(cluster.stdout).toContain(`stop:       kontiki cluster stop --data-dir ${data.dir}`);
      const file = JSON.parse(readFileSync(join(data.dir, 'cluster.json'), 'utf8')) as ClusterFile;
      const stop = await runCli(['cluster', 'stop', ...at]);
      expect(stop.stderr).toBe('');
      expect(stop.code).toBe(0);
      expect(stop.stdout).toMatch(/^stopped the cluster in .* \(kontiki pid \d+\): n1, n2, n3$/m);
      expect(await cluster.exited).toBe(0);
      expect(cluster.stdout).toContain('all nodes stopped');
      expect(existsSync(join(data.dir, 'cluster.json'))).toBe(false);
      expect(file.nodes.filter((n) => isAlive(n.pid)).map((n) => n.id)).toEqual([]);
      // Nothing runs there any more.
      const again = await runCli(['cluster', 'stop', ...at]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('no running `kontiki cluster start`');
    } finally {
      await cluster.kill();
    }
  });
});

describe('kontiki usage errors', () => {
  const empty = tempDir('cli-empty');
  afterAll(() => empty.remove());

  it('exits 2 with a one-line error and a hint on an unknown command or wrong arguments', async () => {
    const cases: [string[], RegExp][] = [
      [['bogus'], /^kontiki: unknown command 'bogus'/],
      [['cas', 'k', 'v'], /^kontiki cas: give exactly one of --expect OLD and --expect-absent/],
      [['put', 'k'], /^kontiki put: missing required argument 'value'/],
      [['get', 'k', '--bogus'], /^kontiki get: unknown option '--bogus'/],
      [['get', 'k', 'extra'], /^kontiki get: too many arguments/],
      [['cluster', 'bogus'], /^kontiki cluster: unknown command 'bogus'/],
      [['demo', '--transport', 'udp'], /^kontiki demo: .*Allowed choices are grpc, ws/],
      [
        ['cluster', 'start', '--nodes', '0'],
        /^kontiki cluster start: --nodes: expected an integer from 1 to 9/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      const lines = r.stderr.trimEnd().split('\n');
      expect({ args, lines: lines.length }).toEqual({ args, lines: 1 });
      expect(lines[0]).toMatch(message);
      expect(lines[0]).toMatch(/\(see `kontiki[\w -]*--help`\)$/);
    }
  });

  it('prints the help of each command, and its version', async () => {
    const version = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `${version.version}\n` });

    const start = await runCli(['cluster', 'start', '--help']);
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/^Usage: kontiki cluster start \[options\]/);
    for (const flag of ['--nodes', '--transport', '--storage', '--data-dir', '--base-port']) {
      expect(start.stdout).toContain(flag);
    }
    const get = await runCli(['get', '--help']);
    expect(get.stdout).toMatch(/^Usage: kontiki get \[options\] <key>/);
    expect(get.stdout).toContain('--endpoints');

    // A command of subcommands shows them; so does `kontiki` alone.
    const cluster = await runCli(['cluster']);
    expect(cluster.code).toBe(2);
    for (const sub of ['start', 'stop', 'add-node', 'remove-node']) {
      expect(cluster.stdout).toMatch(new RegExp(`^  ${sub}\\b`, 'm'));
    }
    const top = await runCli([]);
    expect(top.code).toBe(2);
    expect(top.stdout).toMatch(/^Usage: kontiki \[options\] \[command\]/);
    expect((await runCli(['help', 'cluster'])).code).toBe(0);
  });

  it('exits 1 and says how to find a cluster when there is none', async () => {
    const r = await runCli(['get', 'k', '--data-dir', empty.dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no endpoints: pass --endpoints');
  });

  it('exits 1 when no node answers', async () => {
    // Port 1 (tcpmux): nothing listens there on a test machine, so the connection is refused.
    const r = await runCli(['status', '--endpoints', '127.0.0.1:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no node answered');
  });
});
