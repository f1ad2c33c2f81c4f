import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import { SERVER_SCRIPT } from './server-build.js';

/**
 * Vitest global setup: builds the kv-server process entry from `src` for the tests' child
 * processes (they run plain JS, without a TS loader), without touching `dist`.
 */
export default async function setup(): Promise<void> {
  await build({
    config: false,
    entry: { main: fileURLToPath(new URL('../../src/main.ts', import.meta.url)) },
    outDir: dirname(SERVER_SCRIPT),
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    external: [/^@kontiki\//],
    dts: false,
    sourcemap: true,
    clean: true,
    silent: true,
  });
}
