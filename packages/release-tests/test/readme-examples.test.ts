import { existsSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile, type Example, examplesOf, runCluster } from './support/examples.js';
import { ROOT, run, tempDir, workspacePackages } from './support/workspace.js';

/**
 * Every TypeScript example of the root README and of every package's README, compiled as a
 * user's strict ES module project would compile it, against the built packages, and run
 * where it is a whole program (see support/examples.ts for the markers). An example that
 * no longer compiles or runs fails here, so the READMEs cannot drift from the code.
 */
const readmes = [
  'README.md',
  ...workspacePackages()
    .map((p) => `${p.dir}/README.md`)
    .filter((f) => existsSync(join(ROOT, f))),
];

interface Case {
  readonly name: string;
  readonly example: Example;
}

const cases: Case[] = readmes.flatMap((file) =>
  examplesOf(file).map((example) => ({
    name: example.where
      .replace(/[/:.]/g, '-')
      .replace(/-README-md/, '')
      .toLowerCase(),
    example,
  })),
);

/** Third-party modules the examples import, linked from the package that depends on them. */
const THIRD_PARTY: Record<string, string> = {
  ws: 'packages/transport-ws',
  '@types/ws': 'packages/transport-ws',
  'prom-client': 'packages/metrics-prometheus',
  vitest: 'packages/release-tests',
};

const work = tempDir('readme-examples');
let compiled = '';

beforeAll(async () => {
  const modules = join(work.dir, 'node_modules');
  for (const p of workspacePackages()) {
    if (p.manifest.private === true) continue;
    const link = join(modules, p.manifest.name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(ROOT, p.dir), link);
  }
  for (const [name, from] of Object.entries(THIRD_PARTY)) {
    const link = join(modules, name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(realpathSync(join(ROOT, from, 'node_modules', name)), link);
  }
  writeFileSync(join(work.dir, 'package.json'), '{"type":"module","private":true}\n');
  for (const c of cases) {
    mkdirSync(join(work.dir, c.name));
    // `export {}` keeps a block without imports a module, not a script sharing globals.
    writeFileSync(join(work.dir, c.name, 'example.ts'), `${c.example.code}export {};\n`);
  }
  const r = await compile(
    work.dir,
    cases.map((c) => `${c.name}/example`),
  );
  compiled = r.stdout + r.stderr;
}, 300_000);

afterAll(() => work.remove());

describe('the READMEs', () => {
  it('have TypeScript examples, each marked with how it is tested', () => {
    expect(cases.length).toBeGreaterThan(10);
    const unmarked = cases.filter((c) => c.example.mode === undefined).map((c) => c.example.where);
    expect(unmarked).toEqual([]);
  });

  it('show only examples that compile, as they are, against the packages', () => {
    console.log(
      `tsc over ${cases.length} README examples: ${compiled === '' ? 'no error' : compiled}`,
    );
    expect(compiled).toBe('');
  });
});

describe.each(
  cases.filter((c) => c.example.mode === 'run').map((c) => [c.example.where, c] as const),
)('the example at %s', (_, c) => {
  it('runs to completion by itself', async () => {
    const dir = join(work.dir, c.name);
    const r = await run(process.execPath, ['example.js'], { cwd: dir, timeoutMs: 60_000 });
    console.log(`${c.example.where} (exit ${r.code}):\n${r.stdout}${r.stderr}`);
    expect(r.code).toBe(0);
    if (c.example.prints !== undefined) expect(r.stdout).toContain(c.example.prints);
  });
});

describe.each(
  cases.filter((c) => c.example.mode === 'cluster').map((c) => [c.example.where, c] as const),
)('the cluster example at %s', (_, c) => {
  it('elects, commits on three processes, and stops cleanly on SIGTERM', async () => {
    const dir = join(work.dir, c.name);
    const { outputs, exitCodes } = await runCluster(
      join(dir, 'example.js'),
      dir,
      /: greeting = hello from /,
      60_000,
    );
    console.log(outputs.map((o, i) => `--- node ${i + 1}\n${o}`).join('\n'));
    expect(outputs.filter((o) => /leads: committed at index \d+/.test(o)).length).toBe(1);
    expect(exitCodes).toEqual([0, 0, 0]);
  });
});
