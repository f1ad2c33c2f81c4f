import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The CLI's `bin.js`, built by the setup with the package's own tsup config. */
    cliBin: string;
  }
}

/**
 * Vitest global setup: builds the CLI (`bin.js` and the bundled `kv-server.js`) from the
 * current sources with the package's own tsup config, so the tests run what `pnpm start`
 * runs, never a stale build. Into a directory of this run's own, not `dist`: two runs at
 * once never replace each other's build.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const outDir = `${root}node_modules/.cache/kontiki-cli-test-build/${process.pid}`;
  const cwd = process.cwd();
  process.chdir(root);
  try {
    await build({ outDir, silent: true });
  } finally {
    process.chdir(cwd);
  }
  project.provide('cliBin', `${outDir}/bin.js`);
  return () => rmSync(outDir, { recursive: true, force: true });
}
