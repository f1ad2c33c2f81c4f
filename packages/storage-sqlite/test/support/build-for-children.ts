import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import { CHILD_STORE_MODULE } from './child-build.js';

/**
 * Vitest global setup: builds `src` to plain JS for the crash test's child processes, from
 * the current sources (never a stale `dist`), without touching `dist`.
 */
export default async function setup(): Promise<void> {
  await build({
    config: false,
    entry: { index: fileURLToPath(new URL('../../src/index.ts', import.meta.url)) },
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
