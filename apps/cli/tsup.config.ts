import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';

export default defineConfig({
  // `kv-server.js` is the server that `kontiki cluster start` and `kontiki demo` run as
  // child processes.
  entry: { bin: 'src/bin.ts', 'kv-server': 'src/kv-server.ts' },
  format: ['esm'],
  dts: false,
  // Maps point into src/ without embedding it: a stack trace keeps its file and line, and the
  // tarball does not ship every source twice.
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  banner: { js: '#!/usr/bin/env node' },
  // @kontiki/kv-server is private: its code is bundled in, from source (so the CLI never
  // ships a stale copy); the public packages it uses stay dependencies of the CLI.
  noExternal: ['@kontiki/kv-server'],
  // `kontiki --version`.
  define: {
    KONTIKI_CLI_VERSION: JSON.stringify(
      JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')).version,
    ),
  },
  esbuildOptions(options) {
    options.sourcesContent = false;
    options.alias = {
      '@kontiki/kv-server': fileURLToPath(new URL('../kv-server/src/index.ts', import.meta.url)),
    };
  },
});
