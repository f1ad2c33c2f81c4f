import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

/**
 * Vitest global setup: builds the CLI (`dist/bin.js` and the bundled `dist/kv-server.js`)
 * from the current sources with the package's own tsup config, so that the tests run
 * exactly what `pnpm start` and a user run, never a stale build.
 */
export default async function setup(): Promise<void> {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const cwd = process.cwd();
  process.chdir(root);
  try {
    await build({ silent: true });
  } finally {
    process.chdir(cwd);
  }
}
