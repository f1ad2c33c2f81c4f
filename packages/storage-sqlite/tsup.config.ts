import { defineConfig } from 'tsup';

export default defineConfig({
  // The worker's entry is built next to index.js: the store starts it from
  // new URL('./sqlite-worker.js', import.meta.url).
  entry: ['src/index.ts', 'src/sqlite-worker.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  // Maps point into src/ without embedding it: a stack trace keeps its file and line, and the
  // tarball does not ship every source twice.
  sourcemap: true,
  esbuildOptions(options) {
    options.sourcesContent = false;
  },
  clean: true,
  target: 'node20',
});
