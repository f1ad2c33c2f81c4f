import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, run, tempDir } from './support/workspace.js';

/**
 * docs/api is generated from the doc comments (`pnpm api`) and checked in, so that a change
 * of a public API shows in review as a change of its reference. Here it is generated again
 * from the current sources; any difference fails, with the command that brings it up to date.
 */
const fresh = tempDir('api-docs');
const checkedIn = join(ROOT, 'docs/api');
let generated = '';

function tree(dir: string): Map<string, string> {
  return new Map(
    readdirSync(dir, { recursive: true, encoding: 'utf8', withFileTypes: false })
      .map((f) => join(dir, f))
      .filter((f) => f.endsWith('.md'))
      .map((f) => [relative(dir, f), readFileSync(f, 'utf8')] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

beforeAll(async () => {
  const r = await run(
    process.execPath,
    [join(ROOT, 'packages/release-tests/scripts/api-docs.mjs'), fresh.dir],
    { cwd: ROOT, timeoutMs: 300_000 },
  );
  generated = r.stdout + r.stderr;
  if (r.code !== 0) throw new Error(`api-docs.mjs exited ${r.code}:\n${generated}`);
}, 300_000);

afterAll(() => fresh.remove());

describe('the API reference in docs/api', () => {
  it('is what the doc comments generate now (else run `pnpm api` and commit docs/api)', () => {
    const want = tree(fresh.dir);
    const have = tree(checkedIn);
    expect([...have.keys()]).toEqual([...want.keys()]);
    const stale = [...want].filter(([file, text]) => have.get(file) !== text).map(([f]) => f);
    expect(stale).toEqual([]);
    expect(generated).toBe('');
  });

  it('shows RaftNode with its public API only: no handle*, log or options member', () => {
    const core = readFileSync(join(checkedIn, 'core/README.md'), 'utf8');
    const start = core.indexOf('\n### RaftNode\n');
    expect(start).toBeGreaterThan(0);
    const end = core.indexOf('\n### ', start + 1);
    const members = [...core.slice(start, end).matchAll(/^##### (\w+)/gm)].map((m) => m[1]);
    expect(members).toEqual(expect.arrayContaining(['start', 'apply', 'waitForLeader']));
    expect(members.filter((m) => /^(handle\w*|log|options)$/.test(m ?? ''))).toEqual([]);
  });

  it("and so does the published type: RaftNode's declaration in @kontiki/core's .d.ts", () => {
    const dist = join(ROOT, 'packages/core/dist');
    const declarations = readdirSync(dist)
      .filter((f) => f.endsWith('.d.ts'))
      .map((f) => readFileSync(join(dist, f), 'utf8'))
      .join('\n');
    const start = declarations.indexOf('declare class RaftNode<');
    expect(start).toBeGreaterThanOrEqual(0);
    const body = declarations.slice(start, declarations.indexOf('\n}', start));
    expect(body).toMatch(/\bwaitForLeader\(/);
    expect(body.match(/^\s+(?:readonly\s+|get\s+)?(handle\w*|log|options)\b/gm)).toBeNull();
  });
});
