import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const fixture = join(import.meta.dirname, 'fixtures', 'process-lifetime.mjs');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [fixture, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, lines: r.stdout.trim().split('\n'), stderr: r.stderr };
}

describe('a started node and the process it runs in', () => {
  it('keeps the process alive until shutdown, then lets it exit on its own', () => {
    const r = run();
    expect(r.stderr).toBe('');
    expect(r.lines).toEqual(['applied 2', 'shut down', 'exit 0 after shutdown']);
    expect(r.status).toBe(0);
  });

  it('with keepAlive: false does not hold the process open', () => {
    const r = run('no-keep-alive');
    expect(r.lines).toContain('exit before shutdown');
    expect(r.lines).not.toContain('shut down');
  });
});
