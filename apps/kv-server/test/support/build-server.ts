import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The kv-server entry the multi-process tests run (plain JS, built by the setup). */
    serverScript: string;
  }
}

/**
 * Vitest global setup: builds the kv-server process entry from `src` for the tests' child
 * processes (they run plain JS, without a TS loader), without touching `dist`. Each run
 * builds into its own directory, so two runs at once never replace each other's build.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const outDir = fileURLToPath(
    new URL(`../../node_modules/.cache/kontiki-test-build/${process.pid}`, import.meta.url),
  );
  await build({
    config: false,
    entry: { main: fileURLToPath(new URL('../../src/main.ts', import.meta.url)) },
    outDir,
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    external: [/^@kontiki\//],
    dts: false,
    sourcemap: true,
    clean: true,
    silent: true,
  });
  project.provide('serverScript', `${outDir}/main.js`);
  return () => rmSync(outDir, { recursive: true, force: true });
}
