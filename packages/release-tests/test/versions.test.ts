import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHANGESET,
  copyRepository,
  publicPackages,
  runOk,
  tempDir,
  workspacePackages,
} from './support/workspace.js';

/** name -> version of every workspace package of the tree at `root`. */
function versions(root: string): Record<string, string> {
  return Object.fromEntries(
    workspacePackages(root).map((p) => [p.manifest.name, p.manifest.version]),
  );
}

async function changesetVersion(root: string): Promise<string> {
  const r = await runOk(CHANGESET, ['version'], { cwd: root, timeoutMs: 120_000 });
  return r.stdout + r.stderr;
}

describe('the first release (changeset version on a copy of the repository)', () => {
  const copy = tempDir('versions');
  let before: Record<string, string>;
  let after: Record<string, string>;

  beforeAll(async () => {
    await copyRepository(copy.dir);
    before = versions(copy.dir);
    console.log(await changesetVersion(copy.dir));
    after = versions(copy.dir);
  }, 180_000);
  afterAll(() => copy.remove());

  it('starts from 0.0.0: nothing has been published', () => {
    expect(new Set(Object.values(before))).toEqual(new Set(['0.0.0']));
  });

  it('gives every public package 0.1.0, the CLI included', () => {
    const published = publicPackages(copy.dir).map((p) => p.manifest.name);
    expect(published.length).toBe(10);
    expect(Object.fromEntries(published.map((name) => [name, after[name]]))).toEqual(
      Object.fromEntries(published.map((name) => [name, '0.1.0'])),
    );
  });

  it('versions the private demo server with the CLI that bundles it', () => {
    expect(after['@kontiki/kv-server']).toBe(after['@kontiki/cli']);
  });

  it('consumes every changeset and writes each public package a changelog', () => {
    expect(readdirSync(join(copy.dir, '.changeset')).filter((f) => f.endsWith('.md'))).toEqual([]);
    for (const p of publicPackages(copy.dir)) {
      expect(readdirSync(join(copy.dir, p.dir))).toContain('CHANGELOG.md');
    }
  });

  it('then releases the CLI when only the demo server it bundles changed', async () => {
    writeFileSync(
      join(copy.dir, '.changeset/kv-server-only.md'),
      '---\n"@kontiki/kv-server": patch\n---\n\nA fix in the demo server.\n',
    );
    await changesetVersion(copy.dir);
    const next = versions(copy.dir);
    expect(next['@kontiki/kv-server']).toBe('0.1.1');
    expect(next['@kontiki/cli']).toBe('0.1.1');
    // Nothing else changed.
    for (const name of Object.keys(next).filter((n) => !/kv-server|cli/.test(n))) {
      expect({ name, version: next[name] }).toEqual({ name, version: after[name] });
    }
  });
});

describe('a changeset that touches only the private demo server, before any release', () => {
  const copy = tempDir('versions-kv');
  afterAll(() => copy.remove());

  it('bumps the CLI too', async () => {
    await copyRepository(copy.dir);
    const dir = join(copy.dir, '.changeset');
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.md'))) rmSync(join(dir, f));
    writeFileSync(
      join(dir, 'kv-server-only.md'),
      '---\n"@kontiki/kv-server": patch\n---\n\nA fix in the demo server.\n',
    );
    await changesetVersion(copy.dir);
    const next = versions(copy.dir);
    expect(next['@kontiki/cli']).toBe('0.0.1');
    expect(next['@kontiki/core']).toBe('0.0.0');
  }, 180_000);
});
