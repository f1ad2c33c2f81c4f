import { defineConfig } from 'tsup';

export default defineConfig({
  entry: [
    'src/index.ts',
    'src/sim-cli.ts',
    'src/conformance/*.ts',
    'src/bench/*.ts',
    'src/transport-tools/index.ts',
    'src/fuzz/index.ts',
  ],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['vitest'],
});
