import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import { CHILD_STORE_MODULE } from './child-build.js';

/**
 * Vitest global setup: builds `src` to plain JS, from the current sources (never a stale
 * `dist`), without touching `dist`: the store module for the crash test's child processes,
 * and the worker script that every store opened in `thread: 'worker'` mode runs (a worker
 * cannot run TypeScript; vitest.config.ts points `worker-script.ts` at this build).
 */
export default async function setup(): Promise<void> {
  await buildForChildren();
}

export async function buildForChildren(): Promise<void> {
  const src = (file: string) => fileURLToPath(new URL(`../../src/${file}`, import.meta.url));
  await build({
    config: false,
    entry: { index: src('index.ts'), 'sqlite-worker': src('sqlite-worker.ts') },
    outDir: dirname(CHILD_STORE_MODULE),
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    external: ['@kontiki/core', 'better-sqlite3'],
    dts: false,
    sourcemap: false,
    clean: true,
    silent: true,
  });
}
