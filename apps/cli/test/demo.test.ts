import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliProcess, isAlive, pidsIn, runCli } from './support/cli.js';
import { tempDir } from './support/temp-dir.js';
import { waitUntil } from './support/wait-until.js';

describe('kontiki demo', () => {
  it.each([
    ['gRPC', []],
    ['WebSocket', ['--transport', 'ws']],
  ])(
    'tells the whole story over %s and exits 0, leaving no process and no data behind',
    async (name, extra) => {
      const r = await runCli(['demo', ...extra], 58_000);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const out = r.stdout;
      expect(out).toContain(`(${name} transport, SQLite storage`);
      const steps = [
        /election: n\d is the leader of term \d+/,
        /wrote 1000 keys through the leader, 64 in flight: [\d.]+ s, \d+ writes\/s/,
        /every node has applied index \d+/,
        /SIGKILL (n\d), the leader/,
        /re-election: n\d leads term \d+, [\d.]+ s after the kill/,
        /wrote 500 more keys with n\d down/,
        /restarted n\d \(pid \d+\): 10\d\d entries in its log \(read back from its SQLite file\)/,
        /n\d caught up in [\d.]+ s: it received the \d+ entries it lacked; applied index 15\d\d on every node/,
        /read all 1500 keys from each of the 3 nodes .*: every value matches/,
        /state digest identical on every node: sha256 [0-9a-f]{16}\.\.\., 1500 keys/,
        /stopped every node/,
        /Demo complete/,
      ];
      let at = 0;
      for (const step of steps) {
        const m = step.exec(out.slice(at));
        expect(m, `${step} after offset ${at} in:\n${out}`).not.toBeNull();
        at += (m?.index ?? 0) + (m?.[0].length ?? 0);
      }
      // The killed node is the one that was leader, and a different node leads afterwards.
      const killed = /SIGKILL (n\d)/.exec(out)?.[1];
      expect(/re-election: (n\d)/.exec(out)?.[1]).not.toBe(killed);

      const data = /^data: (\S+) \(temporary\)$/m.exec(out)?.[1];
      expect(data).toBeDefined();
      expect(existsSync(data as string)).toBe(false);
      const pids = [...new Set(pidsIn(out))];
      expect(pids.length).toBe(4);
      expect(pids.filter(isAlive)).toEqual([]);
    },
    60_000,
  );

  it('on Ctrl-C stops its nodes, removes its data and exits 1', async () => {
    const demo = new CliProcess(['demo', '--storage', 'memory']);
    try {
      await waitUntil('the first election', () => /election: n\d/.test(demo.stdout), 30_000);
      demo.signal('SIGINT');
      expect(await demo.exited).toBe(1);
    } finally {
      await demo.kill();
    }
    expect(demo.stderr).toBe('kontiki demo: interrupted (SIGINT)\n');
    expect(demo.stdout).toContain('stopped every node');
    const data = /^data: (\S+) \(temporary\)$/m.exec(demo.stdout)?.[1];
    expect(existsSync(data as string)).toBe(false);
    expect([...new Set(pidsIn(demo.stdout))].filter(isAlive)).toEqual([]);
  });

  const scratch = tempDir('cli-demo');
  afterAll(() => scratch.remove());

  it('fails with a clear message and exit 1 when a node cannot start', async () => {
    // Each node's data directory is a file: every node fails to create its store.
    const dir = join(scratch.dir, 'nodes-are-files');
    mkdirSync(dir);
    for (const id of ['n1', 'n2', 'n3']) writeFileSync(join(dir, id), 'x');
    const r = await runCli(['demo', '--data-dir', dir], 30_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^kontiki demo: kv-server exited \(code 1\) before n\d (listening|ready)/,
    );
    expect(r.stderr).toMatch(/EEXIST|ENOTDIR|not a directory/);
  });

  it('fails with exit 1 naming the data directory when it is a file (no place for the secret)', async () => {
    const file = join(scratch.dir, 'not-a-directory');
    writeFileSync(file, 'x');
    const r = await runCli(['demo', '--data-dir', file], 30_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kontiki demo: .*not-a-directory is not a directory/);
  });
});
