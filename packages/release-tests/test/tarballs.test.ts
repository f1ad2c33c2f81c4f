import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  pack,
  publicPackages,
  ROOT,
  run,
  runOk,
  tempDir,
  type WorkspacePackage,
} from './support/workspace.js';

const REPO = 'https://github.com/kontiki-raft/kontiki';
const ATTW = join(ROOT, 'packages/release-tests/node_modules/.bin/attw');
const packages = publicPackages();
const work = tempDir('tarballs');

/** Each package's tarball, packed by pnpm as `pnpm publish` packs it, and unpacked. */
const tarballs = new Map<string, { file: string; dir: string }>();

beforeAll(async () => {
  for (const p of packages) {
    const file = await pack(p.dir, work.dir);
    const dir = join(work.dir, p.manifest.name.replace('/', '+'));
    await runOk('mkdir', ['-p', dir], { cwd: work.dir, timeoutMs: 10_000 });
    await runOk('tar', ['xzf', file, '-C', dir], { cwd: work.dir, timeoutMs: 30_000 });
    tarballs.set(p.manifest.name, { file, dir: join(dir, 'package') });
  }
}, 300_000);

afterAll(() => work.remove());

function filesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

function tarball(p: WorkspacePackage): { file: string; dir: string } {
  const t = tarballs.get(p.manifest.name);
  if (t === undefined) throw new Error(`${p.manifest.name} was not packed`);
  return t;
}

describe('what is published', () => {
  it('is every package but the private demo server and these tests', () => {
    expect(packages.map((p) => p.manifest.name)).toEqual([
      '@kontiki/cli',
      '@kontiki/core',
      '@kontiki/metrics-prometheus',
      '@kontiki/protocol',
      '@kontiki/storage-memory',
      '@kontiki/storage-sqlite',
      '@kontiki/testkit',
      '@kontiki/transport-grpc',
      '@kontiki/transport-memory',
      '@kontiki/transport-ws',
    ]);
  });
});

describe.each(packages.map((p) => [p.manifest.name, p] as const))('the tarball of %s', (_, p) => {
  it('carries the MIT licence, the README and the fields npm shows', () => {
    const { dir } = tarball(p);
    expect(readFileSync(join(dir, 'LICENSE'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'LICENSE'), 'utf8'),
    );
    expect(existsSync(join(dir, 'README.md'))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(manifest).toMatchObject({
      license: 'MIT',
      author: 'the Kontiki authors',
      homepage: `${REPO}/tree/main/${p.dir}#readme`,
      bugs: { url: `${REPO}/issues` },
      repository: { type: 'git', url: `git+${REPO}.git`, directory: p.dir },
    });
    expect((manifest.keywords as string[]).length).toBeGreaterThan(2);
    // pnpm replaced every workspace: range by a version range.
    expect(JSON.stringify(manifest)).not.toContain('workspace:');
  });

  it('holds no test, benchmark or source file, and source maps without embedded sources', () => {
    const { dir } = tarball(p);
    const files = filesIn(dir);
    const unwanted = files.filter(
      (f) =>
        /(^|\/)(test|tests|bench|__tests__)\//.test(f) ||
        /\.(test|spec|bench)\.[cm]?[jt]s$/.test(f) ||
        /(^|\/)bench[^/]*\.[cm]?js$/.test(f) ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    );
    expect(unwanted).toEqual([]);
    const maps = files.filter((f) => f.endsWith('.map'));
    for (const m of maps) {
      const map = JSON.parse(readFileSync(join(dir, m), 'utf8')) as { sourcesContent?: unknown };
      expect({ map: m, sourcesContent: map.sourcesContent }).toEqual({
        map: m,
        sourcesContent: undefined,
      });
    }
    const size = (f: string) => statSync(join(dir, f)).size;
    const total = files.reduce((n, f) => n + size(f), 0);
    const inMaps = maps.reduce((n, f) => n + size(f), 0);
    console.log(
      `${p.manifest.name}: ${files.length} files, ${(total / 1024).toFixed(1)} KiB unpacked, source maps ${((100 * inMaps) / total).toFixed(0)}%`,
    );
    expect(inMaps / total).toBeLessThan(0.5);
  });

  it('has a README whose links work on npm (absolute, or anchors)', () => {
    const { dir } = tarball(p);
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
    const relativeLinks = targets.filter((t) => !/^(https?:\/\/|#|mailto:)/.test(t));
    expect(relativeLinks).toEqual([]);
    for (const t of targets.filter((t) => t.startsWith(`${REPO}/`))) {
      // A link into this repository names a path that exists in it.
      const path = t.slice(REPO.length + 1).replace(/^(blob|tree)\/main\//, '');
      const file = path.split('#')[0] ?? '';
      expect({ link: t, exists: existsSync(join(ROOT, file)) }).toEqual({ link: t, exists: true });
    }
  });

  it('passes publint with no message at all', async () => {
    const { file } = tarball(p);
    const bytes = readFileSync(file);
    const tarballBuffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    const result = await publint({ pack: { tarball: tarballBuffer }, level: 'suggestion' });
    const lines = result.messages.map(
      (m) => `${m.type}: ${formatMessage(m, result.pkg, { color: false }) ?? m.code}`,
    );
    console.log(
      `publint ${relative(work.dir, file)}: ${lines.length === 0 ? 'clean' : lines.join('\n')}`,
    );
    expect(lines).toEqual([]);
  });

  it('passes arethetypeswrong (attw --profile esm-only)', async () => {
    const { file } = tarball(p);
    const r = await run(ATTW, [file, '--profile', 'esm-only', '--format', 'ascii', '--no-color'], {
      cwd: work.dir,
      timeoutMs: 120_000,
    });
    console.log(
      `attw --profile esm-only ${relative(work.dir, file)} (exit ${r.code}):\n${r.stdout}${r.stderr}`,
    );
    expect(r.code).toBe(0);
  });
});
