import { defineConfig } from 'tsup';

export default defineConfig({
  // The worker's entry is built next to index.js: the store starts it from
  // new URL('./sqlite-worker.js', import.meta.url).
  entry: ['src/index.ts', 'src/sqlite-worker.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
});
